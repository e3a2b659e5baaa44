"""Fewer glibc malloc arenas for curate's processes (the local runner and its workers).

glibc gives each thread that allocates concurrently its own arena (up to 8 per core), and an
arena keeps the memory it once held. A Beam worker has dozens of threads (gRPC, bundle
processors, state), so its resident memory settles far above what it uses: measured on the
400k-document scale corpus, the process tree peaked at 2.89 GB with glibc's default and
2.46 GB with two arenas (benchmarks/RESULTS.md, "Scale"). Python holds the GIL around almost all
of its allocations, so fewer arenas cost no measurable contention. A user's own
`MALLOC_ARENA_MAX` wins; other C libraries (musl, macOS) are left alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

_M_ARENA_MAX = -8  # glibc's mallopt parameter number
ARENAS = 2


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Caps glibc's malloc arenas for this process (threads created from now on); True if set."""
    if os.environ.get("MALLOC_ARENA_MAX"):
        return False  # the user's choice; glibc read it at start-up
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    return bool(mallopt(_M_ARENA_MAX, arenas))
