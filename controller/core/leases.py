"""Node Leases: each agent renews coordination.k8s.io/v1 Lease bmlb-node-<node> in the lease
namespace (default bmlb-system), carrying its next-hop address; the controller routes VIPs only to
nodes whose Lease is fresh (the agent's renewal: controller/runtime/leases.py).

`is_fresh` is the one freshness rule for every reader (routed mode's node health, L2 mode's
election candidates): a Lease is fresh while renewTime + leaseDurationSeconds is in the future;
one without a renewTime or a positive duration proves nothing and is not fresh (bmlb's agents
always write both).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

ADDRESS_ANNOTATION = "bmlb.io/node-address"
MAX_DURATION = 2**31 - 1  # leaseDurationSeconds is an int32 in the Lease API


def renew_timestamp(raw: Any) -> float | None:
    """A Lease's renewTime as epoch seconds: an RFC 3339 string (API body) or a datetime (client
    object); None when absent or unreadable."""
    if isinstance(raw, dt.datetime):
        return raw.timestamp() if raw.tzinfo else raw.replace(tzinfo=dt.UTC).timestamp()
    if not isinstance(raw, str) or not raw:
        return None
    try:
        when = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when.timestamp() if when.tzinfo else when.replace(tzinfo=dt.UTC).timestamp()


def duration_seconds(raw: Any) -> float | None:
    """leaseDurationSeconds when it is a positive number an int32 holds, else None (a longer one,
    only ever from a manifest, proves nothing; past a float's range it could not even be added)."""
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not 0 < raw <= MAX_DURATION:
        return None
    return float(raw)


def is_fresh(renew_time: Any, lease_duration_seconds: Any, now: float) -> bool:
    renewed, duration = renew_timestamp(renew_time), duration_seconds(lease_duration_seconds)
    return renewed is not None and duration is not None and now < renewed + duration
