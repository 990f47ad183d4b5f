"""Tenancy rules of the compiler that need no cluster: which Firewall a namespace may program,
and that no problem told to one namespace names another namespace's objects."""

from __future__ import annotations

import ipaddress

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


def test_a_scoped_ipv6_address_never_takes_another_namespaces_vip() -> None:
    # "fd00:10:96::5%x" parses in Python as an address that is unequal to fd00:10:96::5 (the scope
    # is compared and hashed), so the allocator saw it as free: namespace evil held victim's VIP,
    # with its own IPVS entry, address object and allow rule for it.
    v6 = {"ipFamilies": ["IPv6"], "ipFamilyPolicy": "SingleStack"}
    objs = [pool("v6", "fd00:10:96::/120"), firewall(),
            service("victim", "web", (443, 443), annotations={"bmlb.io/ip": "fd00:10:96::5"}, **v6),
            service("evil", "web", (443, 443), annotations={"bmlb.io/ip": "fd00:10:96::5%x"}, **v6),
            policy("evil", "open", ["web"], [{"name": "any", "from": {"zones": ["untrust"]}}])]
    for body, created in zip(objs[2:4], ("2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z"), strict=True):
        body["metadata"]["creationTimestamp"] = created
    c = compile(Snapshot.of(objs))
    victim = int(ipaddress.ip_address("fd00:10:96::5"))
    held = {(a.ref.namespace, str(ip)) for a in c.allocations for ip in a.addresses if int(ip) == victim}
    assert held == {("victim", "fd00:10:96::5")}, held
    assert [(p.path, p.code) for p in c.problems if p.ref.namespace == "evil" and p.severity.value == "error"] == [
        ("metadata.annotations[bmlb.io/ip]", "InvalidIP")]
    on_vip = [str(vs.address) for _, t in c.tables for vs in t.services if int(vs.address) == victim]
    assert on_vip == ["fd00:10:96::5"] * len(c.tables)
