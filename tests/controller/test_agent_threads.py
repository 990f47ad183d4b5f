"""The agent reads its index only on the event-loop thread, which the informers feed
(call_soon_threadsafe): a read from the sync's worker thread met their updates mid-iteration
("dictionary changed size during iteration", seen in the end-to-end lab)."""

from __future__ import annotations

import asyncio
import threading

from controller.runtime.agent import Agent
from controller.runtime.index import ClusterIndex
from ipvs.memory import MemoryBackend
from tests.controller.estate import pool, service, slice_


class WatchedIndex(ClusterIndex):
    def __init__(self) -> None:
        super().__init__()
        self.readers: set[int] = set()

    def snapshot(self, **kw):  # type: ignore[no-untyped-def]
        self.readers.add(threading.get_ident())
        return super().snapshot(**kw)


def test_the_index_is_read_on_the_loop_thread_only() -> None:
    index = WatchedIndex()
    agent = Agent(node="n1", backend=MemoryBackend(), index=index, debounce=0.0)

    async def main() -> int:
        loop_thread = threading.get_ident()
        stop = asyncio.Event()
        task = asyncio.create_task(agent.run(stop))
        for body in (pool("vips", "10.80.0.0/28"), service("shop", "web", (80, 8080), ingress=["10.80.0.1"]),
                     slice_("shop", "web", [(80, 8080)], [("10.244.1.5", "n1")])):
            index.upsert(body["kind"], body)
        for _ in range(100):
            if agent.syncs:
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, 10)
        return loop_thread

    loop_thread = asyncio.run(main())
    assert agent.syncs >= 1
    assert index.readers == {loop_thread}, "the index was read from another thread"
