"""What a kubectl user sees, against the real controller: Events in `kubectl describe`, Event field
selectors, and the Service / Node / Event table columns the real API server prints.

The evidence is independent of bmlb: the Events are read back through the API (filtered here in
Python by the involved object's uid), and compared with what the unmodified kubectl prints.
"""

from __future__ import annotations

import json
import re
from typing import Any

from kubernetes import client

from controller.cli.localcluster import Cluster, wait_for
from tests.apiserver.server import ApiServer

# The controller tests' fixtures (API server with bmlb's CRDs, PAN-OS simulator, `bmlb controller`).
from tests.controller.conftest import cluster, dump_log, firewall_object, ns, run_controller, sim  # noqa: F401
from tests.controller.estate import nat, policy, pool, service, slice_


def _events_about(api: Any, namespace: str, uid: str) -> list[Any]:
    events = client.CoreV1Api(api).list_namespaced_event(namespace).items
    return [e for e in events if e.involved_object.uid == uid]


def _describe_events(api: ApiServer, *args: str) -> str:
    out = api.kubectl("describe", *args).stdout
    assert "Events:" in out, out
    return out.split("Events:", 1)[1]


def _ready(c: Cluster, kind: str, name: str, namespace: str) -> bool:
    cond = c.condition(kind, name, namespace, "Ready")
    return bool(cond and cond["status"] == "True")


def test_describe_shows_bmlb_events_and_get_svc_shows_the_vip(
    apiserver: ApiServer, kube_api: Any, cluster: Cluster, ns: str, firewall_object, run_controller,  # noqa: F811
) -> None:
    firewall_object(commit={"debounceSeconds": 0.3})
    cluster.apply(pool(f"{ns}-vips", "10.81.0.0/28", namespaces=[ns]))
    cluster.apply(pool(f"{ns}-pub", "198.51.100.8/29", zone="untrust", purpose="Public", auto=False, namespaces=[ns]))
    cluster.apply(service(ns, "web", (443, 8443)))
    cluster.apply(slice_(ns, "web", [(443, 8443)], [("10.244.1.1", "n1")]))
    cluster.apply(nat(ns, "web-https", "web", 443, pool=f"{ns}-pub"))
    cluster.apply(policy(ns, "web", ["web"], [{"name": "inet", "from": {"zones": ["untrust"]}}]))
    # A NATRule publishing another namespace's Service: refused with a Warning Event.
    cluster.apply(nat(ns, "steal", "web", 443, pool=f"{ns}-pub", namespace="kube-system"))
    proc = run_controller()
    wait_for("NATRule Ready", lambda: _ready(cluster, "NATRule", "web-https", ns), timeout=60)
    wait_for("SecurityPolicy Ready", lambda: _ready(cluster, "SecurityPolicy", "web", ns), timeout=30)
    vip = wait_for("a VIP", lambda: cluster.ingress("web", ns), timeout=30)[0]

    # Events only for what a user must see (issue 13): the refused NATRule's Warning, the
    # Service's VIP (IPAllocated); an object's first Ready is in its status, not an Event.
    objects = {
        ("natrule", "steal"): cluster.get("NATRule", "steal", ns),
        ("service", "web"): cluster.get("Service", "web", ns),
    }
    for (kind, name), body in objects.items():
        uid = body["metadata"]["uid"]
        events = wait_for(f"Events about {kind} {name}", lambda u=uid: _events_about(kube_api, ns, u), timeout=30)
        reasons = {e.reason for e in events}
        described = _describe_events(apiserver, kind, name, "-n", ns)
        assert "<none>" not in described.splitlines()[0], f"{kind} {name}: {described}\n{dump_log(proc)}"
        for reason in reasons:
            assert re.search(rf"\b{re.escape(reason)}\b", described), (kind, name, reason, described)
        # The same Events through `kubectl get events --field-selector`, as a user would look.
        sel = f"involvedObject.name={name},involvedObject.uid={uid}"
        got = json.loads(apiserver.kubectl("get", "events", "-n", ns, "--field-selector", sel, "-o", "json").stdout)
        # (The controller may post more Events meanwhile: those listed before are all there, and
        # nothing about another object.)
        assert {e["involvedObject"]["uid"] for e in got["items"]} == {uid}
        assert {e["metadata"]["name"] for e in got["items"]} >= {e.metadata.name for e in events}
    assert any(e.reason == "IPAllocated" and vip in (e.message or "")
               for e in _events_about(kube_api, ns, objects[("service", "web")]["metadata"]["uid"]))
    for kind, name in (("NATRule", "web-https"), ("SecurityPolicy", "web")):
        assert _events_about(kube_api, ns, cluster.get(kind, name, ns)["metadata"]["uid"]) == [], (kind, name)
    steal = _describe_events(apiserver, "natrule", "steal", "-n", ns)
    assert "Warning" in steal and "ForeignNamespace" in steal, steal
    warnings = apiserver.kubectl("get", "events", "-n", ns, "--field-selector",
                                 "type=Warning,involvedObject.kind=NATRule", "-o", "json").stdout
    assert {e["involvedObject"]["name"] for e in json.loads(warnings)["items"]} == {"steal"}

    # `kubectl get svc`: the VIP under EXTERNAL-IP, as on a real cluster.
    table = apiserver.kubectl("get", "svc", "web", "-n", ns).stdout.splitlines()
    assert table[0].split() == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"], table
    row = table[1].split()
    svc = objects[("service", "web")]
    node_port = svc["spec"]["ports"][0]["nodePort"]
    assert row[:5] == ["web", "LoadBalancer", svc["spec"]["clusterIP"], vip, f"443:{node_port}/TCP"], table
