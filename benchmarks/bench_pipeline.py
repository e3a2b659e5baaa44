"""CPU cost of `curate run` against its floor, bare `tokenizers.encode_batch_fast`, same texts.

    python benchmarks/bench_pipeline.py [--mb 200] [--modes multi_processing] [--no-scoring]
        [--no-dedup-run] [--rounds 3]

Builds (once) a corpus of real text from this machine (pipelines.demo_data: licences,
changelogs, man pages, Python docs and sources), trains one BPE tokenizer on a sample that both
sides then use (given to curate as `tokenizer.path`), and in one run measures, back to back:
- bare: `Tokenizer.encode_batch_fast` over all texts already in memory (Rust threads, all cores),
  CPU seconds of the process (every thread), in a fresh process (`fresh_bare`);
- curate: the whole job with scoring and dedup off (read gzip JSONL, normalize, spill,
  tokenize, global shuffle, shards, manifest; statistics, validation and report off) as
  `curate run` in a subprocess, per local runner mode: CPU seconds (user + sys) of the process
  tree (driver + Beam workers), from `getrusage(RUSAGE_CHILDREN)` around the subprocess;
- curate with dedup (unless `--no-dedup-run`): the same job with exact and near dedup on at
  their defaults (near: `verify: exact`); the bare side is the same number (it tokenizes the
  whole input either way), so the ratio says what dedup adds to the pipeline's cost;
- beside it (unless `--no-scoring`): the same job with the default quality scorers on (dedup
  off), so the cost of scoring is read apart from the pipeline's own.
The headlines are CPU(bare) / CPU(curate), without and with dedup: 1.0 means curation costs no
more than tokenizing.
`--rounds N` repeats the bare side and the curate runs in turn (bare, runs, bare, runs, ...,
bare; scoring in the first round only): each run is compared with the mean of the two bare
measurements around it, and the median over the rounds is the headline, because on a shared or
virtual machine the same work costs a different number of CPU seconds from minute to minute.
Beside it, drift-free, the in-run ratio: the run's own `tokenizer_cpu` (stats.json
`worker_seconds`: CPU seconds of every thread of each process while curate's tokenizer encodes
and builds its ids lists, the bare side's work on the same texts at the same moments) over the
run's CPU; it counts the documents a run tokenizes (dedup removes some before stage 2).
Wall seconds and the peak RSS of the tree (sampled every 0.1 s) are printed too; `--json`
writes the numbers. CPU seconds, not wall: a shared machine makes wall times noisy.
"""

from __future__ import annotations

import argparse
import glob
import gzip
import json
import os
import resource
import statistics
import subprocess
import sys
import threading
import time

import psutil
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
WORK = os.path.join(HERE, "_work")


def ensure_corpus(mb: int) -> str:
    folder = os.path.join(WORK, f"corpus{mb}")
    if not os.path.exists(os.path.join(folder, ".complete")):
        from pipelines.demo_data import build_corpus

        build_corpus(folder, max_bytes=mb << 20)
        open(os.path.join(folder, ".complete"), "w").close()
    return folder


def ensure_repeated(folder: str, repeat: int) -> str:
    """`repeat` variants of the corpus (each copy's text tagged, so exact dedup keeps them all)."""
    if repeat <= 1:
        return folder
    out = f"{folder}x{repeat}"
    if not os.path.exists(os.path.join(out, ".complete")):
        os.makedirs(out, exist_ok=True)
        for r in range(repeat):
            for path in sorted(glob.glob(f"{folder}/*.jsonl.gz")):
                name = os.path.join(out, f"r{r}-{os.path.basename(path)}")
                with gzip.open(path) as src, gzip.open(name, "wb", compresslevel=1) as dst:
                    for line in src:
                        doc = json.loads(line)
                        doc["id"], doc["text"] = f"r{r}/{doc['id']}", f"[copy {r}]\n{doc['text']}"
                        dst.write(json.dumps(doc).encode() + b"\n")
        open(os.path.join(out, ".complete"), "w").close()
    return out


def load_texts(folder: str) -> list[str]:
    return [
        json.loads(line)["text"]
        for p in sorted(glob.glob(f"{folder}/*.jsonl.gz"))
        for line in gzip.open(p)
    ]


def ensure_tokenizer(texts: list[str]) -> str:
    path = os.path.join(WORK, "tokenizer", "tokenizer.json")
    if not os.path.exists(path):
        from transforms.stages.tokenize import save_tokenizer, train_bpe

        tok = train_bpe(texts[::7][:3000], 8192, ["<|endoftext|>", "<|pad|>"])
        save_tokenizer(tok, path, "<|endoftext|>", "<|pad|>")
    return path


def bare_tokenizer(texts: list[str], tok_path: str, batch: int = 512) -> tuple[float, float]:
    """(wall seconds, CPU seconds of all threads) to encode every text."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(tok_path)
    t0, c0 = time.perf_counter(), time.process_time()
    n = 0
    for i in range(0, len(texts), batch):
        n += sum(
            len(e.ids)
            for e in tok.encode_batch_fast(texts[i : i + batch], add_special_tokens=False)
        )
    return time.perf_counter() - t0, time.process_time() - c0


def fresh_bare(folder: str, tok_path: str) -> tuple[float, float]:
    """`bare_tokenizer` in a new process, as `curate run` is one: encoding again in one process
    cost more CPU each time here (91 then 115 CPU-s, 99 to 125 over four calls), while fresh
    processes measured 73-83 within the same half hour."""
    out = subprocess.run(
        [sys.executable, __file__, "--bare-once", folder, tok_path],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    seconds, cpu = json.loads(out.strip().splitlines()[-1])
    return seconds, cpu


class TreeRss:
    """Peak of the summed RSS of a process and its descendants, and their CPU seconds."""

    def __init__(self, pid: int) -> None:
        self.proc, self.peak, self._stop = psutil.Process(pid), 0, False
        self.cpu: dict[int, float] = {}
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while not self._stop:
            try:
                procs = [self.proc, *self.proc.children(recursive=True)]
                self.peak = max(
                    self.peak, sum(p.memory_info().rss for p in procs if p.is_running())
                )
                for p in procs:
                    t = p.cpu_times()
                    self.cpu[p.pid] = max(self.cpu.get(p.pid, 0.0), t.user + t.system)
            except psutil.Error:
                pass
            time.sleep(0.1)

    def stop(self) -> int:
        self._stop = True
        self._t.join()
        return self.peak


def run_curate(
    folder: str, tok_path: str, mode: str, workers: int, extra: dict | None = None, tag: str = ""
) -> tuple[float, int, float, dict]:
    """Runs `curate run` in a subprocess; returns (wall s, peak tree RSS, tree CPU s, manifest)."""
    out = os.path.join(WORK, f"out-{mode}{tag}")
    cfg = {
        "run": {
            "name": f"bench-{mode}",
            "output": out,
            "workers": workers,
            "running_mode": mode,
            "progress": False,
        },
        "input": {
            "sources": [{"name": "corpus", "paths": [f"{folder}/*.jsonl.gz"]}],
            "max_doc_bytes": 10_000_000,
        },
        "tokenizer": {"path": tok_path},
        "shards": {"rows_per_shard": 5000},
        # The measured path: read, normalize, spill, tokenize, shuffle, shards, manifest.
        "quality": {"enabled": False},
        "dedup": {
            "exact": {"enabled": False},
            "near": {"enabled": False},
            "boilerplate": {"enabled": False},
        },
        "stats": {"enabled": False},
        "validation": {"enabled": False},
        "report": {"enabled": False},
        **(extra or {}),
    }
    cfg_path = os.path.join(WORK, f"bench-{mode}{tag}.yaml")
    with open(cfg_path, "w") as fh:
        yaml.safe_dump(cfg, fh)
    t0 = time.perf_counter()
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", "run", "--config", cfg_path],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    rss = TreeRss(proc.pid)
    output, _ = proc.communicate()
    seconds = time.perf_counter() - t0
    peak = rss.stop()
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    # Every process of the tree is waited for by its parent (Beam waits for its workers), so
    # RUSAGE_CHILDREN holds them all; the sampled sum is a lower bound kept as a check.
    cpu = max(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime, sum(rss.cpu.values()))
    if proc.returncode == 0:  # the runner mode `auto` chose, as the run logged it
        print(*(ln for ln in output.splitlines() if "local runner:" in ln), sep="\n")
    if proc.returncode != 0:
        raise SystemExit(f"curate run failed ({proc.returncode}):\n{output[-3000:]}")
    with open(os.path.join(out, "manifest.json")) as fh:
        return seconds, peak, cpu, json.load(fh)


def _worker_seconds(out: str) -> dict:
    with open(os.path.join(out, "stats.json")) as fh:
        return json.load(fh)["worker_seconds"]


def _curate_numbers(mode, mb, bare_cpu, seconds, peak, cpu, manifest) -> dict:
    return {
        "seconds": round(seconds, 2),
        "mb_s": round(mb / seconds, 2),
        "peak_rss_gb": round(peak / 2**30, 2),
        "read": manifest["accounting"]["read"],
        "written": manifest["accounting"]["written"],
        "cpu_seconds": round(cpu, 1),
        "cpu_ratio_bare_to_curate": round(bare_cpu / cpu, 3),
        "pipeline_s": manifest["timings"]["pipeline_s"],
        "worker_seconds": _worker_seconds(manifest["_out"]),
        # Drift-free: the tokenizer's CPU inside the same run (`tokenizer_cpu`, every thread
        # of each process while it encodes) over the run's whole CPU.
        "in_run_ratio": round(_worker_seconds(manifest["_out"]).get("tokenizer_cpu", 0.0) / cpu, 3),
    }


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--bare-once":  # `fresh_bare`'s child
        print(json.dumps(bare_tokenizer(load_texts(sys.argv[2]), sys.argv[3])))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=200)
    # auto: what `curate run` picks by itself (run.workers unset); the others forced.
    ap.add_argument("--modes", default="auto,multi_processing")
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    ap.add_argument(
        "--repeat", type=int, default=1, help="corpus variants (to test memory at larger sizes)"
    )
    ap.add_argument("--no-scoring", action="store_true", help="skip the run with scoring on")
    ap.add_argument(
        "--no-dedup-run", action="store_true", help="skip the run with exact + near dedup on"
    )
    ap.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="interleaved rounds: bare, the curate runs, bare, ... (each run's ratio against the"
        " mean of the bare measurements just before and after it); the median ratio is the headline",
    )
    ap.add_argument("--json")
    args = ap.parse_args()
    folder = ensure_repeated(ensure_corpus(args.mb), args.repeat)
    texts = load_texts(folder)
    mb = sum(len(t.encode()) for t in texts) / 1e6
    tok_path = ensure_tokenizer(texts)
    n_docs = len(texts)
    del texts
    bare_s, bare_cpu = fresh_bare(folder, tok_path)
    bares = [bare_cpu]
    results = {
        "corpus_mb": round(mb, 1),
        "docs": n_docs,
        "cores": os.cpu_count(),
        "bare_tokenizer": {
            "seconds": round(bare_s, 2),
            "cpu_seconds": round(bare_cpu, 1),
            "mb_s": round(mb / bare_s, 2),
            "rounds_cpu_seconds": bares,
        },
        "curate": {},
        "curate_with_dedup": {},
        "curate_with_scoring": {},
    }
    print(f"corpus: {mb:.1f} MB of text, {results['docs']} documents, {os.cpu_count()} cores")
    print(f"bare tokenizers encode_batch_fast: {bare_cpu:.1f} CPU-s ({bare_s:.1f}s wall)")
    scoring = {"quality": {"enabled": True}}
    # Exact + near dedup at their defaults (near's `verify: exact`); boilerplate stays off.
    dedup = {
        "dedup": {
            "exact": {"enabled": True},
            "near": {"enabled": True},
            "boilerplate": {"enabled": False},
        }
    }
    # On a shared or virtual machine the same CPU work costs a different number of CPU seconds
    # from one minute to the next (the bare side alone measured 72.7 to 115.3 CPU-s within half
    # an hour on one VM), so with --rounds every curate run is compared with the bare runs that
    # bracket it, and the median over rounds is the headline.
    pending = []  # this round's numbers, awaiting the bare measurement after them
    for rnd in range(args.rounds):
        for mode in args.modes.split(","):
            runs = (
                [("curate", None, "")]
                + ([] if args.no_dedup_run else [("curate_with_dedup", dedup, "-dedup")])
                + ([] if args.no_scoring or rnd else [("curate_with_scoring", scoring, "-scored")])
            )
            for key, extra, tag in runs:
                workers = 0 if mode == "auto" else args.workers
                seconds, peak, cpu, manifest = run_curate(
                    folder, tok_path, mode, workers, extra, tag
                )
                manifest["_out"] = os.path.join(WORK, f"out-{mode}{tag}")
                r = _curate_numbers(mode, mb, bares[-1], seconds, peak, cpu, manifest)
                results[key].setdefault(mode, {"rounds": []})["rounds"].append(r)
                pending.append(r)
                print(
                    f"round {rnd + 1} {key} [{mode}, {workers or 'auto'} workers]: {cpu:.1f} CPU-s,"
                    f" CPU(bare before)/CPU(curate) = {r['cpu_ratio_bare_to_curate']:.3f},"
                    f" in-run CPU(tokenizer)/CPU(curate) = {r['in_run_ratio']:.3f}  "
                    f"({seconds:.1f}s wall, pipeline phase {r['pipeline_s']}s, "
                    f"peak RSS {r['peak_rss_gb']:.2f} GB, stage wall-s {r['worker_seconds']})",
                    flush=True,
                )
        if args.rounds > 1:
            _, after = fresh_bare(folder, tok_path)
            bares.append(round(after, 1))
            print(f"bare tokenizers encode_batch_fast: {after:.1f} CPU-s", flush=True)
            for r in pending:
                ref = (bares[-2] + bares[-1]) / 2
                r["bare_cpu_bracket"] = round(ref, 1)
                r["cpu_ratio_bare_to_curate"] = round(ref / r["cpu_seconds"], 3)
            pending = []
    for key in ("curate", "curate_with_dedup", "curate_with_scoring"):
        for mode, entry in results[key].items():
            ratios = sorted(r["cpu_ratio_bare_to_curate"] for r in entry["rounds"])
            entry.update(entry["rounds"][-1])  # the last round's numbers, as before
            entry["cpu_ratio_bare_to_curate"] = round(float(statistics.median(ratios)), 3)
            entry["ratios"] = ratios
            in_run = sorted(r["in_run_ratio"] for r in entry["rounds"])
            entry["in_run_ratio"] = round(float(statistics.median(in_run)), 3)
            entry["in_run_ratios"] = in_run
            print(
                f"{key} [{mode}]: CPU(bare)/CPU(curate) median {entry['cpu_ratio_bare_to_curate']:.3f}"
                f" over {len(ratios)} round(s) (each against its bracketing bare runs): {ratios};"
                f" in-run CPU(tokenizer)/CPU(curate) median {entry['in_run_ratio']:.3f}: {in_run}"
            )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)


if __name__ == "__main__":
    main()
