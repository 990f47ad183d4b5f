"""Many independent API writes at once: each in a worker thread, one failure stopping none."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


def each(items: Sequence[T], one: Callable[[T], int], *, workers: int = 16) -> int:
    """Call `one` on every item (it logs and returns 0 for a failure, 1 for a success); the sum.
    Two or fewer run inline: a pool costs more than it saves."""
    if len(items) <= 2:
        return sum(map(one, items))
    with ThreadPoolExecutor(min(workers, len(items))) as pool:
        return sum(pool.map(one, items))
