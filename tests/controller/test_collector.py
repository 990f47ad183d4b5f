"""The controller's heap after a reconcile (controller/core/collector.py, Settled): survivors are
frozen out of the collector's scans, and garbage cycles are still freed by the periodic full
collection at a quiet moment."""

from __future__ import annotations

import gc
import os
import weakref
from collections.abc import Iterator

import pytest

from controller.core.collector import Settled, _malloc_trim


class Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the cyclic collector frees it


@pytest.fixture(autouse=True)
def _thawed() -> Iterator[None]:
    yield
    gc.unfreeze()
    gc.enable()


def test_survivors_are_frozen_and_a_frozen_cycle_is_freed_by_the_full_collection() -> None:
    now = [0.0]
    heap = Settled(every=600.0, clock=lambda: now[0])
    node = Node()
    ref = weakref.ref(node)
    heap.after_work(quiet=True)  # not due yet: young generations only, then frozen
    assert gc.get_freeze_count() > 0
    del node
    gc.collect()
    assert ref() is not None  # frozen: the collector does not look at it
    now[0] = 599.0
    heap.after_work(quiet=True)
    assert ref() is not None
    now[0] = 601.0
    heap.after_work(quiet=False)  # due, but changes are pending: not now
    assert ref() is not None
    heap.after_work(quiet=True)
    assert ref() is None
    assert gc.get_freeze_count() > 0  # what survived is frozen again


def test_a_young_cycle_is_collected_not_frozen() -> None:
    heap = Settled(every=600.0, clock=lambda: 0.0)
    gc.collect()
    node = Node()
    ref = weakref.ref(node)
    del node
    heap.after_work(quiet=False)
    assert ref() is None


def test_a_disabled_collector_is_left_alone() -> None:
    gc.disable()
    heap = Settled(every=0.0, clock=lambda: 1.0)
    before = gc.get_freeze_count()
    heap.after_work(quiet=True)
    assert gc.get_freeze_count() == before


def test_changes_that_never_stop_do_not_put_the_full_collection_off_for_ever() -> None:
    now = [0.0]
    heap = Settled(every=600.0, clock=lambda: now[0])
    node = Node()
    ref = weakref.ref(node)
    heap.after_work(quiet=False)
    del node
    for t in (600.0, 1200.0, 1799.0):  # due, but never a quiet moment
        now[0] = t
        heap.after_work(quiet=False)
        assert ref() is not None
    now[0] = 1800.0
    heap.after_work(quiet=False)
    assert ref() is None


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.skipif(_malloc_trim() is None or not os.path.exists("/proc/self/statm"),
                    reason="no malloc_trim in this C library")
def test_the_c_heaps_free_pages_go_back_to_the_system_after_work() -> None:
    blocks = [bytes(4000) for _ in range(20000)]  # ~80 MB from the C heap (past pymalloc's 512 B)
    kept = blocks[::16]  # what survives pins the heap: free() alone cannot shrink it
    del blocks
    before = _rss_mb()
    Settled(every=600.0, clock=lambda: 0.0).after_work(quiet=False)
    assert before - _rss_mb() > 40
    assert len(kept) == 1250
