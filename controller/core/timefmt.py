"""UTC timestamps as the Kubernetes API writes them: RFC 3339 with a 'Z' (Time and MicroTime).

Formatting only: the clock is read in controller/runtime/clock.py, so the core stays a function of
its inputs.
"""

from __future__ import annotations

import datetime as dt

_SECONDS = "%Y-%m-%dT%H:%M:%SZ"
_MICROS = "%Y-%m-%dT%H:%M:%S.%fZ"


def rfc3339(when: dt.datetime) -> str:
    """A metav1.Time: whole seconds in UTC; a naive datetime is taken as UTC."""
    aware = when if when.tzinfo else when.replace(tzinfo=dt.UTC)
    return aware.astimezone(dt.UTC).strftime(_SECONDS)


def micro_time(t: float) -> str:
    """A metav1.MicroTime for the API server, which rejects one without a fractional part."""
    d = dt.datetime.fromtimestamp(t, dt.UTC)
    if d.microsecond == 0:
        d = d.replace(microsecond=1)
    return d.strftime(_MICROS)
