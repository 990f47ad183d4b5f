"""Writing the status updates controller/core/status.py decides: statuses, then their Events."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from controller.core.problems import ObjectRef
from controller.core.status import Update
from controller.runtime import fanout

log = logging.getLogger("bmlb.status")


Pending = tuple[ObjectRef, str, str, str, str]  # an Event to post: ref, uid, type, reason, message


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
