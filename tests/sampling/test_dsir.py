"""DSIR features and weights on toy cases computed by hand; feature counts; KL; target loading."""

import gzip
import hashlib
import json
import math
import pickle

import numpy as np
import pytest

from transforms.sampling.config import DsirConfig
from transforms.sampling.dsir import DsirScorer, calibrated_temperature, feature_kl, kl_diagnostic
from transforms.sampling.feature_counts import FeatureCounts
from transforms.sampling.ngrams import NgramHasher
from transforms.sampling.targets import load_target_texts

BIG = 1 << 20  # enough buckets that the toy words do not collide (checked)


def test_log_ratio_matches_the_hand_computed_value():
    cfg = DsirConfig(buckets=BIG, ngram_orders=[1], smoothing=1.0)
    hasher = NgramHasher(BIG, [1])
    _, cols = hasher.bucket_ids(["a b c"])
    assert len(set(cols.tolist())) == 3
    scorer = DsirScorer.fit(["a a b"], ["A c"], cfg)  # lower-cased: "A" is "a"
    # target counts a:2 b:1 (total 3); raw a:1 c:1 (total 2); add-one smoothing over BIG buckets.
    pt = {"a": 3 / (3 + BIG), "b": 2 / (3 + BIG), "c": 1 / (3 + BIG)}
    pr = {"a": 2 / (2 + BIG), "b": 1 / (2 + BIG), "c": 2 / (2 + BIG)}
    expected = sum(math.log(pt[w]) - math.log(pr[w]) for w in "abc")
    got = scorer.log_ratio(["a b c", "c c", ""])
    assert got[0] == pytest.approx(expected, rel=1e-9)
    assert got[1] == pytest.approx(2 * (math.log(pt["c"]) - math.log(pr["c"])), rel=1e-9)
    assert got[2] == 0.0
    assert got[0] > 0 > got[1]  # "a b" is target-like, "c" raw-like


def test_words_and_punctuation_come_from_one_regex_and_bigrams_stay_inside_documents():
    h = NgramHasher(BIG, [1, 2])
    assert h.words("Hello, World!! x_y 42") == ["hello", ",", "world", "!!", "x_y", "42"]
    together = h.features(["alpha beta", "gamma"]).toarray()
    apart = np.vstack([h.features(["alpha beta"]).toarray(), h.features(["gamma"]).toarray()])
    assert np.array_equal(together, apart)
    assert together[0].sum() == 3 and together[1].sum() == 1  # 2 unigrams + 1 bigram; 1 unigram


def test_scores_do_not_depend_on_the_batch_and_the_scorer_pickles_small():
    texts = [f"line {i} of the manual page for tool{i % 7}" for i in range(300)] + [None]
    scorer = DsirScorer.fit(texts[:100], ["def f(x): return x + 1"] * 50, DsirConfig(buckets=4096))
    batch = scorer.log_ratio(texts)
    one_by_one = np.array([scorer.log_ratio([t])[0] for t in texts])
    assert np.array_equal(batch, one_by_one)  # bitwise
    np.testing.assert_allclose(
        batch, scorer.hasher.features(texts) @ scorer.log_diff, rtol=1e-12, atol=1e-12
    )
    clone = pickle.loads(pickle.dumps(scorer))
    assert np.array_equal(clone.log_ratio(texts), batch)
    assert len(pickle.dumps(scorer)) < 100_000


def test_temperature_is_fixed_or_calibrated_on_the_raw_sample():
    target = [f"see the manual page {i} for options" for i in range(20)]
    raw = [f"def f{i}(x): return x" for i in range(30)] + target[:10]
    fixed = DsirScorer.fit(target, raw, DsirConfig(buckets=512, temperature=1.0))
    assert fixed.temperature == 1.0
    assert np.array_equal(fixed.log_weight(raw), fixed.log_ratio(raw))
    auto = DsirScorer.fit(target, raw, DsirConfig(buckets=512))
    q25, q75 = np.quantile(auto.log_ratio(raw), [0.25, 0.75])
    assert auto.temperature == pytest.approx(1.349 / (q75 - q25))
    assert np.allclose(auto.log_weight(raw), auto.temperature * auto.log_ratio(raw))
    assert auto.describe()["temperature"] == auto.temperature
    assert calibrated_temperature(np.zeros(10)) == 1.0  # no spread: no rescaling


def test_fit_fails_fast_on_an_empty_target():
    with pytest.raises(ValueError, match="target sample has no words"):
        DsirScorer.fit(["", "   "], ["some raw text"], DsirConfig(buckets=64))


def test_feature_counts_merge_like_one_pass_and_labels_do_not_depend_on_the_split():
    texts = [f"the {w} command prints {w} output" for w in ("ls", "cat", "grep", "sed", "awk")] * 20
    h = NgramHasher(64, [1, 2])
    whole = FeatureCounts(h, labels=True).add_texts(texts)
    parts = [FeatureCounts(h, labels=True).add_texts(texts[i::3]) for i in range(3)]
    merged = parts[2].merge(parts[0]).merge(parts[1])
    assert np.array_equal(whole.counts, merged.counts)
    assert whole.labels == merged.labels and whole.docs == merged.docs == 100
    assert set(whole.labels) == set(np.flatnonzero(whole.counts).tolist())
    back = FeatureCounts.from_json(json.loads(json.dumps(whole.to_json())))
    assert np.array_equal(back.counts, whole.counts) and back.labels == whole.labels


def test_selecting_target_like_documents_lowers_the_kl_to_the_target():
    man = [
        f"{t} - print the {w} of a file; see also {t}(1)"
        for t, w in zip("abcdefgh", ["lines", "words", "bytes", "names", "modes"] * 2, strict=False)
    ]
    code = [f"def f{i}(x):\n    return x * {i} + self.value" for i in range(40)]
    cfg = DsirConfig(buckets=2048)
    scorer = DsirScorer.fit(man[:4], man + code, cfg)
    ratios = scorer.log_ratio(man + code)
    top = [t for _, t in sorted(zip(ratios, man + code, strict=True), reverse=True)[:8]]
    rnd = (man + code)[::6][:8]
    sel = FeatureCounts(scorer.hasher).add_texts(top)
    base = FeatureCounts(scorer.hasher).add_texts(rnd)
    diag = kl_diagnostic(scorer, sel, base)
    assert diag["kl_selected"] < diag["kl_random"] and diag["relative_reduction"] > 0.3
    assert feature_kl(scorer.target_probs, sel.counts) == diag["kl_selected"]


def test_target_loading_reads_jsonl_gz_and_text_files_and_skips_bad_lines(tmp_path):
    with gzip.open(tmp_path / "t.jsonl.gz", "wt") as fh:
        fh.write(
            json.dumps({"text": "first target"}) + "\n{broken\n" + json.dumps({"body": "x"}) + "\n"
        )
        fh.write(json.dumps({"text": "second target"}) + "\n")
    (tmp_path / "page.txt").write_text("a whole file is one document")
    body = b"".join(
        json.dumps({"text": hashlib.sha256(bytes([i])).hexdigest()}).encode() + b"\n"
        for i in range(200)
    )
    data = gzip.compress(body)
    (tmp_path / "cut.jsonl.gz").write_bytes(data[: len(data) // 2])
    sample = load_target_texts([str(tmp_path / "*")], max_docs=1000)
    assert "first target" in sample.texts and "second target" in sample.texts
    assert "a whole file is one document" in sample.texts
    # Beam reads a cut gzip stream up to the cut: its partial last line is skipped like "{broken"
    # and the line without a text field.
    assert sample.skipped_lines == 3 and sample.files == 3
    assert len(load_target_texts([str(tmp_path / "t.jsonl.gz")], max_docs=1).texts) == 1


def test_fit_from_config_reads_the_target_files(tmp_path):
    from transforms.sampling.targets import fit_dsir_scorer

    (tmp_path / "t.jsonl").write_text(
        "\n".join(json.dumps({"body": f"ls lists files {i}"}) for i in range(5))
    )
    cfg = DsirConfig(
        enabled=True, target_paths=[str(tmp_path / "*.jsonl")], text_field="body", buckets=256
    )
    scorer, sample = fit_dsir_scorer(cfg, ["import os", "def f(): pass"])
    assert len(sample.texts) == 5
    assert scorer.log_ratio(["ls lists files"])[0] > scorer.log_ratio(["import os"])[0]
    with pytest.raises(ValueError, match="target sample has no words"):
        fit_dsir_scorer(
            DsirConfig(enabled=True, target_paths=[str(tmp_path / "*.jsonl")], buckets=256), ["x"]
        )
