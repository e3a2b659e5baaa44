"""BoilerplateLines over documents, and the stage-1 featurizer."""

import pickle

import apache_beam as beam
import numpy as np
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from transforms.dedup.boilerplate import BoilerplateLines, merge_counts
from transforms.dedup.config import BoilerplateConfig, DedupConfig
from transforms.dedup.features import DedupFeaturizer
from transforms.dedup.rolling import line_hashes, strip_boilerplate

NAV = "Home | Products | About us | Contact | Careers | Press room"
FOOT = "This site uses cookies to improve your experience, see policy."


def _docs():
    docs = [
        f"{NAV}\nArticle {i}: a unique body sentence number {i} about topic {i % 7}.\n{FOOT}"
        for i in range(8)
    ]
    docs += [f"{NAV}\nOnly the nav bar repeats here, with its own long body {i}." for i in range(3)]
    docs.append(f"{NAV}\n{NAV}\n{NAV}")  # a document repeating a line counts once
    return docs


def test_boilerplate_lines_counts_documents_not_occurrences():
    cfg = BoilerplateConfig(min_docs=8, min_line_chars=20)
    blobs = [line_hashes(d, cfg.min_line_chars).tobytes() for d in _docs()] + [b"bad"]
    with TestPipeline(runner="FnApiRunner") as p:
        out = p | beam.Create(blobs) | BoilerplateLines(cfg, flush_hashes=7)
        assert_that(
            out | beam.Map(lambda a: a.tolist()), equal_to([sorted(line_hashes(NAV, 1).tolist())])
        )
    hashes = np.sort(np.concatenate([line_hashes(NAV, 1), line_hashes(FOOT, 1)]))
    text, n = strip_boilerplate(_docs()[0], hashes)
    assert n == 2 and text == "Article 0: a unique body sentence number 0 about topic 0."


def test_merge_counts_sums_equal_hashes():
    a = (np.array([1, 5, 9], np.uint64), np.array([1, 2, 3]))
    b = (np.array([5, 7], np.uint64), np.array([10, 1]))
    h, c = merge_counts([a, b])
    assert h.tolist() == [1, 5, 7, 9] and c.tolist() == [1, 12, 1, 3]


def test_featurizer_outputs_and_disabled_stages():
    cfg = DedupConfig()
    feats = DedupFeaturizer(cfg, seed=0)
    clone = pickle.loads(pickle.dumps(feats))
    out = clone.featurize(["a b c d e f g", f"{NAV}\nbody"])
    assert len(out) == 2 and len(out[0].minhash) == 4 * cfg.near.num_perm
    assert (
        np.frombuffer(out[1].line_hashes, "<u8").tolist()
        == line_hashes(f"{NAV}\nbody", 40).tolist()
    )
    assert out == feats.featurize(["a b c d e f g", f"{NAV}\nbody"])
    cfg.near.enabled = False
    cfg.boilerplate.enabled = False
    assert DedupFeaturizer(cfg, 0).featurize(["x"])[0] == (None, None)
