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
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from controller.core.election import RELEASED_BY, Conflict, Lease
from controller.core.timefmt import micro_time

if TYPE_CHECKING:  # urllib3 is not imported where the file store is all that runs (the VM)
    from controller.runtime.kubeapi import KubeAPI


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


def lease_path(namespace: str, name: str = "") -> str:
    base = f"/apis/coordination.k8s.io/v1/namespaces/{quote(namespace, safe='')}/leases"
    return f"{base}/{quote(name, safe='')}" if name else base


class KubeLeaseStore:
    """coordination.k8s.io/v1 Leases; versions are resourceVersions (the API server's CAS)."""

    def __init__(self, api: KubeAPI, namespace: str) -> None:
        self.api, self.namespace = api, namespace

    @staticmethod
    def _lease(obj: dict[str, Any]) -> Lease:
        from controller.core.leases import duration_seconds, renew_timestamp

        meta, spec = _map(obj.get("metadata")), _map(obj.get("spec"))
        transitions = spec.get("leaseTransitions")
        return Lease(str(meta.get("name") or ""), str(spec.get("holderIdentity") or "") or None,
                     float(duration_seconds(spec.get("leaseDurationSeconds")) or 0),
                     renew_timestamp(spec.get("renewTime")) or 0.0, renew_timestamp(spec.get("acquireTime")) or 0.0,
                     transitions if isinstance(transitions, int) and not isinstance(transitions, bool) else 0,
                     _map(meta.get("annotations")).get(RELEASED_BY), str(meta.get("resourceVersion") or ""))

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

    def get(self, name: str) -> Lease | None:
        from controller.runtime.kubeapi import ApiError

        try:
            return self._lease(self.api.call("GET", lease_path(self.namespace, name)))
        except ApiError as err:
            if err.status == 404:
                return None
            raise

    def create(self, lease: Lease) -> Lease:
        from controller.runtime.kubeapi import ApiError

        try:
            return self._lease(self.api.call("POST", lease_path(self.namespace), body=self._body(lease)))
        except ApiError as err:
            if err.status == 409:
                raise Conflict(f"{lease.name}: {err.reason}") from err
            raise

    def update(self, lease: Lease) -> Lease:
        if not lease.version:
            raise Conflict(f"{lease.name}: update without a version")
        from controller.runtime.kubeapi import ApiError

        try:
            return self._lease(self.api.call("PUT", lease_path(self.namespace, lease.name), body=self._body(lease)))
        except ApiError as err:
            if err.status == 409:
                raise Conflict(f"{lease.name}: {err.reason}") from err
            if err.status == 404:
                raise Conflict(f"{lease.name} is gone") from err
            raise


def fresh_nodes(api: KubeAPI, namespace: str, *, now: float | None = None) -> set[str]:
    """Nodes whose agent renewed its node Lease (bmlb-node-<node>) within its duration: the
    candidates of the election in a cluster."""
    from controller.core.leases import is_fresh
    from controller.core.snapshot import lease_node

    now = time.time() if now is None else now
    out = set()
    items = api.call("GET", lease_path(namespace)).get("items")
    for obj in items if isinstance(items, list) else []:
        meta, spec = _map(_map(obj).get("metadata")), _map(_map(obj).get("spec"))
        node = lease_node(meta.get("name"))
        if node is not None and is_fresh(spec.get("renewTime"), spec.get("leaseDurationSeconds"), now):
            out.add(node)
    return out


def _map(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
