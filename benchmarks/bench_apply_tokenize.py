"""Stage 2's CPU (apply decisions, boilerplate rewrite, tokenize, write the run), two trees side by
side on the same captured spill runs, with their outputs compared.

    python benchmarks/bench_apply_tokenize.py capture --out /tmp/cap [--config configs/demo.yaml]
    python benchmarks/bench_apply_tokenize.py compare --cap /tmp/cap --before /work/main \
        --after . [--rounds 2]

`capture` runs `curate run` in this process (the demo runs in-process: `run.running_mode: auto`
below `run.auto_process_bytes`) and saves what stage 2's DoFn receives for each spill run: a copy
of the run file, its decisions, the dedup methods' states, the DoFn's `ApplySettings` and the
run's tokenizer (the pipeline deletes its `_tmp` and nothing else keeps these).

`compare` runs `ApplyDecisionsAndTokenize._process_run` over every captured run in a fresh
subprocess per tree (PYTHONPATH = that tree), alternating before/after for `--rounds`, each after
one warm-up pass (the tokenizer load and numpy's lazy tables are once per worker). Per pass:
CPU seconds of the process (every thread: the tokenizer's Rust threads too) and of the main
thread alone (user + sys: the Python side; BPE runs on the tokenizer's threads), the part of the
main thread spent in the encoder (turning ids into arrays) and in `_write` (with its sys share:
the kernel writing the run file, which swings with the machine), and the rest; each figure the
least over the passes, per MB of spill run. The outputs must be identical: a digest of the tokenized run
files' bytes, every tagged output (the random run path blanked) and the tally.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import pickle
import resource
import shutil
import subprocess
import sys
import tempfile
import time


def capture(out: str, config: str) -> None:
    """Runs the pipeline with `config` in-process, saving stage 2's inputs under `out`."""
    from transforms.stages import apply_decisions as ad

    os.makedirs(out, exist_ok=True)
    init, process = ad.ApplyDecisionsAndTokenize.__init__, ad.ApplyDecisionsAndTokenize.process

    def keep_settings(self, settings):
        init(self, settings)
        self._bench_settings = settings

    def saving_process(self, keyed, states=None):
        runs, items = list(keyed[1]["run"]), list(keyed[1]["decisions"])
        for run in runs:
            name = os.path.join(out, f"run{len(glob.glob(os.path.join(out, 'run*.pkl')))}")
            shutil.copy(run.path, name + ".arrow")
            with open(name + ".pkl", "wb") as fh:
                pickle.dump((run._replace(path=name + ".arrow"), items, dict(states or {})), fh)
        tok = os.path.join(out, "tokenizer.json")
        if not os.path.exists(tok):
            shutil.copy(self._bench_settings.encoder._path, tok)
            with open(os.path.join(out, "settings.pkl"), "wb") as fh:
                pickle.dump(self._bench_settings, fh)
        yield from process(self, (keyed[0], {"run": runs, "decisions": items}), states)

    ad.ApplyDecisionsAndTokenize.__init__ = keep_settings
    ad.ApplyDecisionsAndTokenize.process = saving_process
    from pipelines.cli import main

    with tempfile.TemporaryDirectory(prefix="bench_apply_") as tmp:
        code = main(["run", "--config", config, "--output", os.path.join(tmp, "out")])
    if code:
        raise SystemExit(f"curate run failed ({code})")
    print(f"captured {len(glob.glob(os.path.join(out, 'run*.pkl')))} spill runs in {out}")


def _digest(value, h) -> None:
    """Feeds a stable rendering of a yielded value into `h` (tokenized run paths blanked)."""
    from apache_beam.pvalue import TaggedOutput

    from transforms.stages.apply_decisions import TokRun

    if isinstance(value, TaggedOutput):
        h.update(value.tag.encode())
        value = value.value
    if isinstance(value, TokRun):
        with open(value.path, "rb") as fh:
            h.update(hashlib.sha256(fh.read()).digest())
        value = value._replace(path="")
    elif (
        isinstance(value, tuple) and value and isinstance(value[-1], str) and "tokrun-" in value[-1]
    ):
        value = (*value[:-1], "")  # a candidate names its run file
    if hasattr(value, "by_source"):  # the diagnostic pool accumulator (DSIR runs only)
        h.update(pickle.dumps(sorted(value.by_source.items())))
        return
    h.update(repr(value).encode())


def one(cap: str, passes: int) -> dict:
    """Times `_process_run` over the captured runs in this process (this tree's code)."""
    from transforms.stages import apply_decisions as ad

    with open(os.path.join(cap, "settings.pkl"), "rb") as fh:
        settings = pickle.load(fh)
    work = tempfile.mkdtemp(prefix="bench_apply_")
    settings.encoder._path = os.path.join(cap, "tokenizer.json")
    fn = ad.ApplyDecisionsAndTokenize(
        ad.ApplySettings(**{**settings.__dict__, "run_dir": work, "encoder": settings.encoder})
    )
    inputs = []
    for path in sorted(glob.glob(os.path.join(cap, "run*.pkl"))):
        with open(path, "rb") as fh:
            run, items, states = pickle.load(fh)
        inputs.append((run, ad.Decisions.from_items(items), states))
    spent = {"encode": 0.0, "write": 0.0, "write_sys": 0.0}

    def thread_cpu() -> tuple[float, float]:
        usage = resource.getrusage(resource.RUSAGE_THREAD)
        return usage.ru_utime, usage.ru_stime

    def timed(name, f):
        def wrapper(*args):
            user, sys_ = thread_cpu()
            try:
                return f(*args)
            finally:
                user2, sys2 = thread_cpu()
                spent[name] += user2 - user + sys2 - sys_
                if name == "write":
                    spent["write_sys"] += sys2 - sys_

        return wrapper

    fn._encoder.encode = timed("encode", fn._encoder.encode)
    fn._write = timed("write", fn._write)
    results = []
    for i in range(passes + 1):  # pass 0: warm-up
        spent.update(encode=0.0, write=0.0, write_sys=0.0)
        h = hashlib.sha256()
        fn.start_bundle()
        cpu, (user, sys_) = time.process_time(), thread_cpu()
        for run, decisions, states in inputs:
            for value in fn._process_run(run, decisions, states):
                _digest(value, h)
        cpu, (user2, sys2) = time.process_time() - cpu, thread_cpu()
        main = user2 - user + sys2 - sys_
        for value in fn.finish_bundle():  # the tally: its counts (its seconds are wall time)
            h.update(repr(value.value.value["counts"]).encode())
        if i:
            rest = main - spent["encode"] - spent["write"]
            results.append(
                {"cpu": cpu, "main": main, **spent, "rest": rest, "digest": h.hexdigest()[:16]}
            )
        for path in glob.glob(os.path.join(work, "*")):
            os.remove(path)
    shutil.rmtree(work, ignore_errors=True)
    if len({r["digest"] for r in results}) != 1:
        raise SystemExit("outputs differ between passes")
    best = {k: min(r[k] for r in results) for k in results[0] if k != "digest"}
    return {**best, "digest": results[0]["digest"], "mb": sum(r.bytes for r, _, _ in inputs) / 1e6}


def compare(cap: str, before: str, after: str, rounds: int, passes: int) -> None:
    rows = []
    for r in range(rounds):
        for label, tree in (("before", before), ("after", after)):
            env = {**os.environ, "PYTHONPATH": os.path.abspath(tree), "HF_HUB_OFFLINE": "1"}
            cmd = [sys.executable, os.path.abspath(__file__), "one", "--cap", cap]
            done = subprocess.run(
                [*cmd, "--passes", str(passes)], env=env, capture_output=True, text=True
            )
            if done.returncode:
                raise SystemExit(done.stderr)
            rows.append((f"{label} {r + 1}", json.loads(done.stdout.strip().splitlines()[-1])))
    mb = rows[0][1]["mb"]
    print(f"{mb:.1f} MB of spill runs; CPU seconds, each the least of {passes} pass(es)")
    print(
        "| run | process | main thread | main: encoder | main: _write (sys) | main: rest | digest |"
    )
    print("|---|---|---|---|---|---|---|")
    for label, x in rows:
        print(
            f"| {label} | {x['cpu']:.2f} | {x['main']:.2f} | {x['encode']:.2f}"
            f" | {x['write']:.2f} ({x['write_sys']:.2f}) | {x['rest']:.2f} | {x['digest']} |"
        )
    for key in ("cpu", "main", "rest"):
        b = min(x[key] for label, x in rows if label.startswith("before"))
        a = min(x[key] for label, x in rows if label.startswith("after"))
        print(f"{key}: before {b / mb:.4f} s/MB, after {a / mb:.4f} s/MB, after/before {a / b:.2f}")
    same = len({x["digest"] for _, x in rows}) == 1
    print("outputs identical" if same else "OUTPUTS DIFFER")
    if not same:
        raise SystemExit(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("capture")
    c.add_argument("--out", required=True)
    c.add_argument("--config", default="configs/demo.yaml")
    o = sub.add_parser("one")
    o.add_argument("--cap", required=True)
    o.add_argument("--passes", type=int, default=1)
    m = sub.add_parser("compare")
    m.add_argument("--cap", required=True)
    m.add_argument("--before", required=True)
    m.add_argument("--after", default=".")
    m.add_argument("--rounds", type=int, default=2)
    m.add_argument("--passes", type=int, default=3)
    args = parser.parse_args()
    if args.cmd == "capture":
        capture(args.out, args.config)
    elif args.cmd == "one":
        print(json.dumps(one(args.cap, args.passes)))
    else:
        compare(args.cap, args.before, args.after, args.rounds, args.passes)


if __name__ == "__main__":
    main()
