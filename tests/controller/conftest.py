"""Fixtures for controller tests: the real API server with bmlb's CRDs, the PAN-OS simulator
over HTTPS, and `bmlb controller` / `bmlb agent` as real processes."""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.rest import ApiException

from controller.cli.localcluster import PLURALS, Cluster, apply_crds, process
from firewall.sim import Simulator


@pytest.fixture(scope="session")
def cluster(apiserver: Any, kube_api: Any) -> Cluster:
    c = Cluster(kube_api, Path(apiserver.kubeconfig))
    apply_crds(c)
    return c


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator.start(commit_seconds=0.05) as s:
        yield s


def _strip_finalizers(c: Cluster, ns: str | None) -> None:
    patch = {"metadata": {"finalizers": None}}
    for kind, plural in PLURALS.items():
        scoped = kind in ("SecurityPolicy", "NATRule")
        if scoped != bool(ns):
            continue
        items = (c.custom.list_namespaced_custom_object("bmlb.io", "v1alpha1", ns, plural)["items"] if ns
                 else c.custom.list_cluster_custom_object("bmlb.io", "v1alpha1", plural)["items"])
        for it in items:
            name = it["metadata"]["name"]
            with contextlib.suppress(ApiException):
                if ns:
                    c.custom.patch_namespaced_custom_object("bmlb.io", "v1alpha1", ns, plural, name, patch)
                    c.custom.delete_namespaced_custom_object("bmlb.io", "v1alpha1", ns, plural, name)
                else:
                    c.custom.patch_cluster_custom_object("bmlb.io", "v1alpha1", plural, name, patch)
                    c.custom.delete_cluster_custom_object("bmlb.io", "v1alpha1", plural, name)
    if ns:
        for svc in c.core.list_namespaced_service(ns).items:
            with contextlib.suppress(ApiException):
                c.core.patch_namespaced_service(svc.metadata.name, ns, patch)


@pytest.fixture
def ns(cluster: Cluster, k8s_namespace: str) -> Iterator[str]:
    """A fresh namespace; afterwards every bmlb object (including cluster-scoped pools and
    firewalls) is removed, finalizers included, so tests do not see each other's estate."""
    yield k8s_namespace
    _strip_finalizers(cluster, k8s_namespace)
    _strip_finalizers(cluster, None)


@pytest.fixture
def firewall_object(cluster: Cluster, sim: Simulator, ns: str) -> Callable[..., dict[str, Any]]:
    """Create the credentials Secret and a Firewall pointing at the simulator (TLS verified)."""
    def make(name: str = "edge", **spec: Any) -> dict[str, Any]:
        cluster.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"{name}-creds", "namespace": ns},
                       "data": {"apiKey": base64.b64encode(sim.api_key("admin").encode()).decode(),
                                "username": base64.b64encode(b"admin").decode()}})
        body = {"apiVersion": "bmlb.io/v1alpha1", "kind": "Firewall", "metadata": {"name": name},
                "spec": {"host": sim.host, "port": sim.port, "caBundle": Path(sim.ca_file).read_text(),
                         "credentialsSecret": {"name": f"{name}-creds", "namespace": ns}, **spec}}
        return cluster.apply(body)
    return make


@pytest.fixture
def run_controller(apiserver: Any, tmp_path: Path, ns: str) -> Iterator[Callable[..., Any]]:
    """Start `bmlb controller` (standalone unless peering is given); all are stopped at the end."""
    stack = contextlib.ExitStack()

    def start(*extra: str, peering: str = "", log_name: str = "controller.log") -> Any:
        args = ["controller", "--kubeconfig", str(apiserver.kubeconfig), "--namespace", ns,
                "--peering", peering, "--debounce", "0.3", "--resync", "3600", *extra]
        proc = stack.enter_context(process(args, env=apiserver.env(), log=tmp_path / log_name))
        proc.log_path = tmp_path / log_name  # type: ignore[attr-defined]
        return proc

    with stack:
        yield start


def dump_log(proc: Any) -> str:
    return Path(proc.log_path).read_text()[-6000:]
