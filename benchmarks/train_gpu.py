"""LoRA training throughput: this trainer vs plain transformers + peft, against a frozen ceiling.

One call, one process, side by side on the same documents (random tokens, log-normal lengths,
median ~400 tokens, rows of 2048) and the same random-weight Llama-shaped models (TinyLlama-1.1B
and Llama-3-8B shapes), bf16, LoRA r=16 on every linear layer:

  curate          fused LoRA + packed attention (the backend the probe picks: flash varlen in the
                  form this torch accepts, else flex, else masked SDPA) + chunked CE
  curate-unfused  the same with peft's own LoRA forward (what fusing buys)
  hf-padded       transformers + peft, one document per row padded to the longest in its batch
  hf-packed       transformers + peft, packed rows, `sdpa`: transformers detects the packing from
                  the restarting position_ids and builds a dense 4D document mask
  hf-packed-flex  the same with `flex_attention`: transformers builds a document BlockMask from
                  the position_ids and skips masked blocks (CUDA only: it compiles flex, and flex
                  has no CPU backward)
  hf-liger        hf-packed with Liger-Kernel's patches (only if liger_kernel is importable)
  frozen          no adapter at all, gradients to the input embeddings only: the ceiling

Every adapter variant takes exactly one optimizer step per measured step, over the same
documents: hf-padded accumulates gradients over its padded micro-batches (the loss weighted by
each micro-batch's target count) instead of stepping per micro-batch. Every row names its
attention backend. Liger-Kernel is not installed on the GPU machine and nothing can be downloaded
there: carry its wheel (it needs only torch and triton, both present), e.g.
`pip download --no-deps -d .whl liger-kernel` here, then
`run(command="bash benchmarks/gpu_check.sh", carry=[".whl"])`; gpu_check.sh installs `.whl/*.whl`
with `--no-deps`.

"Useful" tokens are real tokens (padding excluded); MFU uses the LoRA formula
4*N_frozen + 6*N_trainable + attention FLOPs of the causal within-document pairs (train.metrics)
for every row, so padding waste shows up as lower MFU. Prints a table; writes JSON to $OUT (or
--json). On the H200, benchmarks/gpu_check.sh runs it once per shape with fewer steps, each under
a time limit (its default 3 + 8 steps of both shapes were never timed). `--tiny` runs a tiny
shape for a few steps on CPU (a smoke test of the script itself; its numbers mean nothing).

    python benchmarks/train_gpu.py                 # GPU: both shapes, all variants
    python benchmarks/train_gpu.py --tiny          # CPU smoke run (seconds)
    python benchmarks/train_gpu.py --device cpu --shapes cpu-small --steps 4   # a CPU comparison
                                                   # (512-token rows, median 100, fp32, masked SDPA)
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import importlib.util
import json
import math
import os
import sys
import time
import traceback
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from train.attention import resolve_attention  # noqa: E402
from train.batch import IGNORE_INDEX, collate  # noqa: E402
from train.config import AdapterConfig, FromConfigModel, ModelConfig  # noqa: E402
from train.lm_loss import chunked_head_loss  # noqa: E402
from train.metrics import flops_per_token, peak_flops  # noqa: E402
from train.model import count_params  # noqa: E402
from train.objective import CausalLMObjective  # noqa: E402
from train.packing import pack_documents  # noqa: E402

SHAPES = {
    "tinyllama-1.1b": dict(
        hidden_size=2048,
        num_hidden_layers=22,
        num_attention_heads=32,
        num_key_value_heads=4,
        intermediate_size=5632,
        vocab_size=32000,
        rows=8,
    ),
    "llama3-8b": dict(
        hidden_size=4096,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=8,
        intermediate_size=14336,
        vocab_size=128256,
        rows=4,
    ),
    "cpu-small": dict(
        hidden_size=256,
        num_hidden_layers=4,
        num_attention_heads=8,
        num_key_value_heads=4,
        intermediate_size=688,
        vocab_size=8192,
        rows=4,
    ),
    "tiny": dict(
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=128,
        vocab_size=512,
        rows=4,
    ),
}
LORA = dict(r=16, alpha=32, target_modules="all-linear")


class Docs:
    """Random-token documents with log-normal lengths (each ends in EOS = 0)."""

    def __init__(self, n: int, median: int, max_len: int, vocab: int, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        lengths = np.clip(rng.lognormal(math.log(median), 0.9, size=n).astype(int), 8, 4 * max_len)
        self.docs = [
            np.append(rng.integers(2, vocab, size=L - 1), 0).astype(np.int32) for L in lengths
        ]
        self.lengths = np.array([len(d) for d in self.docs])

    def tokens(self, i):
        return self.docs[i]

    def doc_id(self, i):
        return f"d{i}"


def make_model(shape: dict, dtype, device, attn: str):
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = {k: v for k, v in shape.items() if k != "rows"}
    config = LlamaConfig(
        **cfg, max_position_embeddings=8192, attn_implementation=attn, use_cache=False
    )
    torch.manual_seed(0)
    with torch.device(device):
        model = LlamaForCausalLM._from_config(config, dtype=dtype)
    return model.requires_grad_(False)


def peft_lora(model):
    from peft import LoraConfig, get_peft_model

    return get_peft_model(
        model,
        LoraConfig(
            r=LORA["r"],
            lora_alpha=LORA["alpha"],
            target_modules=LORA["target_modules"],
            task_type="CAUSAL_LM",
        ),
    )


def packed_steps(docs: Docs, seq: int, rows: int, steps: int) -> list[list]:
    """`steps` lists of `rows` packed rows (segments) from one packing plan."""
    plan = pack_documents(np.arange(len(docs.docs)), docs.lengths, seq)
    if len(plan) < steps * rows:
        raise ValueError(f"only {len(plan)} rows for {steps} x {rows}")
    return [[plan.segments(r) for r in range(s * rows, (s + 1) * rows)] for s in range(steps)]


# ----------------------------------------------------------------------------- step functions
def curate_step(fused: bool):
    def setup(shape, device, dtype, backend):
        from train.model import prepare_for_training

        base = make_model(shape, dtype, device, "sdpa")
        adapter = AdapterConfig(
            type="lora",
            r=LORA["r"],
            alpha=LORA["alpha"],
            target_modules=LORA["target_modules"],
            fused=fused,
        )
        model, _ = prepare_for_training(
            base, ModelConfig(from_config=FromConfigModel()), adapter, backend, device
        )
        objective = CausalLMObjective(
            model,
            backend,
            "chunked",
            autocast_dtype=torch.bfloat16 if device.type == "cuda" else None,
        )
        opt = torch.optim.AdamW(
            [p for p in model.parameters() if p.requires_grad], lr=1e-4, fused=device.type == "cuda"
        )

        def step(micro_batches):
            total = sum(b.n_label_tokens for b, _ in micro_batches)
            for batch, _ in micro_batches:
                ce, _ = objective(batch)
                (ce / total).backward()
            opt.step()
            opt.zero_grad(set_to_none=True)

        return model, step

    return setup


def frozen_setup(shape, device, dtype, backend):
    """No adapter: the same packed forward + chunked CE, gradients flowing to the input embeddings only."""
    from train.attention import PackedAttention, register_packed_attention

    model = make_model(shape, dtype, device, "sdpa")
    model.set_attn_implementation(register_packed_attention())
    decoder, head = model.get_decoder(), model.get_output_embeddings()
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16)
        if device.type == "cuda"
        else torch.autocast("cpu", enabled=False)
    )

    def step(micro_batches):
        for batch, _ in micro_batches:
            micro_step(batch)

    def micro_step(batch):
        layout = PackedAttention.build(
            backend, batch.segment_ids, batch.cu_seqlens, batch.max_seqlen
        )
        with autocast:
            embeds = decoder.embed_tokens(batch.input_ids).detach().requires_grad_(True)
            hidden = decoder(
                inputs_embeds=embeds,
                position_ids=batch.position_ids,
                curate_attn=layout,
                use_cache=False,
            ).last_hidden_state
            ce, _ = chunked_head_loss(
                hidden.flatten(0, 1).index_select(0, batch.target_index),
                head.weight,
                batch.target_labels,
            )
        (ce / batch.n_label_tokens).backward()

    return model, step


def hf_setup(packed: bool, liger: bool = False, attn: str = "sdpa"):
    def setup(shape, device, dtype, backend):
        if liger:
            from liger_kernel.transformers import apply_liger_kernel_to_llama

            apply_liger_kernel_to_llama(
                rope=True,
                rms_norm=True,
                swiglu=True,
                cross_entropy=False,
                fused_linear_cross_entropy=True,
            )
        model = peft_lora(make_model(shape, dtype, device, attn))
        opt = torch.optim.AdamW(
            [p for p in model.parameters() if p.requires_grad], lr=1e-4, fused=device.type == "cuda"
        )
        autocast = (
            torch.autocast("cuda", dtype=torch.bfloat16)
            if device.type == "cuda"
            else torch.autocast("cpu", enabled=False)
        )

        def step(micro_batches):
            # transformers' loss is a mean per call: weight each micro-batch by its share of the
            # step's targets, so the accumulated gradient is the token-mean over the whole step.
            counts = [int((labels[:, 1:] != IGNORE_INDEX).sum()) for _, labels in micro_batches]
            for (batch, labels), count in zip(micro_batches, counts, strict=True):
                with autocast:
                    if packed:  # no attention_mask: transformers reads the packing off position_ids
                        out = model(
                            input_ids=batch.input_ids,
                            position_ids=batch.position_ids,
                            labels=labels,
                            use_cache=False,
                        )
                    else:
                        out = model(
                            input_ids=batch.input_ids,
                            attention_mask=batch.attention_mask.long(),
                            labels=labels,
                            use_cache=False,
                        )
                (out.loss * (count / max(1, sum(counts)))).backward()
            opt.step()
            opt.zero_grad(set_to_none=True)

        return model, step

    return setup


def with_hf_labels(batch):
    """(batch, labels for transformers' own loss). transformers shifts labels itself, so we mask
    each segment's first token (it would be predicted from the previous document) and padding."""
    labels = batch.input_ids.clone()
    labels[batch.position_ids == 0] = IGNORE_INDEX
    labels[~batch.attention_mask] = IGNORE_INDEX
    return batch, labels


def padded_batches(docs: Docs, steps_rows: list[list], seq: int, rows: int) -> list[list]:
    """The same documents as the packed steps, one per row, padded to the longest of each
    micro-batch, micro-batches filled up to the same token budget (rows * seq padded tokens)."""
    out = []
    for step_rows in steps_rows:
        segments = sorted({seg for row in step_rows for seg in row})
        micro, current, longest = [], [], 0
        for seg in segments:
            if current and (len(current) + 1) * max(longest, seg[2]) > rows * seq:
                micro.append(current)
                current, longest = [], 0
            current.append(seg)
            longest = max(longest, seg[2])
        micro.append(current)
        out.append(
            [
                with_hf_labels(collate([[s] for s in m], docs, max(x[2] for x in m), pad_id=1))
                for m in micro
            ]
        )
    return out


# Run order matters: Liger patches transformers' Llama classes for the rest of the process, so it
# runs last (after every other variant of every shape).
VARIANTS = {
    "frozen": (frozen_setup, "packed"),
    "curate": (curate_step(fused=True), "packed"),
    "curate-unfused": (curate_step(fused=False), "packed"),
    "hf-padded": (hf_setup(packed=False), "padded"),
    "hf-packed": (hf_setup(packed=True), "packed"),
    "hf-packed-flex": (hf_setup(packed=True, attn="flex_attention"), "packed"),
    "hf-liger": (hf_setup(packed=True, liger=True), "packed"),
}
CUDA_ONLY = {"hf-packed-flex": "transformers compiles flex_attention and flex has no CPU backward"}
OPTIMIZER_STEPS = {name: 0 if name == "frozen" else 1 for name in VARIANTS}  # per measured step


def attention_label(name: str, curate: str) -> str:
    """The attention backend a variant runs, for its row."""
    if name in ("frozen", "curate", "curate-unfused"):
        return curate
    return {
        "hf-padded": "hf sdpa, padding mask (one document per row)",
        "hf-packed": "hf sdpa, dense 4D document mask from position_ids",
        "hf-packed-flex": "hf flex_attention, document BlockMask from position_ids",
        "hf-liger": "hf sdpa, dense 4D document mask from position_ids, Liger kernels",
    }[name]


def run_variant(
    name, shape_name, shape, data, device, dtype, backend, warmup, steps, peak, attention
):
    setup, layout = VARIANTS[name]
    model = step = None
    try:
        model, step = setup(shape, device, dtype, backend)
        counts = count_params(model)
        batches = data[layout]
        tokens = pairs = 0
        for i, micro_batches in enumerate(batches[: warmup + steps]):
            if i == warmup:
                if device.type == "cuda":
                    torch.cuda.synchronize()
                started = time.perf_counter()
            step([(batch.to(device), labels.to(device)) for batch, labels in micro_batches])
            if i >= warmup:
                tokens += sum(batch.n_tokens for batch, _ in micro_batches)
                pairs += sum(batch.attn_pairs for batch, _ in micro_batches)
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - started
        heads, dim = (
            shape["num_attention_heads"],
            shape["hidden_size"] // shape["num_attention_heads"],
        )
        per_token = flops_per_token(
            counts.frozen_matmul,
            counts.trainable,
            shape["num_hidden_layers"],
            heads * dim,
            pairs / tokens,
        )
        tps = tokens / seconds
        row = {
            "shape": shape_name,
            "variant": name,
            "attention": attention,
            "optimizer_steps_per_step": OPTIMIZER_STEPS[name],
            "micro_batches_per_step": round(
                float(np.mean([len(b) for b in batches[warmup : warmup + steps]])), 2
            ),
            "useful_tokens_per_s": round(tps, 1),
            "mfu": round(tps * per_token / peak, 4) if peak else None,
            "trainable_params": counts.trainable,
            "frozen_matmul_params": counts.frozen_matmul,
            "steps": steps,
            "tokens": tokens,
            "seconds": round(seconds, 3),
        }
        if device.type == "cuda":
            row["peak_mem_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 1)
        return row
    except Exception as exc:  # one variant failing (OOM, missing kernel) must not lose the others
        traceback.print_exc()
        return {
            "shape": shape_name,
            "variant": name,
            "attention": attention,
            "error": f"{type(exc).__name__}: {str(exc)[:300]}",
        }
    finally:
        del model, step
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--tiny", action="store_true", help="tiny shape, few steps, on CPU: a smoke test"
    )
    ap.add_argument("--device", default=None, help="cuda or cpu (default: cuda when available)")
    ap.add_argument("--shapes", default="tinyllama-1.1b,llama3-8b")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument(
        "--json",
        default=None,
        help="where to write results (default: $OUT/train_gpu.json if $OUT is set)",
    )
    args = ap.parse_args()

    device = torch.device(
        args.device or ("cuda" if torch.cuda.is_available() and not args.tiny else "cpu")
    )
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    shapes = ["tiny"] if args.tiny else args.shapes.split(",")
    seq, median = (128, 40) if args.tiny else (2048, 400) if device.type == "cuda" else (512, 100)
    warmup, steps = (1, 2) if args.tiny else (args.warmup, args.steps)
    skipped = {}
    if not importlib.util.find_spec("liger_kernel"):
        skipped["hf-liger"] = "liger_kernel not importable (carry its wheel: see the docstring)"
    if device.type != "cuda":
        skipped.update(CUDA_ONLY)
    variants = [v for v in args.variants.split(",") if v not in skipped]
    choice = resolve_attention("auto", device, dtype)
    backend = choice.backend
    curate_attention = backend + (f" ({choice.varlen.describe()})" if choice.varlen else "")
    peak, peak_source = peak_flops(device)
    print(
        f"device {device} ({torch.cuda.get_device_name() if device.type == 'cuda' else 'cpu'}), {dtype}, attention {curate_attention}, peak {peak:.3g} FLOP/s ({peak_source})",
        flush=True,
    )
    print(f"attention probe: {choice.reason}", flush=True)
    for name, why in skipped.items():
        print(f"  skipped {name}: {why}", flush=True)

    data = {}
    for shape_name in shapes:
        shape = SHAPES[shape_name]
        rows = shape["rows"]
        docs = Docs(
            n=(warmup + steps) * rows * seq // median * 2,
            median=median,
            max_len=seq,
            vocab=shape["vocab_size"],
        )
        steps_rows = packed_steps(docs, seq, rows, warmup + steps)
        data[shape_name] = {
            "packed": [[with_hf_labels(collate(r, docs, seq, pad_id=1))] for r in steps_rows],
            "padded": padded_batches(docs, steps_rows, seq, rows),
        }

    out_path = args.json or (
        os.path.join(os.environ["OUT"], "train_gpu.json") if os.environ.get("OUT") else None
    )
    meta = {
        "device": str(device),
        "dtype": str(dtype),
        "attention": curate_attention,
        "attention_reason": choice.reason,
        "skipped": skipped,
        "peak_flops": peak,
        "peak_source": peak_source,
        "seq": seq,
        "median_doc_tokens": median,
        "warmup_steps": warmup,
        "measured_steps": steps,
        "lora": LORA,
        "torch": torch.__version__,
        "transformers": importlib.metadata.version("transformers"),
        "peft": importlib.metadata.version("peft"),
    }
    results = []

    def write(final: bool = False) -> None:
        """Rewrites the JSON after every row, so a run cut short still leaves its rows."""
        if out_path:
            Path(out_path).parent.mkdir(parents=True, exist_ok=True)
            doc = {"meta": {**meta, "complete": final}, "results": results}
            Path(out_path).write_text(json.dumps(doc, indent=1))
            if final:
                print(f"wrote {out_path}")

    for name in variants:  # variants outermost: see VARIANTS on Liger
        for shape_name in shapes:
            t0 = time.time()
            row = run_variant(
                name,
                shape_name,
                SHAPES[shape_name],
                data[shape_name],
                device,
                dtype,
                backend,
                warmup,
                steps,
                peak,
                attention_label(name, curate_attention),
            )
            results.append(row)
            write()
            print(
                f"  {shape_name:15s} {name:15s} done in {time.time() - t0:5.1f}s: {row.get('useful_tokens_per_s', row.get('error'))}",
                flush=True,
            )

    results.sort(key=lambda r: (shapes.index(r["shape"]), list(VARIANTS).index(r["variant"])))
    print(
        f"\n{'shape':15s} {'variant':15s} {'useful tok/s':>13s} {'MFU':>7s} {'vs frozen':>9s} {'vs hf-padded':>12s} {'peak GiB':>8s}  attention"
    )
    for row in results:
        if "error" in row:
            print(f"{row['shape']:15s} {row['variant']:15s} ERROR {row['error'][:80]}")
            continue
        ref = {r["variant"]: r for r in results if r["shape"] == row["shape"] and "error" not in r}

        def ratio(other, row=row, ref=ref):
            return (
                f"{row['useful_tokens_per_s'] / ref[other]['useful_tokens_per_s']:.2f}x"
                if other in ref
                else "n/a"
            )

        mfu = f"{100 * row['mfu']:.1f}%" if row["mfu"] is not None else "n/a"
        print(
            f"{row['shape']:15s} {row['variant']:15s} {row['useful_tokens_per_s']:13,.0f} {mfu:>7s} {ratio('frozen'):>9s} {ratio('hf-padded'):>12s} {row.get('peak_mem_gib', ''):>8}  {row['attention']}"
        )

    write(final=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
