"""Builders of small cluster objects for compiler tests."""

from __future__ import annotations

from typing import Any

LB = {"type": "LoadBalancer", "loadBalancerClass": "bmlb.io/ipvs"}


def pool(name: str, *addresses: str, zone: str = "k8s", purpose: str = "Service", auto: bool = True,
         namespaces: list[str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"addresses": list(addresses), "zone": zone, "purpose": purpose, "autoAssign": auto}
    if namespaces:
        spec["namespaces"] = namespaces
    return {"apiVersion": "bmlb.io/v1alpha1", "kind": "VIPPool", "metadata": {"name": name}, "spec": spec}


def service(ns: str, name: str, *ports: tuple[int, int], annotations: dict[str, str] | None = None,
            labels: dict[str, str] | None = None, ingress: list[str] | None = None, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": ns, "uid": f"uid-{ns}-{name}", "generation": 1,
                     "annotations": annotations or {}, "labels": labels or {}},
        "spec": {**LB, "ports": [{"name": f"p{p}", "port": p, "targetPort": t, "protocol": "TCP"}
                                 for p, t in ports], **spec},
    }
    if ingress:
        body["status"] = {"loadBalancer": {"ingress": [{"ip": x} for x in ingress]}}
    return body


def slice_(ns: str, svc: str, ports: list[tuple[int, int]], endpoints: list[tuple[str, str]],
           name: str = "") -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
        "metadata": {"name": name or f"{svc}-1", "namespace": ns, "labels": {"kubernetes.io/service-name": svc}},
        "ports": [{"name": f"p{p}", "port": t, "protocol": "TCP"} for p, t in ports],
        "endpoints": [{"addresses": [a], "nodeName": n, "conditions": {"ready": True}} for a, n in endpoints],
    }


def nat(ns: str, name: str, svc: str, port: int | str, *, address: str | None = None, pool: str | None = None,
        public_port: int | None = None, zones: tuple[str, ...] = ("untrust",), **extra: Any) -> dict[str, Any]:
    public: dict[str, Any] = {"address": address} if address else {"pool": pool}
    if public_port:
        public["port"] = public_port
    return {"apiVersion": "bmlb.io/v1alpha1", "kind": "NATRule",
            "metadata": {"name": name, "namespace": ns, "uid": f"uid-nat-{name}", "generation": 2},
            "spec": {"service": {"name": svc, "port": port, **extra}, "public": public,
                     "from": {"zones": list(zones)}}}


def policy(ns: str, name: str, services: list[str], rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": "bmlb.io/v1alpha1", "kind": "SecurityPolicy",
            "metadata": {"name": name, "namespace": ns, "uid": f"uid-pol-{name}", "generation": 3},
            "spec": {"services": {"names": services}, "rules": rules}}


def firewall(name: str = "edge", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "bmlb.io/v1alpha1", "kind": "Firewall", "metadata": {"name": name},
            "spec": {"host": "127.0.0.1", "credentialsSecret": {"name": "s", "namespace": "bmlb-system"}, **spec}}
