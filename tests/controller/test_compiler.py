"""The compiler: PAN-OS semantics, tenancy, the data plane, determinism and name safety."""

from __future__ import annotations

import random
from pathlib import Path

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.core import render
from controller.core.compiler import compile
from controller.core.snapshot import Snapshot
from firewall.names import MAX_DESCRIPTION, is_valid_name
from tests.controller.estate import firewall, nat, policy, pool, service, slice_

ROOT = Path(__file__).resolve().parents[2]
BASE = [pool("vips", "10.96.0.0/28"), pool("pub", "203.0.113.0/29", zone="untrust", purpose="Public", auto=False),
        firewall()]


def run(*objs: dict) -> object:
    return compile(Snapshot.of([*BASE, *objs]))


def test_nat_rule_translates_public_to_vip_and_follows_the_vip() -> None:
    objs = [service("shop", "web", (443, 8443)), nat("shop", "web", "web", 443, pool="pub")]
    c = run(*objs)
    (rule,) = c.firewall("edge").desired.nat_rules
    assert rule.destination == ("bmlb-203.0.113.0",)
    assert rule.translated_address == "bmlb-10.96.0.0"
    assert rule.to_zones == ("untrust",) and rule.from_zones == ("untrust",)
    assert rule.owner.kind == "NATRule" and rule.owner.uid == "uid-nat-web" and rule.owner.generation == 2
    assert "uid=uid-nat-web gen=2" in rule.description
    # The Service is given another VIP (annotation): the NAT rule follows, the public address stays.
    moved = run(service("shop", "web", (443, 8443), annotations={"bmlb.io/ip": "10.96.0.9"}),
                {**objs[1], "status": {"public": "203.0.113.0:443"}})
    (rule2,) = moved.firewall("edge").desired.nat_rules
    assert rule2.translated_address == "bmlb-10.96.0.9" and rule2.destination == rule.destination


def test_security_rule_matches_pre_nat_destination_and_post_nat_zone() -> None:
    c = run(service("shop", "web", (443, 8443)),
            nat("shop", "web", "web", 443, pool="pub", public_port=8443),
            policy("shop", "pol", ["web"], [{"name": "inet", "from": {"zones": ["untrust"]}},
                                             {"name": "office", "from": {"zones": ["trust"],
                                                                         "addresses": ["192.0.2.0/24"]}}]))
    rules = {r.name: r for r in c.firewall("edge").desired.security_rules}
    pub = rules["bmlb_shop_pol_inet_web_pub"]
    assert pub.destinations == ("bmlb-203.0.113.0",), "pre-NAT destination: the public address"
    assert pub.to_zones == ("k8s",), "post-NAT zone: the VIP pool's zone"
    assert pub.services == ("bmlb-tcp-8443",), "the original (public) port"
    assert "bmlb_shop_pol_inet_web" not in rules, "untrust reaches the Service only through the NAT"
    office = rules["bmlb_shop_pol_office_web"]
    assert office.destinations == ("bmlb-10.96.0.0",) and office.services == ("bmlb-tcp-443",)
    assert office.sources == ("192.0.2.0/24",)
    assert [r.name for r in c.firewall("edge").desired.security_rules] == [
        "bmlb_shop_pol_inet_web_pub", "bmlb_shop_pol_office_web"], "policy rule order is rulebase order"


def test_a_namespace_cannot_publish_or_guard_another_namespaces_service() -> None:
    c = run(service("shop", "web", (443, 443)),
            nat("evil", "steal", "web", 443, pool="pub", namespace="shop"),
            nat("evil", "steal2", "web", 443, pool="pub"),
            policy("evil", "open", ["web"], [{"name": "all", "from": {"zones": ["any"]}}]))
    fw = c.firewall("edge").desired
    assert fw.nat_rules == () and fw.security_rules == ()
    got = {(p.ref.name, p.path, p.code) for p in c.problems}
    assert ("steal", "spec.service.namespace", "ForeignNamespace") in got
    assert ("steal2", "spec.service.name", "ServiceNotFound") in got
    assert ("open", "spec.services.names[0]", "ServiceNotFound") in got


def test_public_pool_admits_only_its_namespaces() -> None:
    c = compile(Snapshot.of([pool("vips", "10.96.0.0/28"), firewall(),
                             pool("pub", "203.0.113.0/29", zone="untrust", purpose="Public", auto=False,
                                  namespaces=["shop"]),
                             service("guest", "web", (80, 80)), nat("guest", "web", "web", 80, pool="pub")]))
    assert c.firewall("edge").desired.nat_rules == ()
    assert any(p.code == "PoolDeniesNamespace" and p.path == "spec.public.pool" for p in c.problems)


def test_external_traffic_policy_local_keeps_only_local_endpoints_and_affinity_persists() -> None:
    c = run(service("a", "s", (80, 8080), externalTrafficPolicy="Local", sessionAffinity="ClientIP",
                    sessionAffinityConfig={"clientIP": {"timeoutSeconds": 600}}),
            slice_("a", "s", [(80, 8080)], [("10.244.1.1", "n1"), ("10.244.2.1", "n2")]),
            {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}},
            {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n2"}})
    (vs1,) = c.table("n1").services
    (vs2,) = c.table("n2").services
    assert [str(r.address) for r in vs1.real_servers] == ["10.244.1.1"]
    assert [str(r.address) for r in vs2.real_servers] == ["10.244.2.1"]
    assert vs1.persistence_timeout == 600 and vs1.real_servers[0].port == 8080


def test_unready_and_terminating_endpoints_are_left_out() -> None:
    s = slice_("a", "s", [(80, 80)], [("10.244.1.1", "n1")])
    s["endpoints"] += [{"addresses": ["10.244.1.2"], "nodeName": "n1", "conditions": {"ready": False}},
                       {"addresses": ["10.244.1.3"], "nodeName": "n1",
                        "conditions": {"ready": True, "terminating": True}}]
    c = run(service("a", "s", (80, 80)), s)
    (vs,) = c.table("n1").services
    assert [str(r.address) for r in vs.real_servers] == ["10.244.1.1"]


def test_services_of_other_classes_are_ignored() -> None:
    other = service("a", "s", (80, 80))
    other["spec"]["loadBalancerClass"] = "metallb"
    c = run(other)
    assert c.allocations == () and c.tables[0][1].services == ()


def _example_docs() -> list[dict]:
    return [d for f in sorted((ROOT / "examples").glob("*.yaml")) for d in yaml.safe_load_all(f.read_text()) if d]


@settings(max_examples=25, deadline=None)
@given(st.randoms(use_true_random=False))
def test_compile_is_order_independent(rnd: random.Random) -> None:
    docs = _example_docs()
    expected = render.as_json(compile(Snapshot.of(docs)))
    rnd.shuffle(docs)
    assert render.as_json(compile(Snapshot.of(docs))) == expected


k8s_name = st.from_regex(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?", fullmatch=True)
rule_name = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,29}[a-z0-9])?", fullmatch=True)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(k8s_name, k8s_name, k8s_name, rule_name), min_size=1, max_size=6,
                unique_by=lambda t: (t[0], t[1])))
def test_every_firewall_name_is_valid_and_unique(entries: list[tuple[str, str, str, str]]) -> None:
    objs: list[dict] = [pool("vips", "10.96.0.0/24"),
                        pool("pub", "203.0.113.0/24", zone="untrust", purpose="Public", auto=False), firewall()]
    for ns, svc, pol, rule in entries:
        objs += [service(ns, svc, (443, 443)), nat(ns, svc, svc, 443, pool="pub"),
                 policy(ns, pol, [svc], [{"name": rule, "from": {"zones": ["untrust", "trust"]}}])]
    c = compile(Snapshot.of(objs))
    fw = c.firewall("edge").desired
    for group in (fw.tags, fw.addresses, fw.services, fw.security_rules, fw.nat_rules):
        names = [o.name for o in group]
        assert len(names) == len(set(names)), "unique"
        assert all(is_valid_name(n) or o.__class__.__name__ == "Tag" for n, o in zip(names, group, strict=True))
    for r in (*fw.security_rules, *fw.nat_rules, *fw.addresses):
        assert len(r.description) <= MAX_DESCRIPTION
    assert len(fw.nat_rules) == len(entries)


def test_masquerade_covers_nat_mode_cluster_services_only() -> None:
    """Cluster-policy NAT Services' VIP:port are masqueraded on every node; Local keeps the
    client's address, DR replies directly: neither is."""
    nodes = [{"apiVersion": "v1", "kind": "Node", "metadata": {"name": n}} for n in ("n1", "n2")]
    c = run(service("a", "cluster", (80, 8080), annotations={"bmlb.io/ip": "10.96.0.1"}),
            service("a", "local", (81, 8080), externalTrafficPolicy="Local", annotations={"bmlb.io/ip": "10.96.0.2"}),
            service("a", "dr", (82, 82), annotations={"bmlb.io/ip": "10.96.0.3", "bmlb.io/forwarding": "dr"}),
            *nodes)
    for node in ("n1", "n2"):
        got = {(str(m.address), m.protocol.value, m.port) for m in c.table(node).masquerade}
        assert got == {("10.96.0.1", "tcp", 80)}
