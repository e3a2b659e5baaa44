"""Held-out evaluation split by a seeded hash of the document id.

A document is "eval" when `uniform_from_id(id, derive_seed(seed, "split")) < fraction`. The draw
depends only on (id, seed): the same document lands in the same split on every rerun, on any
number of workers, and whichever other documents were selected alongside it. Growing the fraction
only moves documents from train to eval (the eval set of a smaller fraction is a subset). The hash
seed is derived separately from the selection seed, so which documents are selected and which are
held out are independent draws.
"""

from __future__ import annotations

from transforms.sampling.keys import derive_seed, uniform_from_id

TRAIN = "train"
EVAL = "eval"


class EvalSplitter:
    """Assigns "train" or "eval" to ids.

    Args:
        fraction: expected share of documents held out, in [0, 1).
        seed: the run's sampling seed.
    """

    def __init__(self, fraction: float, seed: int) -> None:
        if not 0.0 <= fraction < 1.0:
            raise ValueError(f"eval fraction must be in [0, 1), got {fraction}")
        self.fraction = fraction
        self._seed = derive_seed(seed, "split")

    def __call__(self, doc_id: str) -> str:
        if self.fraction == 0.0:
            return TRAIN
        return EVAL if uniform_from_id(doc_id, self._seed) < self.fraction else TRAIN


def assign_split(doc_id: str, fraction: float, seed: int) -> str:
    """ "train" or "eval" for one id (see `EvalSplitter`)."""
    return EvalSplitter(fraction, seed)(doc_id)
