"""Tenancy rules of the compiler that need no cluster: which Firewall a namespace may program,
and that no problem told to one namespace names another namespace's objects."""

from __future__ import annotations

from controller.core.compiler import compile
from controller.core.snapshot import Snapshot
from tests.controller.estate import firewall, nat, policy, pool, service


def test_a_firewall_admits_only_its_namespaces() -> None:
    objs = [pool("vips", "10.9.0.0/28"), pool("pub", "198.51.100.0/28", zone="untrust", purpose="Public", auto=False),
            firewall(namespaces=["shop"]),
            service("shop", "web", (443, 8443)), nat("shop", "web", "web", 443, pool="pub"),
            service("evil", "web", (443, 8443)), nat("evil", "web", "web", 443, pool="pub"),
            policy("evil", "open", ["web"], [{"name": "any", "from": {"zones": ["untrust"]}}])]
    c = compile(Snapshot.of(objs))
    desired = c.firewalls[0].desired
    assert {r.owner.namespace for r in (*desired.nat_rules, *desired.security_rules)} == {"shop"}
    denied = {(p.ref.kind, p.ref.namespace) for p in c.errors if p.code == "FirewallDeniesNamespace"}
    assert denied == {("NATRule", "evil"), ("SecurityPolicy", "evil")}


def test_problems_never_name_another_namespace() -> None:
    objs = [pool("vips", "10.9.0.0/28"), firewall(),
            service("victim-ns", "payments", (443, 8443), annotations={"bmlb.io/ip": "10.9.0.5",
                                                                       "bmlb.io/allow-shared-ip": "k"}),
            service("evil", "probe", (80, 8080), annotations={"bmlb.io/ip": "10.9.0.5",
                                                               "bmlb.io/allow-shared-ip": "k"}),
            service("evil", "probe2", (443, 8080), annotations={"bmlb.io/ip": "10.9.0.5"})]
    for body, created in zip(objs[2:], ("2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z", "2026-02-01T00:00:00Z"),
                             strict=True):
        body["metadata"]["creationTimestamp"] = created  # the victim holds the address first
    c = compile(Snapshot.of(objs))
    told = [p for p in c.problems if p.ref.namespace == "evil"]
    assert told and all(p.code == "IPInUse" for p in told), told
    assert not any("victim-ns" in p.message or "payments" in p.message for p in told), told
