"""The cyclic garbage collector paused around work that builds hundreds of thousands of objects
none of which is in a cycle that outlives it (a compile, loading and checking manifests): the
allocations kept triggering collections that rescanned everything built so far (half of a
compile at 10,000 Services, ~15-20% of a 3,000-object validate). Reference counting still frees
everything; collection resumes on leaving, and a caller's disabled collector stays disabled."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import gc
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def paused() -> Iterator[None]:
    with Pause():
        yield


class Pause:
    """`paused()` that its holder may end early (`resume`). A reconcile after a small change keeps
    the collector paused to its end: the first young collection after a compile scans everything
    the compile built (~0.25 s at 10,000 Services), and the reconcile's end collects and freezes it
    anyway (`Settled.after_work`). A burst's reconcile resumes right after its compile."""

    def __init__(self) -> None:
        self._was = False

    def __enter__(self) -> Pause:
        self._was = gc.isenabled()
        gc.disable()
        return self

    def resume(self) -> None:
        if self._was:
            gc.enable()
            self._was = False

    def __exit__(self, *exc: object) -> None:
        self.resume()


class Settled:
    """A long-running process whose heap is mostly long-lived (the controller's index and compile
    cache at 10,000 Services: millions of objects) pays for every full collection a rescan of all of
    it: ~1.7 s landing inside one reconcile in two, for a one-Service change. After each reconcile
    the survivors are frozen (gc.freeze: the collector no longer scans them; reference counting
    still frees them), and every `every` seconds, at a quiet moment, everything is collected once
    (cycles that became garbage after they were frozen are freed then). Changes that never stop (a
    tenant re-applying an object every second) cannot put that off for ever: at three periods it
    runs anyway."""

    def __init__(self, *, every: float, clock: Callable[[], float]) -> None:
        self.every = every
        self._clock = clock
        self._last = clock()

    def after_work(self, *, quiet: bool) -> None:
        if not gc.isenabled():
            return  # the process manages its collector itself
        waited = self._clock() - self._last
        if (quiet and waited >= self.every) or waited >= 3 * self.every:
            gc.unfreeze()
            gc.collect()
            self._last = self._clock()
        else:
            gc.collect(1)  # the young generations only: cheap, and no young cycle is frozen
        gc.freeze()
        trim = _malloc_trim()
        if trim is not None:
            trim(0)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim: the C heap's free pages handed back to the system (a big reconcile's
    transient memory, ~50 MB at 10,000 Services, stayed in the process's RSS for good); a few ms.
    None where the C library has none (musl, macOS)."""
    try:
        return ctypes.CDLL(None).malloc_trim  # type: ignore[no-any-return]
    except (OSError, AttributeError):
        return None
