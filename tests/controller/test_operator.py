"""The operator against the real API server: allocation, status, Events, restarts."""

from __future__ import annotations

from controller.cli.localcluster import Cluster, wait_for
from tests.controller.conftest import dump_log
from tests.controller.estate import pool, service


def test_service_gets_a_vip_and_keeps_it_across_a_restart(cluster: Cluster, ns: str, run_controller) -> None:
    cluster.apply(pool(f"{ns}-vips", "10.77.0.0/29", namespaces=[ns]))
    cluster.apply(service(ns, "web", (80, 8080)))
    proc = run_controller()
    ip = wait_for("an ingress IP", lambda: cluster.ingress("web", ns), timeout=40)
    assert ip == ["10.77.0.0"], dump_log(proc)
    ready = wait_for("Ready", lambda: cluster.condition("Service", "web", ns, "Ready"))
    assert ready["status"] == "True"
    # A second Service, then a controller restart with the first created later in name order:
    cluster.apply(service(ns, "api", (443, 443)))
    wait_for("api's IP", lambda: cluster.ingress("api", ns))
    before = {n: cluster.ingress(n, ns) for n in ("web", "api")}
    proc.terminate()
    proc.wait(15)
    run_controller(log_name="controller2.log")
    cluster.apply(service(ns, "zzz", (80, 80)))
    wait_for("zzz's IP", lambda: cluster.ingress("zzz", ns))
    assert {n: cluster.ingress(n, ns) for n in ("web", "api")} == before, "zero re-IPs after a restart"


def test_unmet_request_is_explained_in_condition_and_event(cluster: Cluster, ns: str, run_controller) -> None:
    cluster.apply(pool(f"{ns}-tiny", "10.78.0.0/32", namespaces=[ns]))
    cluster.apply(service(ns, "first", (80, 80)))
    cluster.apply(service(ns, "second", (80, 80), annotations={"bmlb.io/ip": "10.99.9.9"}))
    run_controller()
    wait_for("first's IP", lambda: cluster.ingress("first", ns))
    cond = wait_for("second refused", lambda: (c := cluster.condition("Service", "second", ns, "Accepted"))
                    and c["status"] == "False" and c)
    assert cond["reason"] == "IPNotInPool"
    assert "metadata.annotations[bmlb.io/ip]" in cond["message"]
    assert cluster.ingress("second", ns) == []
    events = wait_for("a Warning event", lambda: [e for e in cluster.events(ns, "second") if e[0] == "Warning"])
    assert any("IPNotInPool" == e[1] for e in events)
