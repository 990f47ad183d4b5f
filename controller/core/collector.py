"""The cyclic garbage collector paused around work that builds hundreds of thousands of objects
none of which is in a cycle that outlives it (a compile, loading and checking manifests): the
allocations kept triggering collections that rescanned everything built so far (half of a
compile at 10,000 Services, ~15-20% of a 3,000-object validate). Reference counting still frees
everything; collection resumes on leaving, and a caller's disabled collector stays disabled."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def paused() -> Iterator[None]:
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
