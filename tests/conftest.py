"""Suite-wide settings: no hub access, quiet Beam, and files with `slow` tests scheduled first."""

import logging
import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
logging.getLogger("apache_beam").setLevel(logging.ERROR)


# `make test` runs `pytest -n auto --dist loadfile`: whole files go to the workers in a queue.
# xdist's default queue orders files by their number of tests, most first, which puts the
# slowest files of this suite (one or two long end-to-end tests each: the README commands, the
# portable runner, the GPU-script CPU path, ...) at the very end, where one worker runs them
# while the other has nothing left to do. So the queue is the collection order instead, and the
# collection puts every file holding a `@pytest.mark.slow` test first (longest work first keeps
# the workers' finishing times close; among them the fewest tests first: one long test cannot be
# shared out), then the others by test count, most first, as xdist would.
def pytest_configure(config):
    if getattr(config.option, "dist", "no") == "loadfile" and hasattr(
        config.option, "loadscopereorder"
    ):
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(session, config, items):
    by_file: dict[str, list[pytest.Item]] = {}
    for item in items:
        by_file.setdefault(item.nodeid.split("::", 1)[0], []).append(item)

    def key(path: str) -> tuple[bool, int]:
        n = len(by_file[path])
        if any(item.get_closest_marker("slow") for item in by_file[path]):
            return (False, n)
        return (True, -n)

    items[:] = [item for path in sorted(by_file, key=key) for item in by_file[path]]
