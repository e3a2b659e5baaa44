"""Scale: peak memory and the largest element any step holds, against corpus size (issue 9).

    python benchmarks/bench_scale.py --code /work/wt-before --sizes 100000,400000 --label before
    python benchmarks/bench_scale.py --code /work/wt-after --sizes 100000,400000 --label after
    python benchmarks/bench_scale.py --summarize            # the table and per-million slopes
    python benchmarks/bench_scale.py --code . --rates 30    # per-core rates for docs/scaling.md

Compares two checkouts of curate (before/after a change) on the same corpora, one run at a time.
Builds synthetic corpora of N short documents (~780 bytes) with KNOWN structure from words of
this machine's own text (licences under /usr/share/common-licenses and installed packages'
metadata): unique documents, exact-duplicate families (5 % of N), near-duplicate chains (10 %,
each document one word edit of the previous), stars (5 %, one-word edge edits of one document)
and one giant family (1.5 % of N edge edits of one template). Each corpus runs through
`python -m pipelines.cli run` of the checkout under test (default config with quality scoring
off, because it would judge word salad: exact + near dedup, boilerplate, release Bloom filter,
a BPE trained on a sample, `sampling.mode: all`, shards, stats, validation, report;
`run.running_mode: auto`) in a child process that only adds a hook keeping Beam's result.
Reported per run, appended to WORK/results.jsonl:

- peak RSS of the whole process tree and of its largest process (psutil every 0.2 s), wall time,
  CPU time of the tree; a run whose tree passes `--max-rss-gb` is stopped (a shared machine must
  not swap) and reported as such;
- the largest element per step from the SDK harness's own sampled element sizes
  (`beam:metric:sampled_byte_size:v1`: the first elements of every bundle are always sampled, so
  a single-element PCollection such as a `ToList` result is always measured), what each side
  input holds (element count x mean size), and the bytes into each GroupByKey per document;
- whether the known structure was found: one survivor per exact family, star and the giant
  family, chains reported (a far end is kept when nothing kept is similar to it), no removal
  outside its group, `read = written + removed`, the manifest's accounting and validation.

Sizes are Beam's coder-encoded bytes (what crosses a shuffle or fills a side input), not Python
object sizes (typically 2-5x larger in memory). Wall time on a loaded machine means little; CPU
seconds, memory and element sizes do not depend on load.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import random
import re
import signal
import subprocess
import sys
import time

WORD = re.compile(r"[A-Za-z][a-z]{2,14}")
DOC_WORDS = (80, 110)  # ~550-800 bytes of text per document
GIANT_FRACTION = 0.015


# ----------------------------------------------------------------------------- corpus


def vocabulary(limit: int = 20000) -> list[str]:
    """Distinct words from licence texts and installed packages' metadata on this machine."""
    paths = sorted(glob.glob("/usr/share/common-licenses/*"))
    site = [p for p in sys.path if p.endswith("site-packages")]
    for root in site[:1]:
        paths += sorted(glob.glob(os.path.join(root, "*.dist-info", "METADATA")))
    words: dict[str, None] = {}
    for path in paths:
        try:
            with open(path, encoding="utf-8", errors="ignore") as fh:
                for w in WORD.findall(fh.read()):
                    words.setdefault(w.lower(), None)
        except (OSError, IsADirectoryError):
            continue
        if len(words) >= limit:
            break
    vocab = sorted(words)
    if len(vocab) < 2000:
        raise SystemExit(f"only {len(vocab)} distinct words found on this machine")
    return vocab


class Corpus:
    """Generates documents and remembers the ground truth of every duplicate group."""

    def __init__(self, n: int, seed: int, vocab: list[str]) -> None:
        self.n, self.rng, self.vocab = n, random.Random(seed), vocab
        self.docs: list[str] = []
        self._seen: set[int] = set()  # hashes of texts of groups that must not collide exactly
        # group kind -> list of groups; a group is the list of doc indices (first = seed doc)
        self.groups: dict[str, list[list[int]]] = {
            "exact": [],
            "chain": [],
            "star": [],
            "giant": [],
        }

    def _words(self) -> list[str]:
        return self.rng.choices(self.vocab, k=self.rng.randint(*DOC_WORDS))

    def _edit(self, words: list[str]) -> list[str]:
        """One word replaced at a random position: 5 of ~90 word-5-grams change (Jaccard ~0.9)."""
        out = list(words)
        out[self.rng.randrange(len(out))] = self.rng.choice(self.vocab)
        return out

    def _both_ends_edit(self, words: list[str]) -> list[str]:
        """The first and the last word replaced: two word-5-grams change (Jaccard > 0.9)."""
        out = list(words)
        out[0], out[-1] = self.rng.choice(self.vocab), self.rng.choice(self.vocab)
        return out

    def _edge_edit(self, words: list[str]) -> list[str]:
        """The first or the last word replaced: one word-5-gram changes.

        Two such copies of one document stay above Jaccard 0.95 with each other, so every copy in
        a star or the giant family is a near duplicate of every other, and dedup (which removes a
        document only if it is similar to a kept better-ranked one) must keep exactly one.
        """
        out = list(words)
        out[self.rng.choice((0, -1))] = self.rng.choice(self.vocab)
        return out

    def _text(self, words: list[str]) -> str:
        return " ".join(words).capitalize() + "."

    def _add(self, words: list[str]) -> int:
        self.docs.append(self._text(words))
        self._seen.add(hash(self.docs[-1]))
        return len(self.docs) - 1

    def _add_new(self, make, again=None) -> int:
        """Adds `make()`'s words, drawing again when the text already exists (an edit can undo
        itself or repeat a sibling's), so exact families are only the ones built as such.

        After 20 collisions in a row `again()` draws instead: one-word edge edits of one template
        have only 2 x vocabulary distinct results, fewer than the giant family needs at 1.6M.
        """
        for attempt in range(1_000_000):
            words = make() if again is None or attempt < 20 else again()
            if hash(self._text(words)) not in self._seen:
                return self._add(words)
        raise RuntimeError("no new document after a million draws")

    def build(self) -> None:
        n, rng = self.n, self.rng
        giant = [self._add(self._words())]
        template = self.docs[giant[0]][:-1].lower().split()
        while len(giant) < max(2, int(GIANT_FRACTION * n)):
            giant.append(
                self._add_new(
                    lambda: self._edge_edit(template), lambda: self._both_ends_edit(template)
                )
            )
        self.groups["giant"].append(giant)
        for kind, share in (("exact", 0.05), ("chain", 0.10), ("star", 0.05)):
            budget = int(share * n)
            while budget > 1:
                size = min(
                    budget,
                    {
                        "exact": rng.randint(2, 6),
                        "chain": rng.randint(2, 20),
                        "star": rng.randint(10, 200),
                    }[kind],
                )
                if size < 2:
                    break
                words = self._words()
                group = [self._add(words)]
                for _ in range(size - 1):
                    if kind == "exact":
                        group.append(self._add(words))
                    elif kind == "chain":
                        idx = self._add_new(lambda w=words: self._edit(w))
                        words = self.docs[idx][:-1].lower().split()
                        group.append(idx)
                    else:
                        group.append(
                            self._add_new(
                                lambda w=words: self._edge_edit(w),
                                lambda w=words: self._both_ends_edit(w),
                            )
                        )
                self.groups[kind].append(group)
                budget -= size
        while len(self.docs) < n:
            self._add(self._words())

    def expected(self) -> dict:
        g = self.groups
        return {
            "documents": len(self.docs),
            "exact_removed": sum(len(x) - 1 for x in g["exact"]),
            "near_removed": sum(len(x) - 1 for k in ("chain", "star", "giant") for x in g[k]),
            "groups": {k: len(v) for k, v in g.items()},
            "group_docs": {k: sum(map(len, v)) for k, v in g.items()},
            "giant_size": len(g["giant"][0]),
        }

    def write(self, folder: str, files: int = 8) -> tuple[list[str], dict[str, tuple[str, int]]]:
        """Shuffled JSONL files; returns ids in index order and id -> (kind, group number)."""
        os.makedirs(folder, exist_ok=True)
        order = list(range(len(self.docs)))
        self.rng.shuffle(order)
        ids = [f"d{i:09d}" for i in range(len(self.docs))]
        with contextlib.ExitStack() as stack:
            outs = [
                stack.enter_context(open(os.path.join(folder, f"part-{k:02d}.jsonl"), "w"))
                for k in range(files)
            ]
            for rank, idx in enumerate(order):
                line = json.dumps({"id": ids[idx], "text": self.docs[idx]})
                outs[rank % files].write(line + "\n")
        membership = {}
        for kind, groups in self.groups.items():
            for gi, group in enumerate(groups):
                for idx in group:
                    membership[ids[idx]] = (kind, gi)
        return ids, membership


def ensure_corpus(work: str, n: int, seed: int) -> tuple[str, dict, dict]:
    folder = os.path.join(work, f"corpus-{n}")
    truth_path = os.path.join(folder, "truth.json")
    if not os.path.exists(truth_path):
        t0 = time.time()
        corpus = Corpus(n, seed, vocabulary())
        corpus.build()
        _, membership = corpus.write(folder)
        with open(truth_path, "w") as fh:
            json.dump({"expected": corpus.expected(), "membership": membership}, fh)
        print(f"built {n:,} documents in {time.time() - t0:.0f}s -> {folder}", flush=True)
    with open(truth_path) as fh:
        truth = json.load(fh)
    return folder, truth["expected"], truth["membership"]


# ----------------------------------------------------------------------------- child: the run

CHILD = r"""
import json, sys
import apache_beam as beam
from apache_beam.runners.portability.fn_api_runner import fn_runner
captured = {}
_orig_run = fn_runner.FnApiRunner.run_via_runner_api
def _run(self, pipeline_proto, options):
    captured["proto"] = pipeline_proto
    result = _orig_run(self, pipeline_proto, options)
    captured["result"] = result
    return result
fn_runner.FnApiRunner.run_via_runner_api = _run
from pipelines.cli import main
rc = 1
try:
    rc = main(["run", "--config", sys.argv[1]])
finally:
    from apache_beam.metrics import monitoring_infos as mi
    from apache_beam.portability.api import beam_runner_api_pb2
    out = {"pcollections": {}, "side_inputs": [], "shuffles": [], "rc": rc}
    proto, result = captured.get("proto"), captured.get("result")
    if proto is not None:
        comps = proto.components
        producers = {}
        # GroupByKeys inside a CombinePerKey are lifted by the runner: only accumulators move.
        lifted, todo = set(), [
            tid for tid, t in comps.transforms.items()
            if t.spec.urn == "beam:transform:combine_per_key:v1"
        ]
        while todo:
            tid = todo.pop()
            lifted.add(tid)
            todo.extend(comps.transforms[tid].subtransforms)
        for tid, t in comps.transforms.items():
            for pc in t.outputs.values():
                if not t.subtransforms:
                    producers[pc] = t.unique_name
            if t.spec.urn == "beam:transform:group_by_key:v1" and tid not in lifted:
                out["shuffles"].extend(t.inputs.values())
            if t.spec.urn == "beam:transform:pardo:v1":
                payload = beam_runner_api_pb2.ParDoPayload.FromString(t.spec.payload)
                for tag in payload.side_inputs:
                    out["side_inputs"].append([t.unique_name, t.inputs[tag]])
        names = {pid: producers.get(pid, pc.unique_name) for pid, pc in comps.pcollections.items()}
        out["names"] = names
    if result is not None:
        for info in result.monitoring_infos():
            pc = info.labels.get("PCOLLECTION")
            if not pc:
                continue
            entry = out["pcollections"].setdefault(pc, {"count": 0, "sum": 0, "sampled": 0, "max": 0})
            if info.urn == mi.SAMPLED_BYTE_SIZE_URN:
                count, total, _min, mx = mi.extract_distribution(info)
                entry["sum"] += total; entry["sampled"] += count
                entry["max"] = max(entry["max"], mx)
            elif info.urn == mi.ELEMENT_COUNT_URN:
                entry["count"] += mi.extract_counter_value(info)
    with open(sys.argv[2], "w") as fh:
        json.dump(out, fh)
sys.exit(rc)
"""


def _tree(proc):
    try:
        return [proc, *proc.children(recursive=True)]
    except Exception:  # noqa: BLE001 - the process may be gone between two polls
        return [proc]


def run_measured(
    code: str, config_path: str, metrics_path: str, log_path: str, timeout: float, max_rss: float
):
    """Runs the child; returns (rc, wall s, cpu s, peak tree RSS, peak one-process RSS, stopped).

    The largest single process is what one worker needs (multi_processing: the driver process
    and one SDK worker process per core; in_memory: everything is one process).
    """
    import resource

    import psutil

    env = dict(os.environ, PYTHONPATH=code, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.time()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, config_path, metrics_path],
            cwd=code,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        ps, peak, peak_one, timed_out = psutil.Process(proc.pid), 0, 0, False
        cpu_seen: dict[int, float] = {}  # last CPU seconds seen per process of the tree
        while proc.poll() is None:
            rss = 0
            for p in _tree(ps):
                with contextlib.suppress(psutil.Error):
                    one = p.memory_info().rss
                    rss += one
                    peak_one = max(peak_one, one)
                    times = p.cpu_times()
                    cpu_seen[p.pid] = times.user + times.system
            peak = max(peak, rss)
            if time.time() - t0 > timeout or rss > max_rss:
                timed_out = "time" if time.time() - t0 > timeout else "rss"
                os.killpg(proc.pid, signal.SIGKILL)  # our own child's session, nothing else
                proc.wait()
                break
            time.sleep(0.2)
    wall = time.time() - t0
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    # rusage counts only descendants that were waited for; the polled sum also sees worker
    # processes that are killed rather than reaped (it misses at most 0.2 s of each).
    cpu = max(ru.ru_utime + ru.ru_stime - ru0.ru_utime - ru0.ru_stime, sum(cpu_seen.values()))
    return proc.returncode, wall, cpu, peak, peak_one, timed_out


def write_config(
    path: str, corpus: str, output: str, running_mode: str, extra: dict | None = None
) -> None:
    cfg = {
        "run": {"name": "scale", "output": output, "seed": 7, "running_mode": running_mode},
        "input": {"sources": [{"name": "synth", "paths": [os.path.join(corpus, "*.jsonl")]}]},
        "quality": {"enabled": False},
    }
    for section, values in (extra or {}).items():
        cfg.setdefault(section, {}).update(values)
    with open(path, "w") as fh:
        json.dump(cfg, fh)  # JSON is YAML


# ----------------------------------------------------------------------------- checks


def check_structure(output: str, expected: dict, membership: dict) -> dict:
    """Compares the removals with the known groups; returns counts per kind of group.

    Exact families, stars and the giant family must each end with exactly one survivor. A chain's
    far ends are not near duplicates of each other (each step is a fresh edit), and dedup keeps a
    document unless it is similar to an already kept one, so a chain may keep a few documents:
    its count is reported, not required. No removal may point outside its own group.
    """
    removed_by_stage: dict[str, int] = {}
    removed: dict[str, str] = {}
    for path in glob.glob(os.path.join(output, "removed", "*.jsonl*")):
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                r = json.loads(line)
                removed_by_stage[r["stage"]] = removed_by_stage.get(r["stage"], 0) + 1
                removed[r["id"]] = r["kept_id"]
    members: dict[tuple, list[str]] = {}
    for doc_id, group in membership.items():
        members.setdefault(tuple(group), []).append(doc_id)
    kinds: dict[str, dict] = {}
    for (kind, _), ids in members.items():
        k = kinds.setdefault(
            kind,
            {
                "groups": 0,
                "docs": 0,
                "removed": 0,
                "survivors": 0,
                "groups_not_one": 0,
                "misattributed": 0,
            },
        )
        gone = [i for i in ids if i in removed]
        k["groups"] += 1
        k["docs"] += len(ids)
        k["removed"] += len(gone)
        k["survivors"] += len(ids) - len(gone)
        k["groups_not_one"] += len(ids) - len(gone) != 1
        k["misattributed"] += sum(1 for i in gone if removed[i] not in ids)
    outside = sum(1 for i in removed if i not in membership)
    with open(os.path.join(output, "manifest.json")) as fh:
        manifest = json.load(fh)
    with open(os.path.join(output, "stats.json")) as fh:
        stats = json.load(fh)
    acc = manifest["accounting"]
    ok = (
        outside == 0
        and all(k["misattributed"] == 0 for k in kinds.values())
        and all(kinds[x]["groups_not_one"] == 0 for x in ("exact", "star", "giant") if x in kinds)
        and removed_by_stage.get("exact", 0) == expected["exact_removed"]
        and acc.get("read") == expected["documents"]
        and acc.get("written", 0) + sum(removed_by_stage.values()) == expected["documents"]
        and bool(manifest.get("accounting_ok"))
    )
    return {
        "structure_ok": ok,
        "removed_by_stage": removed_by_stage,
        "kinds": kinds,
        "removed_outside_groups": outside,
        "read": acc.get("read"),
        "written": acc.get("written"),
        "accounting_ok": manifest.get("accounting_ok"),
        "validation": manifest.get("validation", {}).get("success"),
        "worker_seconds": stats.get("worker_seconds", {}),
        "exact_cluster_sizes": stats.get("dedup", {}).get("exact_cluster_sizes"),
        "near_cluster_sizes_max": max(
            map(int, (stats.get("dedup", {}).get("near_cluster_sizes") or {"0": 0})), default=0
        ),
        "shards": len(manifest.get("shards", [])),
        "tokens": stats.get("tokens", {}).get("written"),
    }


def element_report(metrics: dict, top: int = 8) -> dict:
    """The largest element per step (top-level transform), and what each side input holds.

    A combine's result passes through several PCollections (CombineValues, InjectDefault, UnKey):
    one row per top-level step keeps the report readable. PCollections the runner adds itself
    (`pcollection_N`, copies of the same elements between its fused stages) are left out.
    """
    names = metrics.get("names", {})
    pcs = metrics.get("pcollections", {})
    by_step: dict[str, tuple[int, str, int]] = {}
    for pid, v in pcs.items():
        if pid not in names:
            continue
        step = names[pid].split("/")[0]
        if v["max"] > by_step.get(step, (-1,))[0]:
            by_step[step] = (v["max"], names[pid], v["count"])
    rows = sorted(by_step.values(), reverse=True)[:top]
    side = []
    for consumer, pid in metrics.get("side_inputs", []):
        v = pcs.get(pid)
        if v and v["sampled"]:
            held = int(v["count"] * v["sum"] / v["sampled"])
            side.append((held, names.get(pid, pid), consumer, v["count"]))
    side.sort(reverse=True)
    seen: set[str] = set()
    side = [r for r in side if not (r[1].split("/")[0] in seen or seen.add(r[1].split("/")[0]))]
    return {"largest_elements": rows, "side_inputs": side[:top]}


def shuffle_report(metrics: dict, n_docs: int) -> list[tuple[float, str, int]]:
    """Encoded bytes into each GroupByKey, per input document: (bytes/doc, step, elements).

    Measured on the GroupByKey's input (many elements of similar size, so the sampled mean is
    steady); its grouped output can hold a few huge groups that sampling may or may not catch.
    GroupByKeys inside a CombinePerKey are left out: the runner lifts them and moves only the
    (small, bounded) accumulators.
    Metrics written before the inputs were recorded fall back to the outputs, named "Group*".
    """
    names, pcs = metrics.get("names", {}), metrics.get("pcollections", {})
    ids = metrics.get("shuffles") or [
        pid for pid, name in names.items() if name.rsplit("/", 1)[-1].startswith("Group")
    ]
    rows = []
    for pid in dict.fromkeys(ids):
        v = pcs.get(pid)
        if v and v["sampled"]:
            total = v["count"] * v["sum"] / v["sampled"]
            rows.append((round(total / n_docs, 1), names.get(pid, pid), v["count"]))
    return sorted(rows, reverse=True)


RATES_CHILD = r"""
import json, os, sys, time
sys.path.insert(0, os.getcwd())
from pipelines.config import NormalizeConfig, SourceConfig
from transforms.dedup.config import DedupConfig
from transforms.dedup.features import DedupFeaturizer
from transforms.infra.hashing import content_key
from transforms.stages.normalize import Normalizer
from transforms.stages.readers import plan_read_tasks, read_task
from transforms.infra.record import Record
from transforms.stages.tokenize import BatchEncoder, train_bpe

def cpu(fn):
    t0 = time.process_time(); out = fn(); return out, time.process_time() - t0

result = {}
for name, path in json.loads(sys.argv[1]).items():
    tasks = plan_read_tasks([SourceConfig(name, [path])], 64 << 20, 64_000_000)
    norm = Normalizer.from_config(NormalizeConfig())
    texts, t_read = cpu(lambda: [norm(r.text) for t in tasks for r in read_task(t)
                                 if isinstance(r, Record)])
    mb = sum(len(t.encode("utf-8", "surrogatepass")) for t in texts) / 1e6
    _, t_key = cpu(lambda: [content_key(t) for t in texts])
    feat = DedupFeaturizer(DedupConfig(), 7)
    _, t_feat = cpu(lambda: [f for i in range(0, len(texts), 1000)
                             for f in feat.featurize(texts[i:i + 1000])])
    tok = train_bpe(texts[:2000], 8192, ["<|endoftext|>", "<|pad|>"])
    enc = BatchEncoder(tok.to_str(), 0)
    ids, t_tok = cpu(lambda: [a for i in range(0, len(texts), 512)
                              for a in enc.encode(texts[i:i + 512])])
    n = len(texts)
    # Shard writing as the shard writer does it (Arrow IPC stream, fsync, sha256), and the
    # statistics accumulators it feeds with every row, when this checkout has them.
    import hashlib, tempfile
    import pyarrow as pa
    table = pa.table({
        "id": [str(i) for i in range(n)], "source": ["s"] * n,
        "input_ids": pa.array(ids, pa.list_(pa.int32())),
        "n_tokens": pa.array([len(a) for a in ids], pa.int32()), "text": texts,
    })
    def write():
        with tempfile.NamedTemporaryFile(dir=os.environ.get("TMPDIR", "/tmp")) as fh:
            with pa.ipc.new_stream(fh, table.schema) as w:
                w.write_table(table, max_chunksize=1024)
            fh.flush(); os.fsync(fh.fileno()); fh.seek(0)
            hashlib.sha256(fh.read()).hexdigest()
    _, t_write = cpu(write)
    t_stats = None
    try:
        from pipelines.config import CurateConfig
        from transforms.stages.corpus_stats import writer_accumulators
        def stats():
            for f in writer_accumulators(CurateConfig(), 8192).values():
                f().add_table(table)
        _, t_stats = cpu(stats)
    except ImportError:
        pass
    result[name] = {
        "docs": n, "mb": round(mb, 2), "bytes_per_doc": round(mb * 1e6 / n),
        "tokens_per_doc": round(sum(map(len, ids)) / n, 1),
        "read_normalize_mb_s": round(mb / t_read, 2),
        "content_key_mb_s": round(mb / t_key, 1),
        "minhash_lines_docs_s": round(n / t_feat), "minhash_lines_mb_s": round(mb / t_feat, 2),
        "tokenize_mb_s": round(mb / t_tok, 2), "tokenize_docs_s": round(n / t_tok),
        "shard_write_mb_s": round(mb / t_write, 1),
        "stats_accumulators_mb_s": round(mb / t_stats, 2) if t_stats else None,
    }
print(json.dumps(result))
"""


def measure_rates(code: str, work: str, synthetic: str, real_mb: int) -> dict:
    """Per-core CPU rates of the per-document stages (process CPU time, one Rust thread)."""
    sys.path.insert(0, code)
    from pipelines.demo_data import iter_documents

    real = os.path.join(work, f"real-{real_mb}mb.jsonl")
    if not os.path.exists(real):
        size = 0
        with open(real + ".tmp", "w") as fh:
            for family in ("docs", "man", "code"):
                budget = size + real_mb * 1e6 / 3
                for doc_id, text in iter_documents(family, seed=3):
                    fh.write(json.dumps({"id": doc_id, "text": text}) + "\n")
                    size += len(text.encode("utf-8", "surrogatepass"))
                    if size >= budget:
                        break
        os.rename(real + ".tmp", real)
    env = dict(os.environ, PYTHONPATH=code, RAYON_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    inputs = {"synthetic": synthetic, "real": real}
    out = subprocess.run(
        [sys.executable, "-c", RATES_CHILD, json.dumps(inputs)],
        cwd=code,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


FIXED_BY_CONFIG = ("ReleaseFilter",)  # the Bloom filter: sized by expected_items, not by N


def summarize(rows: list[dict]) -> str:
    """Markdown table of the runs, and per-million slopes between each label's extreme sizes."""
    out = [
        "| code | N | wall s | CPU s | peak RSS (tree) | largest element | largest element "
        "growing with N | structure |",
        "|---|---|---|---|---|---|---|---|",
    ]
    by_label: dict[str, list[dict]] = {}
    for r in rows:
        largest = (r.get("elements") or {}).get("largest_elements") or []
        grow = [e for e in largest if not e[1].startswith(FIXED_BY_CONFIG)]
        r["_largest"] = largest[0] if largest else None
        r["_grow"] = grow[0] if grow else None
        s = r.get("structure") or {}
        verdict = (
            ("ok" if s.get("structure_ok") else "WRONG")
            if s
            else ("stopped: " + str(r.get("timed_out")) if r.get("timed_out") else f"rc {r['rc']}")
        )
        fmt = lambda e: f"{e[0] / 1e6:.2f} MB `{e[1]}`" if e else "-"  # noqa: E731
        out.append(
            f"| {r['label']} {r['code'].split(':')[0]} | {r['n']:,} | {r['wall_s']:.0f} | "
            f"{r['cpu_s']:.0f} | {r['peak_rss_gb']:.2f} GB | {fmt(r['_largest'])} | "
            f"{fmt(r['_grow'])} | {verdict} |"
        )
        if r["rc"] == 0:
            by_label.setdefault(r["label"], []).append(r)
    out.append("")
    for label, rs in by_label.items():
        rs.sort(key=lambda r: r["n"])
        lo, hi = rs[0], rs[-1]
        if hi["n"] == lo["n"]:
            continue
        dn = (hi["n"] - lo["n"]) / 1e6
        rss = (hi["peak_rss_gb"] - lo["peak_rss_gb"]) / dn
        grow = ((hi["_grow"] or [0])[0] - (lo["_grow"] or [0])[0]) / 1e6 / dn
        out.append(
            f"{label}: per million documents ({lo['n']:,} -> {hi['n']:,}): peak RSS "
            f"{rss:+.2f} GB, largest growing element {grow:+.2f} MB"
        )
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--code", help="checkout under test (PYTHONPATH, cwd); required to run")
    ap.add_argument("--sizes", default="100000,400000,1600000")
    ap.add_argument("--work", default="/tmp/scale_work")
    ap.add_argument("--label", default="run")
    ap.add_argument("--running-mode", default="auto")
    ap.add_argument("--timeout", type=float, default=1500)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--max-rss-gb",
        type=float,
        default=12.0,
        help="stop a run whose process tree passes this (a shared machine must not swap)",
    )
    ap.add_argument(
        "--config-extra",
        default="{}",
        help="JSON merged into the generated config per section, e.g. "
        '\'{"shards": {"write_path": "shuffle"}}\'',
    )
    ap.add_argument("--keep-output", action="store_true")
    ap.add_argument(
        "--rates",
        type=int,
        default=0,
        metavar="MB",
        help="instead: per-core CPU rates of read+normalize, MinHash, tokenize on one file of "
        "the smallest synthetic corpus and on MB of real text from this machine",
    )
    ap.add_argument(
        "--summarize",
        nargs="*",
        metavar="LABEL",
        help="instead: print a Markdown table of WORK/results.jsonl (only these labels if given)",
    )
    args = ap.parse_args()
    if args.summarize is not None:
        with open(os.path.join(args.work, "results.jsonl")) as fh:
            rows = [json.loads(line) for line in fh]
        print(summarize([r for r in rows if not args.summarize or r["label"] in args.summarize]))
        return
    if not args.code:
        ap.error("--code is required (the checkout to measure)")
    os.makedirs(args.work, exist_ok=True)
    code = os.path.abspath(args.code)
    if args.rates:
        n = int(args.sizes.split(",")[0])
        corpus, _, _ = ensure_corpus(args.work, n, args.seed)
        rates = measure_rates(code, args.work, os.path.join(corpus, "part-00.jsonl"), args.rates)
        print(json.dumps(rates, indent=1))
        return
    sha = subprocess.run(
        ["git", "-C", code, "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", code, "diff", "--name-only"], capture_output=True, text=True
    ).stdout.split()
    if dirty:  # measured with uncommitted changes: say which files
        sha += "+local:" + ",".join(dirty)
    for n in [int(s) for s in args.sizes.split(",")]:
        corpus, expected, membership = ensure_corpus(args.work, n, args.seed)
        tag = f"{args.label}-{n}"
        output = os.path.join(args.work, f"out-{tag}")
        cfg_path = os.path.join(args.work, f"config-{tag}.yaml")
        metrics_path = os.path.join(args.work, f"metrics-{tag}.json")
        write_config(cfg_path, corpus, output, args.running_mode, json.loads(args.config_extra))
        input_mb = sum(os.path.getsize(p) for p in glob.glob(f"{corpus}/*.jsonl")) / 1e6
        load0 = os.getloadavg()[0]
        rc, wall, cpu, peak, peak_one, timed_out = run_measured(
            code,
            cfg_path,
            metrics_path,
            os.path.join(args.work, f"log-{tag}.txt"),
            args.timeout,
            args.max_rss_gb * 2**30,
        )
        row = {
            "label": args.label,
            "code": sha,
            "n": n,
            "input_mb": round(input_mb, 1),
            "rc": rc,
            "timed_out": timed_out,
            "wall_s": round(wall, 1),
            "cpu_s": round(cpu, 1),
            "peak_rss_gb": round(peak / 2**30, 3),
            "peak_process_rss_gb": round(peak_one / 2**30, 3),
            "load_start": round(load0, 1),
            "load_end": round(os.getloadavg()[0], 1),
            "expected": expected,
        }
        if os.path.exists(metrics_path):
            with open(metrics_path) as fh:
                metrics = json.load(fh)
            row["elements"] = element_report(metrics)
            row["shuffle_bytes_per_doc"] = shuffle_report(metrics, n)
        if rc == 0:
            row["structure"] = check_structure(output, expected, membership)
        with open(os.path.join(args.work, "results.jsonl"), "a") as fh:
            fh.write(json.dumps(row) + "\n")
        print(json.dumps(row, indent=1), flush=True)
        if rc == 0 and not args.keep_output:
            subprocess.run(["rm", "-rf", output])


if __name__ == "__main__":
    main()
