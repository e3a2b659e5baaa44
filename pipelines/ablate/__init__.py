"""`curate ablate`: the same small model trained on each curation variant at an equal token budget.

Python API: `run_ablation(load_ablation_config("ablation.yaml"))` returns what `ablation.json`
holds. See run.py for the steps and README "Does curation pay?" for the config.
"""

from pipelines.ablate.config import AblationConfig, load_ablation_config
from pipelines.ablate.run import Ablation, run_ablation

__all__ = ["Ablation", "AblationConfig", "load_ablation_config", "run_ablation"]
