#!/usr/bin/env bash
# Does curation pay, at a size where it can show? `curate ablate` on one H100/H200 (issue 22):
# four arms (raw, dedup, dedup+filters, full) x 3 seeds of a ~33M-parameter Llama-shaped model
# built from config, on ~200 MB of real text gathered from files on the machine (Python sources,
# package docs and licences, man pages: pipelines/demo_data.py), 20M training tokens per run,
# verdicts on the mix-matched held-out loss. Target: within 8 minutes including set-up (NOT yet
# measured: no GPU was lent when it was written; tune the ABL_* sizes after a first run).
#
#   bash benchmarks/gpu_ablation.sh OUTDIR
#
# Through the device tool, from the repo root (its python3: 3.12, torch 2.11, transformers 5.x;
# nothing can be downloaded there, so curate's own pure-python deps travel as wheels in .whl/):
#
#   run(command="bash benchmarks/gpu_ablation.sh $OUT", timeout_s=560, carry=[".whl"])
#
# Prepare .whl/ here once (the machine lacks apache-beam, datasketch and mmh3 and some of Beam's
# own deps; `probe` below names whatever is still missing):
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
#     -d .whl apache-beam==2.77.* datasketch mmh3
#   then delete from .whl/ the wheels the machine already has (torch, numpy, pyarrow, grpcio,
#   protobuf, ...: /work/.library/device/KINDS.md lists them), keeping under 64 MiB.
#
# Steps, timed into OUTDIR/timings.json: probe (exit 3, naming what is missing, before any work),
# corpus, config, `curate ablate`, copy. OUTDIR gets ablation.json, index.html and its charts,
# probe.json, timings.json and gpu_ablation.log (8 files at most: what the device returns).
#
# Sizes (environment; defaults are the GPU run): ABL_DEVICE (cuda | cpu), ABL_TEXT_MB (200),
# ABL_ARMS (raw,dedup,dedup+filters,full), ABL_SEEDS (3), ABL_MAX_SEEDS (= ABL_SEEDS),
# ABL_TOKENS (20e6 per run), ABL_EPOCHS (unset; epochs of the smallest arm instead of tokens),
# ABL_HIDDEN (512), ABL_LAYERS (8), ABL_HEADS (8), ABL_KV_HEADS (4), ABL_MLP (1376), ABL_VOCAB
# (8192), ABL_SEQ (1024), ABL_BATCH (32), ABL_LR, ABL_EVAL_DOCS (600), ABL_EVAL_BUCKETS (40),
# ABL_LIMIT_S (time limit of the ablation step, 450), ABL_WORK (scratch, /tmp/gpu_ablation),
# PYTHON (python3). tests/ablate/test_gpu_ablation_script.py runs the CPU path at tiny size.
set -u -o pipefail

OUTDIR="${1:?usage: benchmarks/gpu_ablation.sh OUTDIR}"
cd "$(dirname "$0")/.."
mkdir -p "$OUTDIR"
OUTDIR="$(cd "$OUTDIR" && pwd)"
PY="${PYTHON:-python3}"
WORK="${ABL_WORK:-/tmp/gpu_ablation}"
TEXT_MB="${ABL_TEXT_MB:-200}"
LIMIT="${ABL_LIMIT_S:-450}"
exec > >(tee -a "$OUTDIR/gpu_ablation.log") 2>&1

export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1
SITE=""
if compgen -G ".whl/*.whl" >/dev/null; then
  echo "== installing carried wheels: $(ls .whl | wc -l) files"
  if "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target /tmp/site .whl/*.whl; then
    SITE=/tmp/site
  else
    echo "!! carried wheels failed to install"
  fi
fi
export PYTHONPATH="$PWD${SITE:+:$SITE}"

T0=$SECONDS
declare -A T
step() { T[$1]=$((SECONDS - T0)); echo "== $1 at $((SECONDS - T0))s"; }
timings() {
  local out="{" k
  for k in "${!T[@]}"; do out+="\"$k\": ${T[$k]}, "; done
  echo "${out}\"total\": $((SECONDS - T0))}" >"$OUTDIR/timings.json"
}
trap timings EXIT

step probe
"$PY" benchmarks/gpu_ablation.py probe "$OUTDIR" || {
  echo "!! the machine lacks what the ablation needs (see probe.json above); nothing was run"
  exit 3
}

step corpus
mkdir -p "$WORK"
CORPUS="$WORK/corpus-${TEXT_MB}MB"
if [ ! -f "$CORPUS/.complete" ]; then
  rm -rf "$CORPUS"
  "$PY" -m pipelines.demo_data --out "$CORPUS" --max-bytes "${TEXT_MB}MB" --seed 0 || exit 4
  touch "$CORPUS/.complete"
fi
du -sh "$CORPUS" | sed 's/^/corpus (gzip): /'

step config
CONFIG="$("$PY" benchmarks/gpu_ablation.py config "$CORPUS" "$WORK")" || exit 5
cat "$CONFIG"

step ablate
timeout -k 10 "$LIMIT" "$PY" -m pipelines.cli ablate --config "$CONFIG"
rc=$?
[ $rc -eq 124 ] || [ $rc -eq 137 ] && echo "!! curate ablate hit its ${LIMIT}s limit (ABL_LIMIT_S)"

step copy
ABL="$WORK/abl"
if [ -f "$ABL/ablation.json" ]; then
  cp "$ABL/ablation.json" "$OUTDIR/"
  cp "$ABL/report/index.html" "$ABL"/report/*.png "$OUTDIR/" 2>/dev/null
  "$PY" benchmarks/gpu_ablation.py summary "$OUTDIR/ablation.json"
fi
step done
exit $rc
