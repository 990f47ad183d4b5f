"""Statuses are made and written a chunk of objects at a time: every object's update is written,
in the objects' order, and the updates of a chunk are gone before the next chunk's are made (a
burst's 20,000 status updates were all alive at once)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from controller.core.problems import ObjectRef
from controller.core.status import Update
from controller.runtime import status_writer


class Alive:
    """Counts its instances still alive."""

    count = 0
    lock = threading.Lock()

    def __init__(self) -> None:
        with Alive.lock:
            type(self).count += 1

    def __del__(self) -> None:
        with Alive.lock:
            type(self).count -= 1


class Held(Alive):
    """A body's part: counted apart from the updates."""

    count = 0


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 40), chunk=st.integers(1, 9), current=st.sets(st.integers(0, 39)))
def test_every_update_written_in_order_a_chunk_alive_at_a_time(n: int, chunk: int, current: set[int]) -> None:
    refs = [ObjectRef("NATRule", f"ns{i % 3}", f"r{i:02d}") for i in range(n)]
    Held.count = 0
    bodies = {ref: {"i": i, "held": Held()} for i, ref in enumerate(reversed(refs))}  # not in the objects' order
    want = sorted(ref for ref, body in bodies.items() if body["i"] not in current)
    made: list[int] = []
    peak = [0]

    def desired(part: dict[ObjectRef, Any]) -> list[Update]:
        assert 0 < len(part) <= chunk
        made.append(len(part))
        # the bodies of the chunks made before are let go (their echoes replace them meanwhile)
        assert Held.count == n - sum(made[:-1])
        peak[0] = max(peak[0], Alive.count)
        out = [Update(ref, "uid", {"x": Alive(), "name": ref.name}, ())
               for ref, body in part.items() if body["i"] not in current]
        return sorted(out, key=lambda u: u.ref)

    written: list[ObjectRef] = []
    Alive.count = 0
    count = asyncio.run(status_writer.write_chunks(
        bodies, desired, patch=lambda ref, status: written.append(ref), event=lambda *a, **k: None, chunk=chunk))
    assert sorted(written) == want and count == len(want)
    assert sum(made) == n
    assert peak[0] == 0, "a chunk's updates were still alive when the next chunk was made"
    assert Alive.count == 0


def test_events_are_collected_for_later_in_order_of_writing() -> None:
    refs = [ObjectRef("Service", "ns", f"s{i}") for i in range(5)]

    def desired(part: dict[ObjectRef, Any]) -> list[Update]:
        return [Update(ref, f"uid-{ref.name}", {}, (("Normal", "IPAllocated", ref.name),)) for ref in sorted(part)]

    later: list[status_writer.Pending] = []
    posted: list[Any] = []
    count = asyncio.run(status_writer.write_chunks(
        {ref: {} for ref in refs}, desired, patch=lambda ref, status: None,
        event=lambda *a, **k: posted.append(a), later=later, chunk=2))
    assert count == 5 and not posted
    assert sorted(e[0] for e in later) == refs
    assert {e[1] for e in later} == {f"uid-s{i}" for i in range(5)}
