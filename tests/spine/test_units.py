import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipelines.config import load_config
from train.typed_config import ConfigError
from transforms.dedup.exact import ExactDedup, ResolveDuplicateIds
from transforms.infra.accounting import Tally, accounting_from_tally, accounting_problems
from transforms.infra.hashing import content_key, shuffle_key
from transforms.infra.record import Record, RecordCoder
from transforms.infra.spill import DocMeta
from transforms.stages.normalize import Normalizer
from transforms.stages.shards import plan_shards


def test_normalizer():
    n = Normalizer(collapse_spaces=True)
    assert n("  a\u00a0\u00a0b \r\n\r\n\r\n\r\n\r\n\x07c\t\td  \n e\u0301 ") == "a b\n\n\nc d\n é"
    code = "def f():\n    return  1\n"
    assert n(code) == "def f():\n    return 1"  # indentation kept, interior run collapsed
    assert Normalizer()(code) == "def f():\n    return  1"  # default: spaces untouched
    assert Normalizer(unicode_form="none", collapse_spaces=False)("a  b") == "a  b"
    assert n("\x00\x01 \n ") == ""


def test_record_coder_round_trip():
    rec = Record("i", "tëxt", "s", {"quality": 0.5, "_pos": 3, "groups": ["a"]})
    assert RecordCoder().decode(RecordCoder().encode(rec)) == rec


def test_hashes_are_stable():
    assert content_key("abc") == content_key("abc") != content_key("abd")
    assert len(content_key("abc")) == 16
    assert shuffle_key("x", 1) != shuffle_key("x", 2)
    assert 0 <= shuffle_key("x", 1) < 2**63


def _meta(pos, id_, text, q=0.0):
    return DocMeta(pos, id_, "s", content_key(text), len(text), q)


def test_duplicate_ids_keep_first_position():
    metas = [_meta(5, "a", "x"), _meta(2, "a", "y"), _meta(3, "b", "z")]
    with TestPipeline(runner="FnApiRunner") as p:
        out = p | beam.Create(metas) | ResolveDuplicateIds()
        assert_that(out["kept"] | "k" >> beam.Map(lambda m: m.pos), equal_to([2, 3]), label="kept")
        assert_that(out["losers"], equal_to([(5, "a", "s", 2, 0)]), label="losers")


@pytest.mark.parametrize("keep,expected", [("longest", "b"), ("quality", "c"), ("first_id", "a")])
def test_exact_dedup_keep_rules(keep, expected):
    metas = [
        _meta(1, "b", "same"),
        _meta(2, "a", "same"),
        _meta(3, "c", "same", q=0.9),
        _meta(4, "d", "other"),
    ]
    metas[0] = metas[0]._replace(n_chars=10)  # "b" is the longest copy
    with TestPipeline(runner="FnApiRunner") as p:
        out = p | beam.Create(metas) | ExactDedup(keep)
        assert_that(
            out["kept"] | beam.Map(lambda m: m.id), equal_to(sorted([expected, "d"])), label="kept"
        )
        assert_that(
            out["removed"] | beam.Map(lambda r: (r.stage, r.kept_id)),
            equal_to([("exact", expected)] * 2),
            label="removed",
        )


def test_plan_shards_exact_sizes_and_order():
    selected = [(f"d{i}", "train") for i in range(25)] + [(f"e{i}", "eval") for i in range(3)]
    tasks = plan_shards(selected, seed=3, rows_per_shard=10)
    train = [t for t in tasks if t.split == "train"]
    assert [len(t.ids) for t in train] == [10, 10, 5]
    assert sorted(i for t in train for i in t.ids) == sorted(d for d, s in selected if s == "train")
    assert all(a.hi < b.lo for a, b in zip(train, train[1:], strict=False))
    assert plan_shards(list(reversed(selected)), 3, 10) == tasks  # order of input is irrelevant


def test_accounting_check():
    t = Tally()
    t.add("read", "", "s", n=5)
    t.add("written", "", "s", n=3)
    t.add("dead_letter", "malformed_json", "s")
    acc = accounting_from_tally(t)
    assert accounting_problems(acc)  # one record unaccounted for
    t.add("removed", "exact", "s")
    assert accounting_problems(accounting_from_tally(t)) == []


def test_config_errors_are_listed_together(tmp_path):
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(
        "run: {workers: -1}\ninput: {sources: [{name: a, paths: [nope*]}]}\nshards: {rows_per_shard: x}\nbogus: 1\n"
    )
    with pytest.raises(ConfigError) as err:
        load_config(str(cfg_file))
    text = str(err.value)
    for needle in (
        "bogus: unknown key",
        "rows_per_shard: expected an integer",
        "workers must be >= 0",
        "no file matches 'nope*'",
    ):
        assert needle in text


def test_config_overrides_and_input_flag(tmp_path):
    (tmp_path / "x.jsonl").write_text('{"text": "hi"}\n')
    cfg = load_config(
        None,
        ["shards.rows_per_shard=7", "run.seed=9"],
        [str(tmp_path / "*.jsonl")],
        str(tmp_path / "out"),
    )
    assert cfg.shards.rows_per_shard == 7 and cfg.run.seed == 9
    assert cfg.input.sources[0].paths == [str(tmp_path / "*.jsonl")]
    assert cfg.run.output == str(tmp_path / "out")
    with pytest.raises(ConfigError, match="no input"):
        load_config(None)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(str(tmp_path / "missing.yaml"))


def test_shard_rows_gathered_without_texts_carry_their_utf8_sizes(tmp_path):
    """A shard that neither stores nor feeds the texts gathers their sizes instead: the same
    rows, and the written-bytes tally reads the same UTF-8 sizes."""
    import pyarrow as pa

    from transforms.infra.hashing import shuffle_key
    from transforms.stages.apply_decisions import tokrun_schema
    from transforms.stages.shards import TEXT_BYTES, gather_shard_rows, plan_shards

    ids = [f"d{i}" for i in range(12)]
    texts = ["ascii", "héllo wörld", "日本語", "x" * 40] * 3
    rows = sorted((shuffle_key(d, 3), d, t) for d, t in zip(ids, texts, strict=True))
    schema = tokrun_schema([])
    table = pa.table(
        {
            "key": [r[0] for r in rows],
            "id": [r[1] for r in rows],
            "source": ["s"] * len(rows),
            "input_ids": [[1, 2]] * len(rows),
            "n_tokens": [2] * len(rows),
            "dedup_cluster": [""] * len(rows),
            "text": [r[2] for r in rows],
            "content_key": [bytes(16)] * len(rows),
        },
        schema=schema,
    )
    path = str(tmp_path / "run.arrow")
    with pa.OSFile(path, "wb") as fh, pa.ipc.new_file(fh, schema) as writer:
        writer.write_table(table)
    (task,) = plan_shards([(d, "train") for d in ids[:9]], 3, 100)
    full = gather_shard_rows(task, [path])
    lean = gather_shard_rows(task, [path], keep_text=False)
    assert "text" not in lean.column_names
    assert lean.column(TEXT_BYTES).to_pylist() == [
        len(t.encode()) for t in full.column("text").to_pylist()
    ]
    assert lean.drop_columns([TEXT_BYTES]).equals(full.drop_columns(["text"]))
    assert lean.num_rows == 9


def test_normalizer_fast_path_matches_line_by_line_stripping():
    """Texts without a blank-ended line skip the line split; the result is what stripping every
    line gives (the last line's blanks go with the final strip, even before a blank run)."""
    import random
    import re

    def reference(text: str, max_blank: int) -> str:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        text = "\n".join(line.rstrip(" \t") for line in text.split("\n"))
        text = re.sub(rf"\n{{{max_blank + 2},}}", "\n" * (max_blank + 1), text)
        return text.strip()

    rng = random.Random(7)
    alphabet = ["a", " ", "\t", "\n", "\r", "\u00a0", "\u2028", "é", "\n\n\n"]
    for max_blank in (0, 1, 2):
        norm = Normalizer(unicode_form="none", strip_control=False, max_blank_lines=max_blank)
        for _ in range(3000):
            text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24)))
            assert norm(text) == reference(text, max_blank), repr(text)
    assert Normalizer()("a  \nb\t\n\n\n\n c \t") == "a\nb\n\n\n c"
