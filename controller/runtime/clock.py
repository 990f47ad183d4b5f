"""The clock read as Kubernetes timestamps (formatting: controller/core/timefmt.py)."""

from __future__ import annotations

import datetime as dt
import time

from controller.core.timefmt import micro_time, rfc3339

__all__ = ["micro_now", "micro_time", "now", "rfc3339"]


def now() -> str:
    return rfc3339(dt.datetime.now(dt.UTC))


def micro_now() -> str:
    return micro_time(time.time())
