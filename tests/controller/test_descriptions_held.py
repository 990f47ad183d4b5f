"""What a compile leaves behind once it is let go: only the names' cache (each name is asked for
~3 times per compile). Descriptions are each their own object's (a full compile at 10,000
Services renders 50,052, none twice): a cache of them held ~38 MB at a big compile's peak, and
kept growing between big compiles as small ones rendered new ones."""

from __future__ import annotations

import gc
import sys
import tracemalloc
from pathlib import Path

from controller.core import naming
from controller.core.compile_cache import CompileCache
from controller.core.compiler import compile
from controller.core.snapshot import Snapshot

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from offline import estate


def test_once_a_compile_is_let_go_only_the_names_cache_is_left() -> None:
    snap = Snapshot.of(estate(60))
    compile(snap)  # templates, macros and everything else loaded once
    naming.forget()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        compiled = compile(snap, cache=CompileCache())
        assert compiled.firewalls
        del compiled
        gc.collect()
        left = tracemalloc.get_traced_memory()[0] - before
        naming.forget()  # the names' cache alone
        gc.collect()
        beyond = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert left > 50_000  # the names' cache: 60 Services' names
    assert beyond < left / 20, (left, beyond)
