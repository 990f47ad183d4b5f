"""Security: TLS to the firewall is verified, credentials never leak, and a namespace cannot
publish, guard or draw addresses for what it does not own. Real API server, real controller
process, PAN-OS simulator over HTTPS."""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.rest import ApiException

from controller.cli.localcluster import Cluster, wait_for
from controller.core import naming
from firewall.sim import Simulator
from firewall.sim.tls import ensure_certs
from tests.controller.conftest import dump_log
from tests.controller.estate import nat, policy, pool, service

API = "bmlb.io/v1alpha1"


def _firewall(name: str, sim: Simulator, secret: str, ns: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": API, "kind": "Firewall", "metadata": {"name": name},
            "spec": {"host": sim.host, "port": sim.port, "credentialsSecret": {"name": secret, "namespace": ns},
                     "commit": {"debounceSeconds": 0.3}, **spec}}


def _secret(cluster: Cluster, ns: str, name: str, **data: str) -> None:
    cluster.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": ns},
                   "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}})


def _synced(cluster: Cluster, name: str) -> dict[str, Any] | None:
    return cluster.condition("Firewall", name, None, "FirewallSynced")


def test_untrusted_certificate_is_a_named_error_and_nothing_is_written(
        cluster: Cluster, ns: str, sim: Simulator, run_controller, tmp_path: Path) -> None:
    _secret(cluster, ns, "creds", apiKey=sim.api_key("admin"))
    other_ca = ensure_certs(tmp_path / "other-ca").ca_file.read_text()
    cluster.apply(_firewall("edge", sim, "creds", ns, caBundle=other_ca))
    cluster.apply(_firewall("bare", sim, "creds", ns))  # no caBundle: the system trust store
    cluster.apply(pool(f"{ns}-vips", "10.97.0.0/29", namespaces=[ns]))
    cluster.apply(service(ns, "web", (443, 8443)))
    cluster.apply(policy(ns, "guard", ["web"], [{"name": "inet", "from": {"zones": ["untrust"]}}]))
    sim.reset_stats()
    proc = run_controller("-v")
    for name in ("edge", "bare"):
        cond = wait_for(f"{name}: FirewallSynced", lambda n=name: (c := _synced(cluster, n)) and c, timeout=60)
        assert cond["status"] == "False" and cond["reason"] == "TLSError", (cond, dump_log(proc))
    stats = sim.stats_snapshot()
    assert stats.get("writes", 0) == 0 and stats.get("commits", 0) == 0, stats
    assert "bmlb" not in sim.candidate_xml()
    assert proc.poll() is None


def _all_events(cluster: Cluster) -> list[str]:
    return [json.dumps(cluster.api.sanitize_for_serialization(e))
            for e in cluster.core.list_event_for_all_namespaces().items]


def _all_statuses(cluster: Cluster, ns: str) -> list[str]:
    out = []
    for plural in ("firewalls", "vippools"):
        out += [json.dumps(o.get("status")) for o in
                cluster.custom.list_cluster_custom_object("bmlb.io", "v1alpha1", plural)["items"]]
    for plural in ("natrules", "securitypolicies"):
        out += [json.dumps(o.get("status")) for o in
                cluster.custom.list_namespaced_custom_object("bmlb.io", "v1alpha1", ns, plural)["items"]]
    out += [json.dumps(cluster.api.sanitize_for_serialization(s.status))
            for s in cluster.core.list_namespaced_service(ns).items]
    return out


def test_credentials_never_reach_logs_status_or_events(cluster: Cluster, ns: str, sim: Simulator, run_controller,
                                                       tmp_path: Path) -> None:
    good_key = sim.api_key("admin")
    password = "pw-" + secrets.token_hex(12)
    wrong_key = "wrongkey-" + secrets.token_hex(12)
    sim.add_admin("ops", password)
    _secret(cluster, ns, "good", apiKey=good_key, username="admin", password=password)
    _secret(cluster, ns, "wrong", apiKey=wrong_key)
    _secret(cluster, ns, "userpass", username="ops", password=password + "x")  # wrong password
    ca = Path(sim.ca_file).read_text()
    cluster.apply(_firewall("edge", sim, "good", ns, caBundle=ca))
    cluster.apply(_firewall("wrong", sim, "wrong", ns, caBundle=ca))
    cluster.apply(_firewall("userpass", sim, "userpass", ns, caBundle=ca))
    cluster.apply(pool(f"{ns}-vips", "10.97.1.0/29", namespaces=[ns]))
    cluster.apply(pool(f"{ns}-pub", "198.51.100.16/29", zone="untrust", purpose="Public", auto=False,
                       namespaces=[ns]))
    cluster.apply(service(ns, "web", (443, 8443)))
    cluster.apply(nat(ns, "web", "web", 443, pool=f"{ns}-pub", firewall="edge"))
    body = policy(ns, "guard", ["web"], [{"name": "inet", "from": {"zones": ["untrust"]}}])
    body["spec"]["firewall"] = "edge"
    cluster.apply(body)
    proc = run_controller("-v")
    wait_for("edge synced", lambda: (c := _synced(cluster, "edge")) and c["status"] == "True", timeout=60)
    for name in ("wrong", "userpass"):
        cond = wait_for(f"{name} refused", lambda n=name: (c := _synced(cluster, n)) and c["status"] == "False"
                        and c, timeout=60)
        assert cond["reason"] == "AuthFailed", cond
    wait_for("policy Ready", lambda: (c := cluster.condition("SecurityPolicy", "guard", ns, "Ready"))
             and c["status"] == "True", timeout=30)
    wait_for("some Events", lambda: _all_events(cluster), timeout=20)
    log = Path(proc.log_path).read_text()
    assert "DEBUG" in log, "the controller ran with -v"
    haystacks = {"controller log": [log], "status": _all_statuses(cluster, ns), "events": _all_events(cluster)}
    for secret_value in (good_key, password, wrong_key, password + "x"):
        for where, texts in haystacks.items():
            assert not any(secret_value in t for t in texts), f"a credential appears in the {where}"
        # nor URL-encoded, as it would be in a logged request URL
        assert secret_value.replace("=", "%3D") not in log


@pytest.fixture
def other_ns(cluster: Cluster, ns: str) -> Iterator[str]:
    name = f"{ns[:50]}-b"
    cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    yield name
    for svc in cluster.core.list_namespaced_service(name).items:
        with contextlib.suppress(ApiException):
            cluster.core.patch_namespaced_service(svc.metadata.name, name, {"metadata": {"finalizers": None}})
            cluster.core.delete_namespaced_service(svc.metadata.name, name)
    with contextlib.suppress(ApiException):
        cluster.core.delete_namespace(name)


def test_a_namespace_cannot_publish_guard_or_draw_for_another(cluster: Cluster, ns: str, other_ns: str,
                                                              sim: Simulator, firewall_object,
                                                              run_controller) -> None:
    firewall_object(commit={"debounceSeconds": 0.3})
    cluster.apply(pool(f"{ns}-vips", "10.97.2.0/29", namespaces=[ns]))
    cluster.apply(pool(f"{ns}-theirs", "10.97.3.0/29", namespaces=[other_ns], auto=False))
    cluster.apply(pool(f"{ns}-pub", "198.51.100.24/29", zone="untrust", purpose="Public", auto=False,
                       namespaces=[ns]))
    cluster.apply(service(other_ns, "theirs", (443, 8443), annotations={"bmlb.io/pool": f"{ns}-theirs"}))
    cluster.apply(service(ns, "mine", (80, 8080), annotations={"bmlb.io/pool": f"{ns}-theirs"}))
    cluster.apply(nat(ns, "steal", "theirs", 443, pool=f"{ns}-pub", namespace=other_ns))
    cluster.apply(policy(ns, "open", ["theirs"], [{"name": "inet", "from": {"zones": ["untrust"]}}]))
    proc = run_controller()
    wait_for("their Service's VIP", lambda: cluster.ingress("theirs", other_ns), timeout=60)

    def refused(kind: str, name: str, namespace: str) -> dict[str, Any] | None:
        c = cluster.condition(kind, name, namespace, "Accepted")
        return c if c and c["status"] == "False" else None

    cond = wait_for("the NATRule refused", lambda: refused("NATRule", "steal", ns), timeout=30)
    assert cond["reason"] == "ForeignNamespace" and "spec.service.namespace" in cond["message"], cond
    cond = wait_for("the Service refused its pool", lambda: refused("Service", "mine", ns), timeout=30)
    assert "metadata.annotations[bmlb.io/pool]" in cond["message"], cond
    assert cluster.ingress("mine", ns) == []
    # A policy only ever selects Services of its own namespace: naming theirs selects nothing.
    cond = wait_for("the policy judged", lambda: cluster.condition("SecurityPolicy", "open", ns, "Accepted"))
    assert "spec.services.names[0]" in cond["message"], cond
    assert cluster.get("SecurityPolicy", "open", ns)["status"]["rules"] == []
    sim.wait_for_jobs()
    running = sim.running_xml() + sim.candidate_xml()
    vip = cluster.ingress("theirs", other_ns)[0]
    assert naming.name("nat_rule", namespace=ns, name="steal") not in running and vip not in running, dump_log(proc)
