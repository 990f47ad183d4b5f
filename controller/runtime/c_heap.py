"""The C heap of a long-running process with many threads (the controller's status and finalizer
writes run in 16 worker threads, the informers and the firewall sync in others).

glibc gives each thread that allocates its own malloc arena, up to 8 per core, and a big pass
leaves free space in every one of them that the next pass, on another thread, does not reuse.
Two arenas are plenty for a process whose threads take turns under the GIL (the allocations
that reach malloc are the ones above pymalloc's 512 bytes: HTTP bodies, big dict tables).

glibc also serves a block of 128 KiB or more with a mapping of its own, returned to the system
when freed, but each such block freed raises that threshold to its size (up to 32 MiB): after the
first big pass, every big dict table and request body of the next ones came from the heap, where
freed blocks left ~25 MB of holes that stayed resident (at 10,000 Services: the heap 73-78 MB, of
it 50 in use; with the threshold fixed at 256 KiB, 38 MB, and the peak RSS 306 -> 295 MB). Fixing
it also fixes the heap's trim threshold (128 KiB): its free top goes back to the system as it
frees.

An operator's own MALLOC_ARENA_MAX / MALLOC_MMAP_THRESHOLD_ or glibc.malloc tunable wins."""

from __future__ import annotations

import ctypes
import os

M_MMAP_THRESHOLD = -3  # glibc's malloc.h
M_ARENA_MAX = -8
ARENAS = 2
MMAP_THRESHOLD = 256 * 1024


def tune() -> tuple[bool, bool]:
    """Both settings below, for a process about to start its threads: (arenas, mmap threshold) set."""
    return limit_arenas(), fix_mmap_threshold()


def limit_arenas(n: int = ARENAS) -> bool:
    """Cap glibc's malloc arenas at `n` (call before the process starts threads); True if set.
    False where the operator chose a value or the C library is not glibc (musl has no arenas)."""
    return _mallopt(M_ARENA_MAX, n, "MALLOC_ARENA_MAX", "arena_max")


def fix_mmap_threshold(size: int = MMAP_THRESHOLD) -> bool:
    """Blocks of `size` bytes or more get a mapping of their own, whatever was freed before; True
    if set. False where the operator chose a value or the C library is not glibc."""
    return _mallopt(M_MMAP_THRESHOLD, size, "MALLOC_MMAP_THRESHOLD_", "mmap_threshold")


def _mallopt(param: int, value: int, env: str, tunable: str) -> bool:
    if env in os.environ or tunable in os.environ.get("GLIBC_TUNABLES", ""):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(param, value))
