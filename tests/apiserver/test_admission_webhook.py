"""The path a user takes: `kubectl apply` -> the API server's ValidatingAdmissionWebhook plugin ->
bmlb's webhook (`bmlb controller --webhook-port`, HTTPS, certificate verified by the API server)
-> refusal, with bmlb's message naming the field.

The ValidatingWebhookConfiguration is built here the way a deploy holds one (one webhook per bmlb
kind, CREATE and UPDATE, failurePolicy Fail, sideEffects None, the webhook's CA as caBundle), except
that it reaches the webhook by URL on loopback (no Service routing here) and selects only this
test's namespace (the API server is shared by the session's tests).
"""

from __future__ import annotations

import base64
import contextlib
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.rest import ApiException

from controller.cli.localcluster import Cluster, process, wait_for
from controller.runtime.webhook import CERT_DIR_ENV
from tests.apiserver.server import ApiServer

# The controller tests' fixtures (API server with bmlb's CRDs).
from tests.controller.conftest import cluster, dump_log, ns  # noqa: F401
from tests.controller.estate import nat, pool, service

HOOKS = {"natrules": "bmlb.io", "securitypolicies": "bmlb.io", "services": ""}


def _free_port() -> int:
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def webhook_configuration(name: str, url: str, ca: bytes, namespace: str) -> dict[str, Any]:
    hooks = []
    for plural, group in HOOKS.items():
        hooks.append({
            "name": f"{plural}.bmlb.io",
            "clientConfig": {"url": f"{url}/bmlb-{plural}", "caBundle": base64.b64encode(ca).decode()},
            "rules": [{"operations": ["CREATE", "UPDATE"], "apiGroups": [group],
                       "apiVersions": ["v1alpha1" if group else "v1"], "resources": [plural]}],
            "failurePolicy": "Fail", "sideEffects": "None", "admissionReviewVersions": ["v1"], "timeoutSeconds": 10,
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
        })
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": name, "labels": {"app.kubernetes.io/part-of": "bmlb"}}, "webhooks": hooks}


def _plain(body: dict[str, Any]) -> dict[str, Any]:
    """As a user writes it: no uid or generation."""
    meta = {k: v for k, v in body["metadata"].items() if k not in ("uid", "generation")}
    return {**body, "metadata": meta}


def kubectl_apply(api: ApiServer, body: dict[str, Any], *flags: str) -> Any:
    return api.kubectl("apply", *flags, "-f", "-", input=json.dumps(_plain(body)), check=False)


@pytest.fixture
def other_ns(cluster: Cluster, ns: str) -> Iterator[str]:  # noqa: F811
    name = f"{ns[:50]}-b"
    cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    yield name
    for svc in cluster.core.list_namespaced_service(name).items:
        with contextlib.suppress(ApiException):
            cluster.core.delete_namespaced_service(svc.metadata.name, name)
    with contextlib.suppress(ApiException):
        cluster.core.delete_namespace(name)


def test_kubectl_apply_of_an_invalid_natrule_is_refused_by_the_api_server(
    apiserver: ApiServer, cluster: Cluster, ns: str, other_ns: str, tmp_path: Path,  # noqa: F811
) -> None:
    for body in (pool(f"{ns}-vips", "10.82.0.0/28", namespaces=[ns]),
                 pool(f"{ns}-pub", "198.51.100.16/28", zone="untrust", purpose="Public", auto=False, namespaces=[ns]),
                 service(ns, "web", (443, 8443)), service(other_ns, "theirs", (443, 8443)),
                 nat(ns, "first", "web", 443, address="198.51.100.17")):
        cluster.apply(_plain(body))
    port, certs = _free_port(), tmp_path / "certs"
    args = ["controller", "--kubeconfig", str(apiserver.kubeconfig), "--namespace", ns, "--peering", "",
            "--debounce", "0.3", "--resync", "3600", "--webhook-port", str(port)]
    log = tmp_path / "controller.log"
    vwc = f"bmlb-{ns}"[:63]
    with process(args, env={**apiserver.env(), CERT_DIR_ENV: str(certs)}, log=log) as proc:
        proc.log_path = log  # type: ignore[attr-defined]
        wait_for("the webhook's CA", lambda: (certs / "ca.crt").exists(), timeout=30)
        wait_for("web's VIP (the controller's index has caught up)", lambda: cluster.ingress("web", ns), timeout=60)
        config = webhook_configuration(vwc, f"https://127.0.0.1:{port}", (certs / "ca.crt").read_bytes(), ns)
        apiserver.kubectl("apply", "-f", "-", input=json.dumps(config))
        try:
            # A NATRule publishing another namespace's Service.
            steal = nat(ns, "steal", "theirs", 443, address="198.51.100.18", namespace=other_ns)
            # The API server picks the configuration up through its informer: wait for that with
            # server-side dry runs (admission runs, nothing is stored), then apply for real.
            wait_for("the webhook configuration in force", lambda: kubectl_apply(
                apiserver, steal, "--dry-run=server").returncode, timeout=20)
            r = kubectl_apply(apiserver, steal)
            assert r.returncode != 0, r.stdout
            assert 'admission webhook "natrules.bmlb.io" denied the request' in r.stderr, (r.stderr, dump_log(proc))
            assert f"NATRule {ns}/steal: spec.service.namespace:" in r.stderr, r.stderr
            assert cluster.gone("NATRule", "steal", ns)

            # Two NATRules on one public address:port.
            r = kubectl_apply(apiserver, nat(ns, "second", "web", 443, address="198.51.100.17"))
            assert r.returncode != 0 and 'admission webhook "natrules.bmlb.io" denied the request' in r.stderr
            assert f"NATRule {ns}/second: spec.public.address:" in r.stderr, r.stderr
            assert f"shared with NATRule {ns}/first" in r.stderr, r.stderr
            assert cluster.gone("NATRule", "second", ns)

            # An UPDATE that moves an admitted rule onto another namespace's Service is refused too.
            moved = nat(ns, "first", "theirs", 443, address="198.51.100.17", namespace=other_ns)
            r = kubectl_apply(apiserver, moved)
            assert r.returncode != 0 and "spec.service.namespace" in r.stderr, r.stderr
            assert cluster.get("NATRule", "first", ns)["spec"]["service"]["name"] == "web"

            # A valid NATRule passes the same path.
            r = kubectl_apply(apiserver, nat(ns, "ok", "web", 443, address="198.51.100.19"))
            assert r.returncode == 0, (r.stderr, dump_log(proc))
            assert not cluster.gone("NATRule", "ok", ns)

            # The API server really calls out: with the webhook down, failurePolicy Fail refuses.
            proc.terminate()
            proc.wait(15)
            r = kubectl_apply(apiserver, nat(ns, "later", "web", 443, address="198.51.100.20"))
            assert r.returncode != 0 and 'failed calling webhook "natrules.bmlb.io"' in r.stderr, r.stderr
        finally:
            apiserver.kubectl("delete", "validatingwebhookconfiguration", vwc, "--ignore-not-found")
    # Without the configuration, the API server no longer asks.
    assert kubectl_apply(apiserver, nat(ns, "later", "web", 443, address="198.51.100.20")).returncode == 0
