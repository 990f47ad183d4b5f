"""The agent's side of node Leases: create or renew bmlb-node-<node> (the freshness rule every
reader applies: controller/core/leases.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from controller.core.leases import ADDRESS_ANNOTATION
from controller.core.snapshot import LEASE_PREFIX
from controller.runtime.clock import micro_now

if TYPE_CHECKING:
    import kubernetes


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
