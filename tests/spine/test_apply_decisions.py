"""Stage 2's DoFn on one small spill run: decisions applied, boilerplate stripped, run written."""

import json
import math
import pickle

import numpy as np
import pyarrow as pa
import pytest
from apache_beam.pvalue import TaggedOutput

from transforms.dedup.boilerplate import BoilerplateMethod
from transforms.dedup.config import BoilerplateConfig
from transforms.dedup.rolling import line_hashes
from transforms.infra.accounting import Tally
from transforms.infra.hashing import content_key, position_key, shuffle_key
from transforms.infra.record import Removal
from transforms.infra.spill import SPILL_SCHEMA, SpillRun
from transforms.stages.apply_decisions import (
    TOKENIZER_CPU,
    ApplyDecisionsAndTokenize,
    ApplySettings,
    Decisions,
    TokRun,
)
from transforms.stages.tokenize import BatchEncoder, train_bpe

FOOTER = "Copyright 2024 Example Corp. All rights reserved worldwide."
SEED = 7


def _docs() -> list[dict]:
    """Twelve records: survivors (some with the footer), and one for each way of not surviving."""
    docs = []
    for i in range(8):
        body = f"Document {i} says something of its own about topic number {i * 13}."
        text = f"{body}\n  {FOOTER}\nsecond line {i}" if i % 2 else body
        meta = {"s": i / 2, "lang": {"en": 1, "de": 2} if i == 3 else "en", "flag": i == 5}
        docs.append({"id": f"d{i}", "text": text, "meta": meta})
    docs[4]["meta"]["s"] = True  # a bool is no score: NaN
    docs += [
        {"id": "footer_only", "text": f"{FOOTER}\n\n  {FOOTER}", "meta": {}},
        {"id": "tiny", "text": "hi", "meta": {"s": 1}},
        {"id": "gone", "text": "a near duplicate of document one", "meta": {}},
        {"id": "d0", "text": "a second record with the id d0", "meta": {"_file": "f", "_line": 9}},
    ]
    return docs


def _spill_run(tmp_path, docs) -> SpillRun:
    rows = {
        "pos": [position_key(0, i) for i in range(len(docs))],
        "id": [d["id"] for d in docs],
        "source": ["web" if i % 3 else "code" for i in range(len(docs))],
        "text": [d["text"] for d in docs],
        "meta": [json.dumps(d["meta"]) for d in docs],
        "quality": [0.5] * len(docs),
        "n_chars": [len(d["text"]) for d in docs],
        "content_key": [content_key(d["text"]) for d in docs],
    }
    path = str(tmp_path / "run.arrow")
    with pa.OSFile(path, "wb") as fh, pa.ipc.new_file(fh, SPILL_SCHEMA) as writer:
        writer.write_table(pa.table(rows, schema=SPILL_SCHEMA))
    return SpillRun(path, len(docs), 1000, key=1)


@pytest.fixture(scope="module")
def encoder():
    texts = [d["text"] for d in _docs()] * 5
    tok = train_bpe(texts, 300, ["<|endoftext|>", "<|pad|>"])
    return BatchEncoder(tok.to_str(), eos_id=0)


def _settings(tmp_path, encoder) -> ApplySettings:
    return ApplySettings(
        run_dir=str(tmp_path / "tok"),
        encoder=encoder,
        seed=SEED,
        score_columns=("s",),
        label_columns=("lang", "flag"),
        min_tokens=5,
        batch_size=3,  # several encode batches
        rewriters=(BoilerplateMethod(BoilerplateConfig(min_docs=1)),),
    )


def _run(fn, run, decisions, states) -> tuple[dict[str, list], TokRun]:
    tagged: dict[str, list] = {}
    runs = []
    for value in fn._process_run(run, decisions, states):
        if isinstance(value, TaggedOutput):
            tagged.setdefault(value.tag, []).append(value.value)
        else:
            runs.append(value)
    (tokrun,) = runs
    return tagged, tokrun


def test_apply_decisions_and_tokenize_one_run(tmp_path, encoder):
    docs = _docs()
    run = _spill_run(tmp_path, docs)
    fn = ApplyDecisionsAndTokenize(_settings(tmp_path, encoder))
    removal = Removal("gone", "web", "near", "c1", "d1", 0.9)
    decisions = Decisions.from_items(
        [
            ("dup", position_key(0, 11), position_key(0, 0)),
            ("removed", "gone", removal),
            ("cluster", "d1", "c1"),
            ("audit", "d1", None),
            ("audit", "d0", None),  # also the id of the duplicate-id loser: audited once
        ]
    )
    states = {"boilerplate": np.sort(line_hashes(FOOTER, 1))}
    fn.start_bundle()
    tagged, tokrun = _run(fn, run, decisions, states)

    assert tagged["audit"] == [("d0", docs[0]["text"]), ("d1", docs[1]["text"])]
    (dead,) = tagged["dead"]
    assert dead.reason == "duplicate_id" and dead.file == "f" and dead.line == 9
    assert tagged["removed"] == [(removal, docs[10]["text"])]
    reasons = {r.record.id: (r.reason, r.record.text) for r in tagged["rejected"]}
    assert reasons == {
        "footer_only": ("empty_after_boilerplate", docs[8]["text"]),  # the original text
        "tiny": ("too_short", "hi"),
    }

    survivors = docs[:8]
    texts = {d["id"]: d["text"].replace(f"\n  {FOOTER}", "") for d in survivors}
    order = sorted(texts, key=lambda i: (shuffle_key(i, SEED), i))
    table = pa.ipc.open_file(tokrun.path).read_all()
    assert table.column("id").to_pylist() == order
    assert table.column("key").to_pylist() == [shuffle_key(i, SEED) for i in order]
    assert table.column("text").to_pylist() == [texts[i] for i in order]
    want_ids = [encoder.encode([texts[i]])[0].tolist() for i in order]
    assert table.column("input_ids").to_pylist() == want_ids
    assert table.column("n_tokens").to_pylist() == [len(x) for x in want_ids]
    assert all(x[-1] == 0 for x in want_ids)  # EOS appended
    by_id = {d["id"]: d for d in survivors}
    assert table.column("content_key").to_pylist() == [content_key(by_id[i]["text"]) for i in order]
    assert table.column("dedup_cluster").to_pylist() == ["c1" if i == "d1" else "" for i in order]
    scores = table.column("s").to_pylist()
    for i, got in zip(order, scores, strict=True):
        want = by_id[i]["meta"]["s"]
        assert (math.isnan(got) and want is True) or got == want
    assert table.column("lang").to_pylist() == ["de,en" if i == "d3" else "en" for i in order]
    assert table.column("flag").to_pylist() == ["True" if i == "d5" else "False" for i in order]
    assert tokrun.rows == 8 and tokrun.tokens == sum(len(x) for x in want_ids)
    cands = {c[0]: c for c in tagged["candidates"]}
    assert set(cands) == set(order) and all(c[4] == tokrun.path for c in cands.values())
    assert cands["d2"][3] == {"s": 1.0} and math.isnan(cands["d4"][3]["s"])

    (tally,) = [v.value.value for v in fn.finish_bundle()]
    counts: dict[tuple[str, str], tuple[int, int]] = {}  # summed over sources
    for place, reason, _, n, b in Tally.from_state(tally).to_state()["counts"]:
        n0, b0 = counts.get((place, reason), (0, 0))
        counts[place, reason] = (n0 + n, b0 + b)
    assert counts[("boilerplate_lines", "")][0] == 4 + 2  # four stripped texts + footer_only
    footer_bytes = len(f"\n  {FOOTER}".encode())
    assert counts[("trimmed", "boilerplate_lines")] == (0, 4 * footer_bytes)
    assert counts[("tokenized", "")] == (8, sum(len(t.encode()) for t in texts.values()))
    assert counts[("tokens", "")][0] == tokrun.tokens
    # The tokenizer's own CPU (every thread, inside encode_batch_fast): the in-run speedometer
    # of the benchmarks, tallied by the stage and not carried by a pickled encoder.
    tokenizer_cpu = Tally.from_state(tally).seconds[TOKENIZER_CPU]
    assert 0 < tokenizer_cpu <= fn._encoder.cpu_seconds  # want_ids above encoded too
    assert pickle.loads(pickle.dumps(fn._encoder)).cpu_seconds == 0.0


def test_unchanged_texts_are_written_as_spilled(tmp_path, encoder):
    """No boilerplate state: no text changes, the run's texts come from the spill run's column."""
    docs = _docs()
    fn = ApplyDecisionsAndTokenize(_settings(tmp_path, encoder))
    fn.start_bundle()
    decisions = Decisions.from_items([("dup", position_key(0, 11), position_key(0, 0))])
    tagged, tokrun = _run(fn, _spill_run(tmp_path, docs), decisions, {})
    assert [r.record.id for r in tagged["rejected"]] == ["tiny"]
    table = pa.ipc.open_file(tokrun.path).read_all()
    want = {d["id"]: d["text"] for d in docs[:11] if d["id"] != "tiny"}
    order = sorted(want, key=lambda i: (shuffle_key(i, SEED), i))
    assert table.column("id").to_pylist() == order
    assert table.column("text").to_pylist() == [want[i] for i in order]


@pytest.mark.parametrize("with_boilerplate", [True, False])
def test_runs_without_texts_hold_their_sizes(tmp_path, encoder, with_boilerplate):
    """`keep_text=False` (no shard stores the texts, no accumulator reads them): the tokenized run
    holds each text's UTF-8 size instead, the rewritten text's when boilerplate changed it, and
    the shard gather reads those sizes; a gather that needs the texts refuses the run."""
    from dataclasses import replace

    from transforms.stages.apply_decisions import TEXT_BYTES
    from transforms.stages.shards import ShardTask, gather_shard_rows

    docs = _docs()
    settings = _settings(tmp_path, encoder)
    fn = ApplyDecisionsAndTokenize(replace(settings, keep_text=False))
    fn.start_bundle()
    decisions = Decisions.from_items([("dup", position_key(0, 11), position_key(0, 0))])
    states = {"boilerplate": np.sort(line_hashes(FOOTER, 1))} if with_boilerplate else {}
    _, tokrun = _run(fn, _spill_run(tmp_path, docs), decisions, states)
    table = pa.ipc.open_file(tokrun.path).read_all()
    assert "text" not in table.column_names
    texts = {d["id"]: d["text"] for d in docs[:11] if d["id"] not in ("tiny", "footer_only")}
    if with_boilerplate:
        texts = {i: t.replace(f"\n  {FOOTER}", "") for i, t in texts.items()}
    else:
        texts["footer_only"] = docs[8]["text"]
    order = table.column("id").to_pylist()
    assert sorted(order) == sorted(texts)
    assert table.column(TEXT_BYTES).to_pylist() == [len(texts[i].encode()) for i in order]

    keys = table.column("key").to_pylist()
    task = ShardTask("train", 0, order, min(keys), max(keys))
    rows = gather_shard_rows(task, [tokrun.path], keep_text=False)
    assert rows.column("id").to_pylist() == order
    assert rows.column(TEXT_BYTES).to_pylist() == [len(texts[i].encode()) for i in order]
    with pytest.raises(RuntimeError, match="without its texts"):
        gather_shard_rows(task, [tokrun.path], keep_text=True)
