"""The validating admission webhook, served by a real `bmlb controller --webhook-port` over HTTPS
(kopf's server, certificate verified), judged against the objects in the real API server: its
verdicts and messages are exactly those of `bmlb validate` on the same objects."""

from __future__ import annotations

import contextlib
import copy
import json
import socket
import ssl
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.rest import ApiException

from controller.cli.localcluster import Cluster, process, wait_for
from controller.core.admission import judge, line
from controller.core.manifests import Document
from controller.core.problems import Severity
from controller.core.validate import check
from controller.runtime.clock import now
from controller.runtime.webhook import CERT_DIR_ENV
from tests.controller.conftest import dump_log
from tests.controller.estate import nat, policy, pool, service

RESOURCES = {"NATRule": ("bmlb.io", "v1alpha1", "natrules"), "SecurityPolicy": ("bmlb.io", "v1alpha1",
             "securitypolicies"), "VIPPool": ("bmlb.io", "v1alpha1", "vippools"), "Service": ("", "v1", "services")}


def _free_port() -> int:
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Webhook:
    def __init__(self, port: int, ca: Path) -> None:
        self.url = f"https://127.0.0.1:{port}"
        self.context = ssl.create_default_context(cafile=str(ca))

    def review(self, body: dict[str, Any], operation: str = "CREATE") -> dict[str, Any]:
        group, version, plural = RESOURCES[body["kind"]]
        meta = body["metadata"]
        request = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
            "uid": str(uuid.uuid4()), "kind": {"group": group, "version": version, "kind": body["kind"]},
            "resource": {"group": group, "version": version, "resource": plural},
            "requestKind": {"group": group, "version": version, "kind": body["kind"]},
            "name": meta["name"], "namespace": meta.get("namespace", ""), "operation": operation,
            "userInfo": {"username": "tester", "groups": ["system:authenticated"]},
            "object": body, "oldObject": None, "dryRun": False}}
        req = urllib.request.Request(f"{self.url}/bmlb-{plural}", data=json.dumps(request).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, context=self.context, timeout=10) as resp:
            out = json.loads(resp.read())
        assert out["response"]["uid"] == request["request"]["uid"]
        return out["response"]


def expected(cluster_objects: list[dict[str, Any]], incoming: dict[str, Any]) -> tuple[list[str], list[str]]:
    """What `bmlb validate` says about `incoming` when it is applied with the cluster's objects."""
    docs = [Document("cluster.yaml", i, b) for i, b in enumerate(cluster_objects)]
    docs.append(Document("incoming.yaml", 0, {**incoming, "metadata": {
        **incoming["metadata"], "creationTimestamp": "2999-01-01T00:00:00Z"}}))
    findings, _ = check(docs)
    mine = [f for f in findings if f.origin == "incoming.yaml:0"]
    return ([line(f) for f in mine if f.severity is Severity.ERROR],
            [line(f) for f in mine if f.severity is Severity.WARNING])


def _plain(cluster: Cluster, body: dict[str, Any]) -> dict[str, Any]:
    meta = body["metadata"]
    got = cluster.get(body["kind"], meta["name"], meta.get("namespace"))
    got.setdefault("kind", body["kind"])
    got.setdefault("apiVersion", body["apiVersion"])
    got["metadata"].pop("managedFields", None)
    return got


@pytest.fixture
def other_ns(cluster: Cluster, ns: str) -> Iterator[str]:
    name = f"{ns[:50]}-b"
    cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    yield name
    for svc in cluster.core.list_namespaced_service(name).items:
        with contextlib.suppress(ApiException):
            cluster.core.delete_namespaced_service(svc.metadata.name, name)
    with contextlib.suppress(ApiException):
        cluster.core.delete_namespace(name)


def test_webhook_judges_like_bmlb_validate(cluster: Cluster, ns: str, other_ns: str, apiserver: Any,
                                           tmp_path: Path) -> None:
    vips, pub = f"{ns}-vips", f"{ns}-pub"
    estate = [
        pool(vips, "10.96.0.0/28", namespaces=[ns]),
        pool(pub, "198.51.100.0/28", zone="untrust", purpose="Public", auto=False, namespaces=[ns]),
        service(ns, "web", (443, 8443)),
        service(other_ns, "theirs", (443, 8443)),
        nat(ns, "first", "web", 443, address="198.51.100.5"),
    ]
    stored = []
    for body in estate:
        b = copy.deepcopy(body)
        b["metadata"] = {k: v for k, v in b["metadata"].items() if k not in ("uid", "generation")}
        cluster.apply(b)
        stored.append(b)

    port, certs = _free_port(), tmp_path / "certs"
    args = ["controller", "--kubeconfig", str(apiserver.kubeconfig), "--namespace", ns, "--peering", "",
            "--debounce", "0.3", "--resync", "3600", "--webhook-port", str(port)]
    log = tmp_path / "controller.log"
    with process(args, env={**apiserver.env(), CERT_DIR_ENV: str(certs)}, log=log) as proc:
        proc.log_path = log  # type: ignore[attr-defined]
        wait_for("the webhook's CA", lambda: (certs / "ca.crt").exists(), timeout=30)
        hook = Webhook(port, certs / "ca.crt")
        # The controller's index has caught up once web's VIP is recorded.
        wait_for("web's VIP", lambda: cluster.ingress("web", ns), timeout=60)
        current = [_plain(cluster, b) for b in stored]

        cases = {
            "foreign Service": nat(ns, "steal", "theirs", 443, address="198.51.100.6", namespace=other_ns),
            "public address taken": nat(ns, "second", "web", 443, address="198.51.100.5"),
            "pool does not admit": service(other_ns, "draws", (80, 80), annotations={"bmlb.io/pool": vips}),
            "overlapping pool": pool(f"{ns}-zz", "10.96.0.8/29"),
            "CEL: address and pool": {**nat(ns, "both", "web", 443, address="198.51.100.7"),
                                      "spec": {**nat(ns, "both", "web", 443)["spec"],
                                               "public": {"address": "198.51.100.7", "pool": pub}}},
            "valid NATRule": nat(ns, "ok", "web", 443, address="198.51.100.8"),
            "valid policy": policy(ns, "guard", ["web"], [{"name": "inet", "from": {"zones": ["untrust"]}}]),
            "policy, foreign port name": policy(ns, "ports", ["web"], [
                {"name": "r", "from": {"zones": ["untrust"]}, "ports": [{"name": "nope"}]}]),
            "not bmlb's Service": {**service(other_ns, "plain", (80, 80), annotations={"bmlb.io/pool": vips}),
                                   "spec": {"type": "ClusterIP", "ports": [{"port": 80}]}},
        }
        verdicts = {}
        for what, body in cases.items():
            body = copy.deepcopy(body)
            body["metadata"] = {k: v for k, v in body["metadata"].items() if k not in ("uid", "generation")}
            want_errors, want_warnings = expected(current, body)
            got = hook.review(body)
            verdicts[what] = got["allowed"]
            assert got["allowed"] == (not want_errors), (what, got, want_errors, dump_log(proc))
            if want_errors:
                assert got["status"]["message"] == "\n".join(want_errors), (what, got)
                assert got["status"]["code"] == 422
            assert got.get("warnings", []) == want_warnings, (what, got)
            # The same judgement, in process, on the same objects:
            assert judge_offline(current, body) == (not want_errors)
        assert verdicts == {
            "foreign Service": False, "public address taken": False, "pool does not admit": False,
            "overlapping pool": False, "CEL: address and pool": False, "valid NATRule": True,
            "valid policy": True, "policy, foreign port name": False, "not bmlb's Service": True,
        }, verdicts

        # An UPDATE that moves an admitted object into a conflict is denied as well.
        first = current[-1]
        moved = copy.deepcopy(first)
        moved["spec"]["service"].update(name="theirs", namespace=other_ns)
        got = hook.review(moved, operation="UPDATE")
        assert not got["allowed"] and "spec.service.namespace" in got["status"]["message"], got
        assert proc.poll() is None, dump_log(proc)


def judge_offline(current: list[dict[str, Any]], body: dict[str, Any]) -> bool:
    from controller.core.snapshot import Snapshot

    return judge(Snapshot.of(current), body, now=now()).allowed
