"""The Lease stores L2 mode's election runs against (controller/runtime/l2.py): a folder of JSON
files under fcntl locks (a VM or network namespaces without an API server) and the Kubernetes
coordination API; both compare-and-swap on the version. And the election's candidates in a cluster."""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from controller.core.election import RELEASED_BY, Conflict, Lease
from controller.core.timefmt import micro_time


class FileLeaseStore:
    """One JSON file per Lease in `directory`, compare-and-swap under an fcntl lock: for a VM or a
    laptop where there is no API server (all nodes must see the same directory)."""

    def __init__(self, directory: str | Path) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)

    def _path(self, name: str) -> Path:
        return self.dir / f"{name}.json"

    def get(self, name: str) -> Lease | None:
        try:
            data = json.loads(self._path(name).read_text())
        except FileNotFoundError:
            return None
        return Lease(**data)

    @contextlib.contextmanager
    def _locked(self, name: str) -> Any:
        fd = os.open(self.dir / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _write(self, lease: Lease, version: int) -> Lease:
        stored = dataclasses.replace(lease, version=str(version))
        tmp = self._path(lease.name).with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(dataclasses.asdict(stored)))
        os.replace(tmp, self._path(lease.name))
        return stored

    def create(self, lease: Lease) -> Lease:
        with self._locked(lease.name):
            if self.get(lease.name) is not None:
                raise Conflict(f"{lease.name} exists")
            return self._write(lease, 1)

    def update(self, lease: Lease) -> Lease:
        with self._locked(lease.name):
            current = self.get(lease.name)
            if current is None or current.version != lease.version:
                raise Conflict(f"{lease.name}: version {lease.version} is not current")
            return self._write(lease, int(current.version) + 1)


class KubeLeaseStore:
    """coordination.k8s.io/v1 Leases; versions are resourceVersions (the API server's CAS)."""

    def __init__(self, api: Any, namespace: str) -> None:
        self.api, self.namespace = api, namespace

    def _lease(self, obj: Any) -> Lease:
        spec, meta = obj.spec, obj.metadata

        def ts(v: Any) -> float:
            return v.timestamp() if v is not None else 0.0

        return Lease(meta.name, spec.holder_identity or None, float(spec.lease_duration_seconds or 0),
                     ts(spec.renew_time), ts(spec.acquire_time), spec.lease_transitions or 0,
                     (meta.annotations or {}).get(RELEASED_BY), meta.resource_version)

    def _body(self, lease: Lease) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": lease.name, "namespace": self.namespace,
                                "labels": {"app.kubernetes.io/managed-by": "bmlb"},
                                "annotations": {RELEASED_BY: lease.released_by} if lease.released_by else {}}
        if lease.version:
            meta["resourceVersion"] = lease.version
        return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta,
                "spec": {"holderIdentity": lease.holder, "leaseDurationSeconds": max(1, math.ceil(lease.duration)),
                         "renewTime": micro_time(lease.renew_time), "acquireTime": micro_time(lease.acquire_time),
                         "leaseTransitions": lease.transitions}}

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        from kubernetes.client.rest import ApiException

        try:
            return fn(*args)
        except ApiException as err:
            if err.status == 409:
                raise Conflict(str(err.reason)) from err
            if err.status == 404 and fn == self.api.read_namespaced_lease:
                return None
            raise

    def get(self, name: str) -> Lease | None:
        obj = self._call(self.api.read_namespaced_lease, name, self.namespace)
        return None if obj is None else self._lease(obj)

    def create(self, lease: Lease) -> Lease:
        return self._lease(self._call(self.api.create_namespaced_lease, self.namespace, self._body(lease)))

    def update(self, lease: Lease) -> Lease:
        body = self._body(lease)
        if not lease.version:
            raise Conflict(f"{lease.name}: update without a version")
        try:
            return self._lease(self._call(self.api.replace_namespaced_lease, lease.name, self.namespace, body))
        except Exception as err:
            if getattr(err, "status", None) == 404:
                raise Conflict(f"{lease.name} is gone") from err
            raise


def fresh_nodes(api: Any, namespace: str, *, now: float | None = None) -> set[str]:
    """Nodes whose agent renewed its node Lease (bmlb-node-<node>) within its duration: the
    candidates of the election in a cluster."""
    from controller.core.leases import is_fresh
    from controller.core.snapshot import lease_node

    now = time.time() if now is None else now
    out = set()
    for obj in api.list_namespaced_lease(namespace).items:
        node, spec = lease_node(obj.metadata.name), obj.spec
        if node is not None and spec is not None and is_fresh(spec.renew_time, spec.lease_duration_seconds, now):
            out.add(node)
    return out
