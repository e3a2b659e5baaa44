"""The training trigger: LoRA training as the last stage of `curate run`.

`TrainAfterShards` consumes the manifest, a single element that exists only after every shard is
final and the manifest is written, and calls the `train` recipe in-process. `train` (and so
torch) is imported inside the DoFn's `setup()`, never at module level: curation workers of
other stages never import torch. The training config travels inside the graph: it is read,
overridden and validated when the graph is built (the launcher has the YAML; a worker may not),
and the DoFn carries the resolved config as a plain dict. The manifest, shards and adapter may be
remote (`gs://...`): the recipe reads and writes them through Beam's FileSystems. On Dataflow this step can get a GPU worker through a resource
hint, e.g. `train.accelerator: "type:nvidia-l4;count:1;install-nvidia-driver"`, with the
`train` extra installed on workers (`--setup_file ./setup.py` and `--experiments=use_runner_v2`,
or a custom container image with CUDA torch).
"""

from __future__ import annotations

import apache_beam as beam

from transforms import fs


def resolved_train_config(cfg) -> dict:
    """The train YAML (local or URL) with the trigger's overrides applied, validated, as a dict."""
    from train.config import load_train_config  # lazy, and torch-free
    from train.typed_config import to_dict

    return to_dict(load_train_config(cfg.config, list(cfg.overrides)))


class _TrainFn(beam.DoFn):
    def __init__(self, train_config: dict, force: bool, output: str | None) -> None:
        self._config = train_config  # resolved: its overrides are already applied
        self._force = force
        self._output = output

    def setup(self):
        from train import run_training  # lazy: torch only where training runs

        self._run_training = run_training

    def process(self, manifest: dict):
        out = manifest.get("_output") or ""
        manifest_path = fs.join(out, "manifest.json")
        verdict = manifest.get("validation", {}).get("success")
        if verdict is False and not self._force:
            raise RuntimeError(
                "training refused: the manifest's validation failed (set train.force to train anyway)"
            )
        output = self._output or fs.join(out, "adapter")
        report = self._run_training(manifest_path, self._config, force=self._force, output=output)
        yield {"manifest": manifest_path, "adapter": output, "training_report": report}


class TrainAfterShards(beam.PTransform):
    """manifest dict -> training result dict (adapter path and training report)."""

    def __init__(self, cfg) -> None:
        super().__init__()
        if not cfg.config:
            raise ValueError("train.config is required to train")
        self._cfg = cfg
        self._train_config = resolved_train_config(cfg)

    def expand(self, manifest):
        step = beam.ParDo(_TrainFn(self._train_config, self._cfg.force, self._cfg.output))
        if self._cfg.accelerator:
            step = step.with_resource_hints(accelerator=self._cfg.accelerator)
        return manifest | "TrainLoRA" >> step
