"""Field selectors and table columns registered as kube-apiserver registers them (no controller)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client

from tests.apiserver.server import ApiServer


def _event(ns: str, name: str, kind: str, obj: str, uid: str, reason: str, type_: str = "Normal",
           component: str = "bmlb", reporting: str = "") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Event", "metadata": {"name": name, "namespace": ns},
            "involvedObject": {"kind": kind, "name": obj, "namespace": ns, "uid": uid, "apiVersion": "bmlb.io/v1alpha1",
                               "fieldPath": "spec.public" if reason == "B" else ""},
            "reason": reason, "message": f"{reason} happened", "type": type_,
            "source": {"component": component}, "reportingComponent": reporting,
            "firstTimestamp": "2026-01-01T00:00:00Z", "lastTimestamp": "2026-01-01T00:00:00Z", "count": 1}


@pytest.mark.parametrize(("selector", "expected"), [
    ("involvedObject.name=web", {"e1", "e2"}),
    ("involvedObject.name=web,involvedObject.kind=NATRule", {"e1"}),
    ("involvedObject.kind=SecurityPolicy", {"e2"}),
    ("involvedObject.uid=u3", {"e3"}),
    (None, {"e1", "e2", "e3"}),
    ("involvedObject.apiVersion=bmlb.io/v1alpha1", {"e1", "e2", "e3"}),
    ("involvedObject.fieldPath=spec.public", {"e2"}),
    ("reason=A", {"e1"}),
    ("reason!=A", {"e2", "e3"}),
    ("type=Warning", {"e3"}),
    ("source=bmlb", {"e1", "e2"}),
    ("source=other", {"e3"}),
    ("reportingComponent=other-rc", {"e3"}),
    ("metadata.name=e2", {"e2"}),
])
def test_event_field_selectors(apiserver: ApiServer, kube_api: Any, k8s_namespace: str, selector: str | None,
                               expected: set[str]) -> None:
    ns = k8s_namespace
    core = client.CoreV1Api(kube_api)
    core.create_namespaced_event(ns, _event(ns, "e1", "NATRule", "web", "u1", "A"))
    core.create_namespaced_event(ns, _event(ns, "e2", "SecurityPolicy", "web", "u2", "B"))
    core.create_namespaced_event(ns, _event(ns, "e3", "NATRule", "api", "u3", "C", "Warning", component="other",
                                            reporting="other-rc"))
    args = ["get", "events", "-n", ns, "-o", "json"] + (["--field-selector", selector] if selector else [])
    items = json.loads(apiserver.kubectl(*args).stdout)["items"]
    assert {e["metadata"]["name"] for e in items} == expected
    # The Python client (a watch would use the same predicate) agrees.
    listed = core.list_namespaced_event(ns, field_selector=selector or "")
    assert {e.metadata.name for e in listed.items} == expected


def test_unknown_field_selector_is_refused(apiserver: ApiServer, k8s_namespace: str) -> None:
    r = apiserver.kubectl("get", "events", "-n", k8s_namespace, "--field-selector", "spec.nothing=x", check=False)
    assert r.returncode != 0 and "field label not supported: spec.nothing" in r.stderr


def test_service_field_selectors_and_columns(apiserver: ApiServer, kube_api: Any, k8s_namespace: str) -> None:
    ns = k8s_namespace
    core = client.CoreV1Api(kube_api)
    ports = [{"name": "a", "port": 80}, {"name": "b", "port": 53, "protocol": "UDP"}]
    core.create_namespaced_service(ns, {"metadata": {"name": "lb"}, "spec": {
        "type": "LoadBalancer", "selector": {"app": "lb"}, "ports": ports}})
    core.create_namespaced_service(ns, {"metadata": {"name": "plain"}, "spec": {"ports": [{"port": 8080}]}})
    core.create_namespaced_service(ns, {"metadata": {"name": "ext"}, "spec": {
        "type": "ExternalName", "externalName": "db.example"}})
    by_type = core.list_namespaced_service(ns, field_selector="spec.type=LoadBalancer").items
    assert [s.metadata.name for s in by_type] == ["lb"]

    rows = {line.split()[0]: line.split() for line in apiserver.kubectl("get", "svc", "-n", ns).stdout.splitlines()}
    assert rows["NAME"] == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    lb = core.read_namespaced_service("lb", ns)
    np = [p.node_port for p in lb.spec.ports]
    assert rows["lb"][:5] == ["lb", "LoadBalancer", lb.spec.cluster_ip, "<pending>", f"80:{np[0]}/TCP,53:{np[1]}/UDP"]
    assert rows["plain"][:5] == ["plain", "ClusterIP", core.read_namespaced_service("plain", ns).spec.cluster_ip,
                                 "<none>", "8080/TCP"]
    assert rows["ext"][1:4] == ["ExternalName", "<none>", "db.example"]

    core.patch_namespaced_service_status("lb", ns, {"status": {"loadBalancer": {"ingress": [
        {"ip": "192.0.2.10"}, {"ip": "192.0.2.9"}]}}})
    out = apiserver.kubectl("get", "svc", "-n", ns, "-o", "wide").stdout
    wide = {line.split()[0]: line.split() for line in out.splitlines()}
    assert wide["NAME"][-1] == "SELECTOR" and wide["lb"][-1] == "app=lb"
    assert wide["lb"][3] == "192.0.2.10,192.0.2.9"


def test_node_columns(apiserver: ApiServer, kube_api: Any) -> None:
    core = client.CoreV1Api(kube_api)
    name = "kapilite-node-columns"
    core.create_node({"metadata": {"name": name, "labels": {"node-role.kubernetes.io/control-plane": ""}},
                      "spec": {"unschedulable": True}})
    try:
        core.patch_node_status(name, {"status": {
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "ok"}],
            "addresses": [{"type": "InternalIP", "address": "192.0.2.21"}],
            "nodeInfo": {"kubeletVersion": "v1.36.4", "osImage": "Debian", "kernelVersion": "6.12.0",
                         "containerRuntimeVersion": "containerd://2.0", "machineID": "", "systemUUID": "",
                         "bootID": "", "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": "amd64"}}})
        lines = apiserver.kubectl("get", "node", name, "-o", "wide").stdout.splitlines()
        assert lines[0].split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP", "EXTERNAL-IP",
                                    "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME"]
        row = lines[1].split()
        assert row[:3] == [name, "Ready,SchedulingDisabled", "control-plane"]
        assert row[4:] == ["v1.36.4", "192.0.2.21", "<none>", "Debian", "6.12.0", "containerd://2.0"]
        assert [n.metadata.name for n in core.list_node(field_selector="spec.unschedulable=true").items] == [name]
    finally:
        core.delete_node(name)
