"""The selection join: each candidate gets exactly one fate, and a lost one stops the run."""

import pytest

from transforms.sampling.stage import _fate


def test_fate_of_selected_and_sampled_out_candidates():
    assert _fate(("a", {"cand": [("code", "run1")], "sel": ["train"]})) == (
        "a",
        "code",
        "train",
        "run1",
    )
    assert _fate(("b", {"cand": [("man", "run2")], "sel": []})) == ("b", "man", None, "run2")


@pytest.mark.parametrize("cands", [[], [("code", "run1"), ("code", "run1")]])
def test_a_lost_or_repeated_candidate_stops_the_run(cands):
    with pytest.raises(RuntimeError, match="lost or repeated") as err:
        _fate(("a", {"cand": cands, "sel": ["train"]}))
    assert "running_mode: in_memory" in str(err.value)  # the way out, in the message
