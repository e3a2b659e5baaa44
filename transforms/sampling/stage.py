"""Stage: which tokenized candidates go to the shards, and with which split.

`Sample` runs `SelectDocuments` on the candidates' metadata and joins the selection back to every
candidate by id, so each candidate gets exactly one fate: (id, source, split, run path), with
split None for a document that was sampled out.
"""

from __future__ import annotations

import apache_beam as beam

from transforms.infra.disk_group import CoGroupByKeyOnDisk
from transforms.infra.stage_output import StageOutput
from transforms.sampling.candidate import Candidate
from transforms.sampling.select import SelectDocuments


def _as_candidate(doc_id, source, n_tokens, scores, _run):
    return Candidate(doc_id, source, n_tokens, scores)


def _source_and_run(c):
    return c[0], (c[1], c[4])


def _fate(keyed):
    doc_id, grouped = keyed
    cands, splits = list(grouped["cand"]), list(grouped["sel"])
    if len(cands) != 1:
        # Selection runs on the same candidates, so this is elements lost or repeated between
        # steps: stop rather than write shards that silently miss or repeat a document. Seen
        # once, at 1.6M documents on the multi-process local runner (the last output chunk of
        # one tokenize bundle never reached this join); the same run in_memory completed
        # (benchmarks/RESULTS.md, "1.6M"), hence the advice.
        raise RuntimeError(
            f"sampling: document {doc_id!r} reached the selection join {len(cands)} times as a "
            f"candidate (expected once; selected {len(splits)} times): the runner lost or repeated "
            "elements between the tokenize and sampling steps. On the local runner, rerun with "
            "`run.running_mode: in_memory` (this was seen only with its worker processes)"
        )
    (source, run) = cands[0]
    return doc_id, source, (splits[0] if splits else None), run


class Sample(beam.PTransform):
    """Candidates (id, source, n_tokens, scores, run path) -> fates (`StageOutput`).

    Main: (id, source, split | None, run path) per candidate; section `sampling`: the report.
    """

    def __init__(self, cfg, seed: int) -> None:
        super().__init__()
        self._cfg, self._seed = cfg, seed

    def expand(self, candidates):
        out = (
            candidates
            | "ToCandidate" >> beam.MapTuple(_as_candidate)
            | "Select" >> SelectDocuments(self._cfg, self._seed)
        )
        fates = (
            {
                "cand": candidates | "CandidateSource" >> beam.Map(_source_and_run),
                "sel": out["selected"],
            }
            | "JoinSelection" >> CoGroupByKeyOnDisk()
            | "Fate" >> beam.Map(_fate)
        )
        return StageOutput(fates, sections={"sampling": out["report"]})
