"""Writing the status updates controller/core/status.py decides: statuses, then their Events."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from controller.core.problems import ObjectRef
from controller.core.status import Update

log = logging.getLogger("bmlb.status")


def write(updates: list[Update], *, patch: Callable[[ObjectRef, dict[str, Any]], None],
          event: Callable[..., None], workers: int = 16) -> int:
    """Write every update (status, then its Events); one object's failure never stops the others."""
    def one(u: Update) -> int:
        try:
            patch(u.ref, u.status)
        except Exception as err:
            log.warning("status of %s not written: %s", u.ref, err)
            return 0
        for type_, reason, message in u.events:
            event(u.ref, uid=u.uid, type_=type_, reason=reason, message=message)
        return 1

    if len(updates) <= 2:
        return sum(map(one, updates))
    with ThreadPoolExecutor(min(workers, len(updates))) as pool:
        return sum(pool.map(one, updates))
