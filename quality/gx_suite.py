"""The Great Expectations suites of the validation gate, and how they are run offline.

Four small pandas frames are validated, each by its own suite (see quality/validation.py for how
they are built): `sample` (rows sampled from every shard), `shards` (one row per shard, exact
aggregates over all its rows), `corpus` (one row) and `accounting` (one row per scope: total and
each source). An ephemeral GX context keeps everything in memory except the Data Docs, which are
written under OUT/validation/data_docs/. GX 1.x sends no usage statistics (and we also turn them
off in the context config); progress bars are off. Importing GX costs about 3 s, the runs a few
hundred ms.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from quality.report_config import ValidationConfig
from quality.sampling_gate import SamplingOutcome

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
logging.getLogger("great_expectations").setLevel(logging.ERROR)


def build_suites(
    cfg: ValidationConfig,
    vocab_size: int,
    score_columns: list[str],
    toxicity: bool,
    sampling: SamplingOutcome | None = None,
) -> dict[str, list]:
    """Expectations per frame name; each carries a short `meta["check"]` name and a description.

    `score_columns`: the unit score columns to bound; `toxicity`: the toxicity column exists;
    `sampling`: a budgeted run's targets (adds the `mixture` and `budget` suites).
    """
    import great_expectations.expectations as gxe

    def tag(expectation, check: str, why: str):
        expectation.meta = {"check": check}
        expectation.description = why
        return expectation

    lo, hi = cfg.score_min, cfg.score_max
    shards = [
        tag(
            gxe.ExpectColumnValuesToBeInSet(column="readable", value_set=[True]),
            "shards_readable",
            "Every shard opens as an Arrow IPC stream with the expected columns.",
        ),
        tag(
            gxe.ExpectColumnPairValuesToBeEqual(column_A="rows_manifest", column_B="rows_actual"),
            "shard_rows_match_manifest",
            "Row counts in the manifest match the shards.",
        ),
        tag(
            gxe.ExpectColumnPairValuesToBeEqual(
                column_A="tokens_manifest", column_B="tokens_actual"
            ),
            "shard_tokens_match_manifest",
            "Token counts in the manifest match sum(n_tokens).",
        ),
        tag(
            gxe.ExpectColumnValuesToBeInSet(column="sha256_ok", value_set=[True]),
            "shard_sha256_match",
            "Shard checksums match the manifest.",
        ),
        tag(
            gxe.ExpectColumnValuesToBeBetween(column="id_nulls", min_value=0, max_value=0),
            "ids_not_null",
            "No shard row lacks an id (all rows).",
        ),
        tag(
            gxe.ExpectColumnValuesToBeBetween(column="n_tokens_min", min_value=cfg.min_tokens),
            "n_tokens_min_bound",
            f"n_tokens >= {cfg.min_tokens} (all rows).",
        ),
        tag(
            gxe.ExpectColumnValuesToBeBetween(column="n_tokens_max", max_value=cfg.max_tokens),
            "n_tokens_max_bound",
            f"n_tokens <= {cfg.max_tokens} (all rows).",
        ),
        tag(
            gxe.ExpectColumnValuesToBeBetween(column="token_id_min", min_value=0),
            "token_ids_non_negative",
            "Token ids are >= 0 (all rows).",
        ),
        tag(
            gxe.ExpectColumnValuesToBeBetween(column="token_id_max", max_value=vocab_size - 1),
            "token_ids_below_vocab",
            f"Token ids are < vocab size {vocab_size} (all rows).",
        ),
    ]
    for col in score_columns:
        shards.append(
            tag(
                gxe.ExpectColumnValuesToBeBetween(column=f"{col}_min", min_value=lo),
                f"score_{col}_min",
                f"{col} >= {lo} (all rows).",
            )
        )
        shards.append(
            tag(
                gxe.ExpectColumnValuesToBeBetween(column=f"{col}_max", max_value=hi),
                f"score_{col}_max",
                f"{col} <= {hi} (all rows).",
            )
        )
    sample = [
        tag(
            gxe.ExpectColumnValuesToNotBeNull(column="id"),
            "sample_ids_not_null",
            "Sampled ids are non-null.",
        ),
        tag(
            gxe.ExpectColumnValuesToBeUnique(column="id"),
            "ids_unique",
            "Ids are unique across the sampled rows of all shards.",
        ),
        tag(
            gxe.ExpectColumnValuesToBeUnique(column="content_hash"),
            "no_duplicate_texts",
            "No two sampled rows have the same text (or token ids when text is absent).",
        ),
        tag(
            gxe.ExpectColumnPairValuesToBeEqual(column_A="n_tokens", column_B="input_ids_len"),
            "n_tokens_is_length",
            "n_tokens equals len(input_ids).",
        ),
    ]
    corpus = [
        tag(
            gxe.ExpectColumnPairValuesToBeEqual(
                column_A="written_manifest", column_B="rows_in_shards"
            ),
            "written_is_shard_rows",
            "accounting.written equals the rows in all shards.",
        ),
    ]
    if toxicity:
        corpus.append(
            tag(
                gxe.ExpectColumnValuesToBeBetween(
                    column="toxicity_mean", max_value=cfg.toxicity_mean_max
                ),
                "toxicity_mean_ceiling",
                f"Mean {cfg.toxicity_column} <= {cfg.toxicity_mean_max} (all rows).",
            )
        )
    accounting = [
        tag(
            gxe.ExpectColumnPairValuesToBeEqual(column_A="read", column_B="accounted"),
            "accounting_reconciles",
            "read == written + dead_letter + rejected + removed + sampled_out, overall and per source.",
        ),
    ]
    suites = {"shards": shards, "sample": sample, "corpus": corpus, "accounting": accounting}
    if sampling is not None and sampling.targets:
        tol = sampling.mixture_tolerance
        suites["mixture"] = [
            tag(
                gxe.ExpectColumnValuesToBeBetween(column="share_off", max_value=tol),
                "mixture_within_tolerance",
                f"Each source's share of the written tokens is within {100 * tol:.1f} points of "
                "its sampling.mixture target (sampling.mixture_tolerance).",
            )
        ]
    if sampling is not None and sampling.token_budget:
        fill = sampling.min_budget_fill
        suites["budget"] = [
            tag(
                gxe.ExpectColumnValuesToBeBetween(column="budget_fill", min_value=fill),
                "budget_filled",
                f"The written tokens are at least {100 * fill:.0f}% of sampling.token_budget "
                "(sampling.min_budget_fill).",
            )
        ]
    return suites


def run_suites(frames: dict[str, Any], suites: dict[str, list], docs_dir: str | None) -> list[dict]:
    """Validates each frame with its suite; builds Data Docs in `docs_dir` (None: no docs)."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    sites = {}
    if docs_dir:
        sites["curate"] = {
            "class_name": "SiteBuilder",
            "show_how_to_buttons": False,
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": docs_dir,
            },
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        }
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
        data_docs_sites=sites,
    )
    ctx = gx.get_context(mode="ephemeral", project_config=config)
    source = ctx.data_sources.add_pandas("curate_output")
    out: list[dict] = []
    for name, expectations in suites.items():
        batch = source.add_dataframe_asset(name).add_batch_definition_whole_dataframe(name)
        suite = ctx.suites.add(gx.ExpectationSuite(name=f"curate_{name}"))
        for expectation in expectations:
            suite.add_expectation(expectation)
        definition = ctx.validation_definitions.add(
            gx.ValidationDefinition(name=name, data=batch, suite=suite)
        )
        checkpoint = ctx.checkpoints.add(
            gx.Checkpoint(
                name=name,
                validation_definitions=[definition],
                actions=[],
                result_format={"result_format": "SUMMARY"},
            )
        )
        result = checkpoint.run(batch_parameters={"dataframe": frames[name]})
        for run in result.run_results.values():
            out.extend(_plain_result(name, r, frames[name]) for r in run.results)
    if docs_dir:
        ctx.build_data_docs()
    return out


LABELS = {"shards": "path", "sample": "shard", "accounting": "scope", "mixture": "source"}


def _plain_result(frame: str, r, df) -> dict:
    """A JSON-ready summary of one expectation result (`where`: the failing rows' labels)."""
    config = r.expectation_config
    kwargs = {k: v for k, v in config.kwargs.items() if k != "batch_id"}
    result = dict(r.result or {})
    observed: dict[str, Any] = {}
    for key in ("observed_value", "element_count", "unexpected_count", "partial_unexpected_list"):
        if key in result:
            observed[key] = result[key][:5] if key == "partial_unexpected_list" else result[key]
    label = LABELS.get(frame)
    if label in getattr(df, "columns", ()) and result.get("partial_unexpected_index_list"):
        rows = [i for i in result["partial_unexpected_index_list"][:5] if 0 <= i < len(df)]
        observed["where"] = [str(df[label].iloc[i]) for i in rows]
    entry = {
        "name": (config.meta or {}).get("check", config.type),
        "success": bool(r.success),
        "observed": _plain(observed),
        "description": config.description or "",
        "expectation": config.type,
        "frame": frame,
        "kwargs": _plain(kwargs),
    }
    info = r.exception_info or {}
    messages = (
        [info.get("exception_message")]
        if "raised_exception" in info
        else [v.get("exception_message") for v in info.values() if isinstance(v, dict)]
    )
    messages = [m for m in messages if m]
    if messages:
        entry["error"] = messages[0]
    return entry


def _plain(value: Any) -> Any:
    """numpy scalars, tuples and sets as plain JSON values."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    if isinstance(value, float) and value != value:
        return None  # NaN is not JSON
    return value
