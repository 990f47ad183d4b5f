"""Writing the status updates controller/core/status.py decides: statuses, then their Events."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from controller.core import collector
from controller.core.problems import ObjectRef
from controller.core.snapshot import Body
from controller.core.status import Update
from controller.runtime import fanout

log = logging.getLogger("bmlb.status")


Pending = tuple[ObjectRef, str, str, str, str]  # an Event to post: ref, uid, type, reason, message

#: Objects whose statuses are made and written together: each chunk's updates are garbage once
#: written (all 20,000 of a 10,000-Service estate's CRs made at once were ~25 MB of the peak).
CHUNK = 2000


async def write_chunks(bodies: dict[ObjectRef, Body], desired: Callable[[dict[ObjectRef, Body]], list[Update]],
                       *, patch: Callable[[ObjectRef, dict[str, Any]], None], event: Callable[..., None],
                       later: list[Pending] | None = None, chunk: int = CHUNK) -> int:
    """`desired` (controller/core/status.py) of these objects and `write` of its updates, a chunk of
    objects at a time, in the objects' order; how many updates there were. `bodies` is emptied as
    it goes: a chunk's bodies are let go once its updates are made, since the echoes of its writes
    replace them in the index while later chunks are written (held to the end, 13,000 old bodies
    of a burst lived beside their echoes)."""
    refs = sorted(bodies)
    count = 0
    for start in range(0, len(refs), chunk):
        with collector.paused():
            updates = desired({ref: bodies.pop(ref) for ref in refs[start:start + chunk]})
        count += len(updates)
        if updates:
            await asyncio.to_thread(write, updates, patch=patch, event=event, later=later)
        updates.clear()  # before the next chunk's are made (the worker thread may still hold the list)
    return count


def write(updates: list[Update], *, patch: Callable[[ObjectRef, dict[str, Any]], None],
          event: Callable[..., None], workers: int = 16, later: list[Pending] | None = None) -> int:
    """Write every update (status, then its Events); one object's failure never stops the others.
    With `later`, the Events of the written statuses are collected there instead, for `post`."""
    def one(u: Update) -> int:
        try:
            patch(u.ref, u.status)
        except Exception as err:
            log.warning("status of %s not written: %s", u.ref, err)
            return 0
        for type_, reason, message in u.events:
            if later is not None:
                later.append((u.ref, u.uid, type_, reason, message))  # list.append is atomic
            else:
                event(u.ref, uid=u.uid, type_=type_, reason=reason, message=message)
        return 1

    return fanout.each(updates, one, workers=workers)


def post(events: list[Pending], event: Callable[..., None], *, workers: int = 16) -> int:
    """Post collected Events; one that fails is logged and never stops the others."""
    def one(e: Pending) -> int:
        ref, uid, type_, reason, message = e
        try:
            event(ref, uid=uid, type_=type_, reason=reason, message=message)
        except Exception as err:
            log.warning("event %s of %s not posted: %s", reason, ref, err)
            return 0
        return 1

    return fanout.each(events, one, workers=workers)


@contextlib.asynccontextmanager
async def posting(events: list[Pending], post_one: Callable[..., None]) -> AsyncIterator[None]:
    """Post `events` in a worker thread while the body runs; done before leaving, whatever happens."""
    task = asyncio.ensure_future(asyncio.to_thread(post, events, post_one))
    try:
        yield
    finally:
        await task
