"""Which Beam runners execute the whole pipeline on this machine (one home for the list).

On these every PCollection already lives in this machine's memory (docs/architecture.md,
"Scale"), so the local fast paths (shard external sort, one union-find) are chosen there by
`auto` settings, and the distributed paths everywhere else.
"""

from __future__ import annotations

LOCAL_RUNNERS = frozenset(
    {
        "FnApiRunner",
        "DirectRunner",
        "SwitchingDirectRunner",
        "BundleBasedDirectRunner",
        "PrismRunner",
    }
)


def is_local_runner(runner) -> bool:
    """A runner name (`--runner` value, dotted or not), class or instance that runs in-process."""
    if runner is None:
        return True  # curate's default is the embedded FnApiRunner
    if not isinstance(runner, str):
        runner = type(runner).__name__ if not isinstance(runner, type) else runner.__name__
    return runner.rsplit(".", 1)[-1] in LOCAL_RUNNERS
