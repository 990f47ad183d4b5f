"""The C heap of a long-running process with many threads (the controller's status and finalizer
writes run in 16 worker threads, the informers and the firewall sync in others).

glibc gives each thread that allocates its own malloc arena, up to 8 per core, and a big pass
leaves free space in every one of them that the next pass, on another thread, does not reuse.
Two arenas are plenty for a process whose threads take turns under the GIL (the allocations
that reach malloc are the ones above pymalloc's 512 bytes: HTTP bodies, big dict tables). An
operator's own MALLOC_ARENA_MAX or glibc.malloc.arena_max tunable wins."""

from __future__ import annotations

import ctypes
import os

M_ARENA_MAX = -8  # glibc's malloc.h
ARENAS = 2


def limit_arenas(n: int = ARENAS) -> bool:
    """Cap glibc's malloc arenas at `n` (call before the process starts threads); True if set.
    False where the operator chose a value or the C library is not glibc (musl has no arenas)."""
    if "MALLOC_ARENA_MAX" in os.environ or "arena_max" in os.environ.get("GLIBC_TUNABLES", ""):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_ARENA_MAX, n))
