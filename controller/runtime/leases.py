"""The agent's side of node Leases: create or renew bmlb-node-<node> (the freshness rule every
reader applies: controller/core/leases.py)."""

from __future__ import annotations

from typing import Any

from controller.core.leases import ADDRESS_ANNOTATION
from controller.core.snapshot import LEASE_PREFIX
from controller.runtime.clock import micro_now
from controller.runtime.kubeapi import ApiError, KubeAPI
from controller.runtime.lease_stores import lease_path


def renew(api: KubeAPI, *, namespace: str, node: str, address: str | None, duration: int) -> None:
    """Create or renew this node's Lease (raises ApiError on failure; the caller retries)."""
    name = LEASE_PREFIX + node
    annotations = {ADDRESS_ANNOTATION: address} if address else {}
    try:
        lease = api.call("GET", lease_path(namespace, name))
    except ApiError as err:
        if err.status != 404:
            raise
        api.send("POST", lease_path(namespace), body={
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": name, "namespace": namespace, "annotations": annotations,
                         "labels": {"app.kubernetes.io/managed-by": "bmlb"}},
            "spec": {"holderIdentity": node, "leaseDurationSeconds": duration,
                     "acquireTime": micro_now(), "renewTime": micro_now()}})
        return
    spec: dict[str, Any] = lease["spec"] if isinstance(lease.get("spec"), dict) else {}
    meta: dict[str, Any] = lease["metadata"] if isinstance(lease.get("metadata"), dict) else {}
    # The body read, written back with its resourceVersion: a concurrent writer gets a 409.
    spec.update(renewTime=micro_now(), leaseDurationSeconds=duration, holderIdentity=node)
    if annotations:
        old = meta.get("annotations")
        meta["annotations"] = {**(old if isinstance(old, dict) else {}), **annotations}
    api.send("PUT", lease_path(namespace, name), body={**lease, "metadata": meta, "spec": spec})
