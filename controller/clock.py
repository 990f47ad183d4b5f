"""UTC timestamps as the Kubernetes API writes them: RFC 3339 with a 'Z' (Time and MicroTime)."""

from __future__ import annotations

import datetime as dt
import time

_SECONDS = "%Y-%m-%dT%H:%M:%SZ"
_MICROS = "%Y-%m-%dT%H:%M:%S.%fZ"


def rfc3339(when: dt.datetime) -> str:
    """A metav1.Time: whole seconds in UTC; a naive datetime is taken as UTC."""
    aware = when if when.tzinfo else when.replace(tzinfo=dt.UTC)
    return aware.astimezone(dt.UTC).strftime(_SECONDS)


def now() -> str:
    return rfc3339(dt.datetime.now(dt.UTC))


def micro_time(t: float) -> str:
    """A metav1.MicroTime for the API server, which rejects one without a fractional part."""
    d = dt.datetime.fromtimestamp(t, dt.UTC)
    if d.microsecond == 0:
        d = d.replace(microsecond=1)
    return d.strftime(_MICROS)


def micro_now() -> str:
    return micro_time(time.time())
