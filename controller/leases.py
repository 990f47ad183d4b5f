"""Node Leases: each agent renews coordination.k8s.io/v1 Lease bmlb-node-<node>, carrying its
next-hop address; the controller routes VIPs only to nodes whose Lease is fresh."""

from __future__ import annotations

import datetime as dt
import logging

import kubernetes
from kubernetes.client.rest import ApiException

from controller.routes import ADDRESS_ANNOTATION
from controller.snapshot import LEASE_PREFIX

log = logging.getLogger("bmlb.lease")


def micro_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def renew(api: kubernetes.client.CoordinationV1Api, *, namespace: str, node: str, address: str | None,
          duration: int) -> None:
    """Create or renew this node's Lease (raises ApiException on failure; the caller retries)."""
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
