"""Node Leases: each agent renews coordination.k8s.io/v1 Lease bmlb-node-<node> in the lease
namespace (default bmlb-system), carrying its next-hop address; the controller routes VIPs only to
nodes whose Lease is fresh.

`is_fresh` is the one freshness rule for every reader (routed mode's node health, L2 mode's
election candidates): a Lease is fresh while renewTime + leaseDurationSeconds is in the future;
one without a renewTime or a positive duration proves nothing and is not fresh (bmlb's agents
always write both).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

from controller.clock import micro_now
from controller.snapshot import LEASE_PREFIX

if TYPE_CHECKING:
    import kubernetes

log = logging.getLogger("bmlb.lease")

ADDRESS_ANNOTATION = "bmlb.io/node-address"


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
    """leaseDurationSeconds when it is a positive number, else None."""
    if isinstance(raw, bool) or not isinstance(raw, int | float) or raw <= 0:
        return None
    return float(raw)


def is_fresh(renew_time: Any, lease_duration_seconds: Any, now: float) -> bool:
    renewed, duration = renew_timestamp(renew_time), duration_seconds(lease_duration_seconds)
    return renewed is not None and duration is not None and now < renewed + duration


def renew(api: kubernetes.client.CoordinationV1Api, *, namespace: str, node: str, address: str | None,
          duration: int) -> None:
    """Create or renew this node's Lease (raises ApiException on failure; the caller retries)."""
    from kubernetes.client.rest import ApiException

    name = LEASE_PREFIX + node
    annotations = {ADDRESS_ANNOTATION: address} if address else {}
    try:
        lease = api.read_namespaced_lease(name, namespace)
    except ApiException as err:
        if err.status != 404:
            raise
        api.create_namespaced_lease(namespace, {
            "metadata": {"name": name, "namespace": namespace, "annotations": annotations,
                         "labels": {"app.kubernetes.io/managed-by": "bmlb"}},
            "spec": {"holderIdentity": node, "leaseDurationSeconds": duration,
                     "acquireTime": micro_now(), "renewTime": micro_now()}})
        return
    lease.spec.renew_time = micro_now()
    lease.spec.lease_duration_seconds = duration
    lease.spec.holder_identity = node
    if annotations:
        lease.metadata.annotations = {**(lease.metadata.annotations or {}), **annotations}
    api.replace_namespaced_lease(name, namespace, lease)
