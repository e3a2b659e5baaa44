#!/usr/bin/env bash
# One device call that verifies the training stage's GPU path and measures it (issue 11).
#
# Through the device tool, from the repo root (the machine has the repo copied, not our venv: its
# own python3 has torch, transformers, peft, pytest, pyarrow; nothing can be downloaded there):
#
#   run(command="bash benchmarks/gpu_check.sh", timeout_s=540, carry=[".whl"])
#
# `.whl/` is optional: wheels carried there are installed with --no-deps into /tmp/site first,
# e.g. Liger-Kernel for the benchmark's hf-liger row (it needs only torch and triton, both on the
# machine). Prepare it here, once:
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 -d .whl liger-kernel
#
# Parts, each under its own `timeout` so a slow part cannot take the others' results with it
# (limits 45 + 180 + 110 + 130 = 465 s, each plus up to 10 s to kill a stuck part):
#   1. probe      which attention backend this torch passes, and why      -> $OUT/probe.json
#   2. GPU tests  tests/train/test_train_gpu.py + test_attention_probe.py -> $OUT/gpu_tests.xml
#   3. benchmark  benchmarks/train_gpu.py, one process per shape          -> $OUT/train_gpu_*.json
# Everything printed also goes to $OUT/gpu_check.log. At most 5 files, none in a subfolder.
#
# `bash benchmarks/gpu_check.sh --dry-run` runs the same parts on the CPU (GPU tests skipped,
# the benchmark on its cpu-small shape): a check of the script itself. Set PYTHON to pick the
# interpreter (default python3) and OUT for the results (default out/gpu_check).
set -u -o pipefail

DRY=0
[ "${1:-}" = "--dry-run" ] && DRY=1
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
OUT="${OUT:-$PWD/out/gpu_check}"
mkdir -p "$OUT"
exec > >(tee -a "$OUT/gpu_check.log") 2>&1

export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1
export CUBLAS_WORKSPACE_CONFIG=:4096:8  # deterministic cuBLAS, for the exact-resume test
SITE=""
if compgen -G ".whl/*.whl" >/dev/null; then
  echo "== installing carried wheels: $(ls .whl)"
  if "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target /tmp/site .whl/*.whl; then
    SITE=/tmp/site
  else
    echo "!! carried wheels failed to install; going on without them"
  fi
fi
# Our tree first: train/ imports no Beam, so the package is never pip-installed here.
export PYTHONPATH="$PWD${SITE:+:$SITE}"

status=()
part() {  # part NAME SECONDS CMD...: runs CMD under a timeout and records how it ended
  local name=$1 secs=$2
  shift 2
  echo "== $name (limit ${secs}s): $*"
  local t0=$SECONDS
  timeout -k 10 "$secs" "$@"
  local rc=$?
  [ $rc -eq 124 ] || [ $rc -eq 137 ] && echo "!! $name hit its ${secs}s limit"
  status+=("$name rc=$rc $((SECONDS - t0))s")
}

part probe 45 "$PY" - "$OUT/probe.json" <<'PYEOF'
import importlib.metadata as md, inspect, json, platform, sys, time
import torch
from train.attention import resolve_attention

def version(name):
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return None

info = {
    "python": platform.python_version(),
    "packages": {n: version(n) for n in ("torch", "transformers", "peft", "triton", "liger-kernel", "numpy")},
    "cuda": torch.cuda.is_available(),
    "device_name": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
}
try:
    from torch.nn.attention.varlen import varlen_attn
    info["varlen_attn_signature"] = str(inspect.signature(varlen_attn))
except Exception as exc:
    info["varlen_attn_signature"] = f"unavailable: {type(exc).__name__}: {exc}"
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
started = time.perf_counter()
choice = resolve_attention("auto", device, dtype)
info.update(backend=choice.backend, reason=choice.reason, probe_seconds=round(time.perf_counter() - started, 2))
if choice.varlen is not None:
    info["varlen_form"] = choice.varlen.describe()
print(json.dumps(info, indent=1))
with open(sys.argv[1], "w") as f:
    json.dump(info, f, indent=1)
PYEOF

if [ $DRY -eq 1 ]; then  # on the CPU: the GPU cases skip, and the CPU smokes are the suite's job
  part gpu_tests 300 "$PY" -m pytest tests/train/test_train_gpu.py -m gpu \
    -p no:cacheprovider --junitxml="$OUT/gpu_tests.xml"
  part bench_cpu 400 "$PY" benchmarks/train_gpu.py --device cpu --shapes cpu-small \
    --warmup 0 --steps 1 --json "$OUT/train_gpu_cpu_small.json"
else
  # -v prints each verdict as it comes; --timeout stops one stuck test, not the whole part.
  part gpu_tests 180 "$PY" -m pytest tests/train/test_attention_probe.py \
    tests/train/test_train_gpu.py -k "not cpu-fp32" -v --tb=short --timeout 100 \
    -p no:cacheprovider --junitxml="$OUT/gpu_tests.xml"
  # One process per shape: Liger patches transformers for the rest of a process, and a shape
  # that runs out of time keeps the rows it finished (the JSON is rewritten after each row).
  part bench_tinyllama 110 "$PY" benchmarks/train_gpu.py --shapes tinyllama-1.1b \
    --warmup 2 --steps 6 --json "$OUT/train_gpu_tinyllama.json"
  part bench_llama3_8b 130 "$PY" benchmarks/train_gpu.py --shapes llama3-8b \
    --warmup 2 --steps 4 --json "$OUT/train_gpu_llama3_8b.json"
fi

echo "== summary"
printf '  %s\n' "${status[@]}"
sleep 1  # let tee finish writing gpu_check.log before the files are collected
