"""A local cluster for the demo and the tests: apply objects to a real API server, read them, wait,
and run bmlb's controller and agent as real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import kubernetes
import yaml
from kubernetes.client.rest import ApiException

from controller.cli.kapilite_procs import die_with_parent
from controller.core import kinds
from controller.core.resources import crd_texts

#: The folder above the package: the source tree when bmlb runs from one (tests use it).
ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")
PLURALS = kinds.PLURAL


def wait_for(what: str, fn: Callable[[], T | None], timeout: float = 30.0, interval: float = 0.2) -> T:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = fn()
        except ApiException as err:
            last = err
            if err.status not in (404, 409):
                raise
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


class Cluster:
    def __init__(self, api: kubernetes.client.ApiClient, kubeconfig: Path) -> None:
        self.api = api
        self.kubeconfig = kubeconfig
        self.core = kubernetes.client.CoreV1Api(api)
        self.custom = kubernetes.client.CustomObjectsApi(api)
        self.discovery = kubernetes.client.DiscoveryV1Api(api)

    def apply(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create the object, or replace its spec (and labels/annotations) when it exists."""
        kind, meta = body["kind"], body["metadata"]
        ns, name = meta.get("namespace"), meta["name"]
        if kind in PLURALS:
            group, version = body["apiVersion"].split("/")
            at = (group, version, ns, PLURALS[kind]) if ns else (group, version, PLURALS[kind])
            scope = "namespaced" if ns else "cluster"
            custom = self.custom

            def replace_spec() -> dict[str, Any]:
                cur = getattr(custom, f"get_{scope}_custom_object")(*at, name)
                cur["spec"] = body["spec"]
                return getattr(custom, f"replace_{scope}_custom_object")(*at, name, cur)

            return _create_or(lambda: getattr(custom, f"create_{scope}_custom_object")(*at, body), replace_spec)
        if kind == "Service":
            def replace_service() -> Any:
                cur = self.core.read_namespaced_service(name, ns)
                cur.spec.ports = body["spec"]["ports"]
                cur.metadata.annotations = meta.get("annotations")
                cur.metadata.labels = meta.get("labels")
                return self.core.replace_namespaced_service(name, ns, cur)

            return _create_or(lambda: self.core.create_namespaced_service(ns, body), replace_service).to_dict()
        if kind == "EndpointSlice":
            def replace_slice() -> Any:
                cur = self.discovery.read_namespaced_endpoint_slice(name, ns)
                body["metadata"]["resourceVersion"] = cur.metadata.resource_version
                return self.discovery.replace_namespaced_endpoint_slice(name, ns, body)

            return _create_or(lambda: self.discovery.create_namespaced_endpoint_slice(ns, body),
                              replace_slice).to_dict()
        if kind == "Secret":
            return _create_or(lambda: self.core.create_namespaced_secret(ns, body),
                              lambda: self.core.replace_namespaced_secret(name, ns, body)).to_dict()
        if kind == "Node":
            patch = {"metadata": {k: meta[k] for k in ("labels", "annotations") if k in meta},
                     "spec": body.get("spec") or {}}
            return _create_or(lambda: self.core.create_node(body), lambda: self.core.patch_node(name, patch)).to_dict()
        if kind == "Namespace":
            return _create_or(lambda: self.core.create_namespace(body),
                              lambda: self.core.read_namespace(name)).to_dict()
        raise ValueError(f"cannot apply {kind}")

    def get(self, kind: str, name: str, ns: str | None = None) -> dict[str, Any]:
        if kind in PLURALS:
            if ns:
                return self.custom.get_namespaced_custom_object(kinds.GROUP, kinds.VERSION, ns, PLURALS[kind], name)
            return self.custom.get_cluster_custom_object(kinds.GROUP, kinds.VERSION, PLURALS[kind], name)
        if kind == "Service":
            return self.api.sanitize_for_serialization(self.core.read_namespaced_service(name, ns))
        raise ValueError(kind)

    def delete(self, kind: str, name: str, ns: str | None = None) -> None:
        if kind in PLURALS:
            if ns:
                self.custom.delete_namespaced_custom_object(kinds.GROUP, kinds.VERSION, ns, PLURALS[kind], name)
            else:
                self.custom.delete_cluster_custom_object(kinds.GROUP, kinds.VERSION, PLURALS[kind], name)
        elif kind == "Service":
            self.core.delete_namespaced_service(name, ns)
        elif kind == "EndpointSlice":
            self.discovery.delete_namespaced_endpoint_slice(name, ns)
        else:
            raise ValueError(kind)

    def gone(self, kind: str, name: str, ns: str | None = None) -> bool:
        try:
            self.get(kind, name, ns)
        except ApiException as err:
            if err.status == 404:
                return True
            raise
        return False

    def condition(self, kind: str, name: str, ns: str | None, ctype: str) -> dict[str, Any] | None:
        body = self.get(kind, name, ns)
        for c in (body.get("status") or {}).get("conditions") or []:
            if c.get("type") == ctype:
                return c
        return None

    def ingress(self, name: str, ns: str) -> list[str]:
        status = self.get("Service", name, ns).get("status") or {}
        return [i["ip"] for i in (status.get("loadBalancer") or {}).get("ingress") or []]

    def events(self, ns: str, name: str) -> list[tuple[str, str, str]]:
        evs = self.core.list_namespaced_event(ns).items
        return [(e.type, e.reason, e.message) for e in evs if e.involved_object.name == name]


def _create_or(create: Callable[[], T], exists: Callable[[], T]) -> T:
    """create(); when the object is already there (409), exists() instead."""
    try:
        return create()
    except ApiException as err:
        if err.status != 409:
            raise
    return exists()


def apply_crds(cluster: Cluster) -> None:
    ext = kubernetes.client.ApiextensionsV1Api(cluster.api)
    for text in crd_texts().values():
        body = yaml.safe_load(text)
        try:
            ext.create_custom_resource_definition(body)
        except ApiException as err:
            if err.status != 409:
                raise
    for plural in PLURALS.values():
        wait_for(f"CRD {plural}", lambda p=plural: _served(cluster, p), timeout=30)


def _served(cluster: Cluster, plural: str) -> bool:
    try:
        cluster.custom.list_cluster_custom_object(kinds.GROUP, kinds.VERSION, plural)
    except ApiException as err:
        if err.status in (404, 429, 503):
            return False
        raise
    return True


@contextmanager
def process(args: list[str], *, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run `python -m controller.cli ARGS` as a real process; SIGTERM and wait on exit. The
    source tree (when there is one) is the working directory, so an uninstalled checkout runs."""
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "controller.cli", *args], env=env, stdout=out,
                                stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True,
                                preexec_fn=die_with_parent)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
