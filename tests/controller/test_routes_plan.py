"""Routed mode in the compiler: which static routes a snapshot yields (issue 10 items 1-5,
aggregate routes, ECMP maxPaths with rendezvous spread, path monitoring, hostile node input)."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import ipaddress
from typing import Any

from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.cli import main
from controller.core.compiler import compile
from controller.core.snapshot import LEASE_PREFIX, Snapshot
from tests.controller.estate import firewall, nat, pool, service, slice_

NOW = 1_800_000_000.0


def node(name: str, *addresses: str, ready: str = "True", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}, "spec": spec,
            "status": {"addresses": [{"type": "InternalIP", "address": a} for a in addresses],
                       "conditions": [{"type": "Ready", "status": ready}]}}


def lease(node_name: str, ns: str = "bmlb-system", *, renewed: float = NOW, seconds: Any = 30,
          address: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"holderIdentity": node_name,
                            "renewTime": dt.datetime.fromtimestamp(renewed, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
    if seconds is not None:
        spec["leaseDurationSeconds"] = seconds
    meta: dict[str, Any] = {"name": LEASE_PREFIX + node_name, "namespace": ns}
    if address is not None:
        meta["annotations"] = {"bmlb.io/node-address": address}
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta, "spec": spec}


def slice6(ns: str, svc: str, ports: list[tuple[int, int]], endpoints: list[tuple[str, str]]) -> dict[str, Any]:
    s = slice_(ns, svc, ports, endpoints, name=f"{svc}-6")
    s["addressType"] = "IPv6"
    return s


def routes(objs: list[dict[str, Any]], *, now: float | None = NOW, fw: str = "edge",
           last: tuple[tuple[str, tuple[str, ...]], ...] = ()) -> set[tuple[str, str]]:
    target = compiled(objs, now=now, last=last).firewall(fw)
    assert target is not None
    return {(r.destination, r.nexthop or "") for r in target.desired.static_routes}


def compiled(objs: list[dict[str, Any]], *, now: float | None = NOW,
             last: tuple[tuple[str, tuple[str, ...]], ...] = ()) -> Any:
    return compile(dataclasses.replace(Snapshot.of(objs), now=now, last_routes=last))


def by_dest(objs: list[dict[str, Any]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for dest, hop in routes(objs):
        out.setdefault(dest, set()).add(hop)
    return out


TWO = [node("node-1", "10.96.0.11"), node("node-2", "10.96.0.12")]


# --- item 1: a shared VIP routes only to nodes that can serve every Service on it ----------

def test_shared_vip_with_a_local_service_routes_only_to_nodes_serving_both() -> None:
    shared = {"bmlb.io/allow-shared-ip": "store", "bmlb.io/ip": "10.82.0.5"}
    objs = [firewall(), pool("vips", "10.82.0.0/28"), *TWO,
            service("store", "checkout", (443, 8443), annotations=shared),
            slice_("store", "checkout", [(443, 8443)], [("10.244.1.1", "node-1"), ("10.244.2.1", "node-2")]),
            service("store", "storefront", (80, 8080), annotations=shared, externalTrafficPolicy="Local"),
            slice_("store", "storefront", [(80, 8080)], [("10.244.1.2", "node-1")])]
    assert by_dest(objs)["10.82.0.5/32"] == {"10.96.0.11"}


def test_shared_local_services_without_a_common_node_say_so() -> None:
    shared = {"bmlb.io/allow-shared-ip": "store", "bmlb.io/ip": "10.82.0.5"}
    objs = [firewall(), pool("vips", "10.82.0.0/28"), *TWO,
            service("store", "a", (443, 8443), annotations=shared, externalTrafficPolicy="Local"),
            slice_("store", "a", [(443, 8443)], [("10.244.2.1", "node-2")]),
            service("store", "b", (80, 8080), annotations=shared, externalTrafficPolicy="Local"),
            slice_("store", "b", [(80, 8080)], [("10.244.1.2", "node-1")])]
    c = compiled(objs)
    assert not [r for r in c.firewall("edge").desired.static_routes if r.destination == "10.82.0.5/32"]
    assert {p.ref.name for p in c.problems if p.code == "NoCommonNode"} == {"a", "b"}


# --- item 2: a dual-stack node keeps both addresses -----------------------------------------

def test_dual_stack_node_routes_each_family_to_its_own_address() -> None:
    objs = [firewall(), pool("vips", "10.82.0.0/28", "2001:db8:82::/124"),
            node("node-1", "10.96.0.11", "2001:db8:96::11"),
            service("web", "web", (80, 8080), ipFamilies=["IPv4", "IPv6"], ipFamilyPolicy="RequireDualStack",
                    externalTrafficPolicy="Local"),
            slice_("web", "web", [(80, 8080)], [("10.244.1.1", "node-1")]),
            slice6("web", "web", [(80, 8080)], [("fd00::1", "node-1")])]
    got = routes(objs)
    v4 = {(d, h) for d, h in got if ":" not in d}
    v6 = {(d, h) for d, h in got if ":" in d}
    assert v4 and all(h == "10.96.0.11" for _, h in v4)
    assert v6 and all(h == "2001:db8:96::11" for _, h in v6)
    vips = next(a for a in compiled(objs).allocations if a.ref.name == "web").addresses
    assert {f"{ip}/{ip.max_prefixlen}" for ip in vips} <= {d for d, _ in got}


# --- item 3: Local endpoints are judged per family ------------------------------------------

def test_local_service_routes_each_family_to_nodes_with_an_endpoint_of_that_family() -> None:
    objs = [firewall(), pool("vips", "10.82.0.0/28", "2001:db8:82::/124"),
            node("node-1", "10.96.0.11", "2001:db8:96::11"), node("node-2", "10.96.0.12", "2001:db8:96::12"),
            service("web", "web", (80, 8080), ipFamilies=["IPv4", "IPv6"], ipFamilyPolicy="RequireDualStack",
                    externalTrafficPolicy="Local"),
            slice_("web", "web", [(80, 8080)], [("10.244.1.1", "node-1"), ("10.244.2.1", "node-2")]),
            slice6("web", "web", [(80, 8080)], [("fd00::1", "node-1")])]
    vips = next(a for a in compiled(objs).allocations if a.ref.name == "web").addresses
    v4, v6 = (next(ip for ip in vips if ip.version == v) for v in (4, 6))
    got = by_dest(objs)
    assert got[f"{v4}/32"] == {"10.96.0.11", "10.96.0.12"}
    assert got[f"{v6}/128"] == {"2001:db8:96::11"}


# --- item 4: no NAT66 ------------------------------------------------------------------------

def test_ipv6_natrule_is_refused_and_never_emitted(tmp_path: Any) -> None:
    import yaml
    objs = [firewall(routing={"mode": "none"}), pool("vips", "10.82.0.0/28", "2001:db8:82::/124"),
            pool("public", "2001:db8:ff::/124", zone="untrust", purpose="Public"),
            service("web", "web", (80, 8080), ipFamilies=["IPv6"]),
            nat("web", "pub6", "web", 80, address="2001:db8:ff::5")]
    c = compiled(objs)
    assert [p for p in c.problems if p.ref.name == "pub6" and p.code == "NAT66Unsupported"
            and p.path == "spec.public.address"]
    assert not c.firewall("edge").desired.nat_rules
    f = tmp_path / "estate.yaml"
    f.write_text(yaml.safe_dump_all(objs))
    out = CliRunner().invoke(main, ["plan", "-f", str(f), "-o", "panos-set"]).output
    assert "nat rules" not in out and "translated-address" not in out


# --- item 5: Panorama ----------------------------------------------------------------------

def test_routed_mode_on_panorama_is_refused_with_a_problem(tmp_path: Any) -> None:
    import yaml
    objs = [firewall(type="panorama", deviceGroup="dg"), pool("vips", "10.82.0.0/28"), *TWO,
            service("web", "web", (80, 8080))]
    c = compiled(objs)
    assert not c.firewall("edge").desired.static_routes
    assert [p for p in c.problems if p.ref.kind == "Firewall" and p.path == "spec.routing.mode"
            and p.code == "RoutedModeOnPanorama"]
    f = tmp_path / "estate.yaml"
    f.write_text(yaml.safe_dump_all(objs))
    out = CliRunner().invoke(main, ["plan", "-f", str(f), "-o", "panos-set"]).output
    assert "virtual-router" not in out


# --- aggregate routes ----------------------------------------------------------------------

def test_cluster_services_are_covered_by_pool_routes_and_a_new_service_changes_none() -> None:
    base = [firewall(), pool("vips", "10.82.0.0/24"), pool("more", "10.83.0.0/28"), *TWO,
            service("web", "web", (80, 8080))]
    before = routes(base)
    dests = {ipaddress.ip_network(d) for d, _ in before}
    assert dests == set(ipaddress.ip_network("10.82.0.0/24").subnets(new_prefix=27)) | set(
        ipaddress.ip_network("10.83.0.0/28").subnets(new_prefix=31))
    assert routes([*base, service("web", "api", (81, 8081))]) == before


# --- ECMP maxPaths and rendezvous spread -----------------------------------------------------

def five(n: int = 5) -> list[dict[str, Any]]:
    return [node(f"node-{i}", f"10.96.0.{10 + i}") for i in range(1, n + 1)]


def test_each_piece_goes_to_max_paths_nodes_and_all_nodes_share_the_load() -> None:
    for max_paths in (1, 2, 3, 4):
        got = by_dest([firewall(routing={"ecmp": {"maxPaths": max_paths}, "split": 16}),
                       pool("vips", "10.82.0.0/24"), *five()])
        assert len(got) == 16 and all(len(h) == max_paths for h in got.values())
        if max_paths >= 2:
            assert set().union(*got.values()) == {f"10.96.0.{10 + i}" for i in range(1, 6)}


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 9), gone=st.integers(0, 8), max_paths=st.integers(1, 4))
def test_a_node_leaving_moves_only_its_own_share(n: int, gone: int, max_paths: int) -> None:
    gone %= n
    fw, p = firewall(routing={"ecmp": {"maxPaths": max_paths}, "split": 32}), pool("vips", "10.82.0.0/22")
    nodes = five(n)
    before = by_dest([fw, p, *nodes])
    after = by_dest([fw, p, *[x for i, x in enumerate(nodes) if i != gone]])
    hop = f"10.96.0.{11 + gone}"
    for dest, hops in before.items():
        if hop not in hops:
            assert after[dest] == hops, dest
        else:
            assert hops - {hop} <= after[dest] and hop not in after[dest]


# --- path monitoring -------------------------------------------------------------------------

def test_every_route_monitors_its_next_hop_and_the_limit_is_enforced() -> None:
    objs = [firewall(routing={"pathMonitor": {"intervalSeconds": 2, "count": 3}}), pool("vips", "10.82.0.0/24"),
            *TWO]
    c = compiled(objs)
    rs = c.firewall("edge").desired.static_routes
    assert rs and all(r.monitor and r.monitor.destination == r.nexthop and r.monitor.interval == 2
                      and r.monitor.count == 3 for r in rs)
    assert not any(r.monitor for r in compiled([firewall(routing={"pathMonitor": {"enabled": False}}),
                                                *objs[1:]]).firewall("edge").desired.static_routes)
    # 8 pieces x 2 paths = 16 monitored routes: over a limit of 10 nothing new is planned.
    over = compiled([firewall(routing={"pathMonitor": {"maxMonitoredRoutes": 10}}), *objs[1:]])
    assert [p for p in over.problems if p.code == "TooManyMonitoredRoutes"
            and p.path == "spec.routing.pathMonitor.maxMonitoredRoutes"]
    assert not over.firewall("edge").desired.static_routes
    kept = compiled([firewall(routing={"pathMonitor": {"maxMonitoredRoutes": 10}}), *objs[1:]], last=c.routes)
    assert {(r.destination, r.nexthop) for r in kept.firewall("edge").desired.static_routes} == {
        (r.destination, r.nexthop) for r in rs}


# --- hostile node input: no exception, a problem naming the object and field ------------------

def test_a_bad_node_address_is_a_problem_and_the_node_is_no_next_hop() -> None:
    objs = [firewall(), pool("vips", "10.82.0.0/28"), node("node-1", "10.44.100.300"), node("node-2", "10.96.0.12")]
    c = compiled(objs)
    assert {h for _, h in routes(objs)} == {"10.96.0.12"}
    assert [p for p in c.problems if p.ref.kind == "Node" and p.ref.name == "node-1"
            and p.path == "status.addresses[0].address" and "10.44.100.300" in p.message]


def test_a_bad_lease_address_is_a_problem_in_lease_only_mode() -> None:
    objs = [firewall(), pool("vips", "10.82.0.0/28"), lease("node-1", address="not-an-ip"),
            lease("node-2", address="10.96.0.12")]
    c = compiled(objs)
    assert {h for _, h in routes(objs)} == {"10.96.0.12"}
    assert [p for p in c.problems if p.ref.kind == "Lease" and p.ref.name == "bmlb-node-node-1"
            and p.path == "metadata.annotations[bmlb.io/node-address]"]


def test_only_the_lease_namespace_counts_and_only_for_existing_nodes() -> None:
    objs = [firewall(), pool("vips", "10.82.0.0/28"), *TWO, lease("node-1"), lease("node-2"),
            lease("evil", ns="evil", address="203.0.113.66"),
            lease("node-1", ns="evil", renewed=NOW - 3600, seconds=1),
            lease("ghost", address="203.0.113.67")]
    assert {h for _, h in routes(objs)} == {"10.96.0.11", "10.96.0.12"}
    c = compiled(objs)
    assert "evil" not in {n for n, _ in c.tables} and "ghost" not in {n for n, _ in c.tables}


def test_lease_freshness_is_one_rule() -> None:
    from controller.core import leases
    at = dt.datetime(2027, 1, 15, 8, 0, 0, tzinfo=dt.UTC).timestamp()
    assert leases.is_fresh("2027-01-15T08:00:00Z", 10, at + 9.9)
    assert not leases.is_fresh("2027-01-15T08:00:00Z", 10, at + 10)
    assert not leases.is_fresh(None, 10, NOW)
    assert not leases.is_fresh("2027-01-15T08:00:00Z", None, NOW)
    # a Lease without a duration proves nothing: routes leave that node
    objs = [firewall(), pool("vips", "10.82.0.0/28"), *TWO, lease("node-1"), lease("node-2", seconds=None)]
    assert {h for _, h in routes(objs)} == {"10.96.0.11"}


def test_a_lease_duration_past_int32_is_a_problem_not_a_crash() -> None:
    # 10**400 seconds (YAML reads any integer) overflowed float() in the freshness rule and raised
    # out of compile; the Lease API's leaseDurationSeconds is an int32.
    from controller.core import leases
    assert not leases.is_fresh("2027-01-15T08:00:00Z", 10**400, NOW)
    assert not leases.is_fresh("2027-01-15T08:00:00Z", 2**31, NOW)
    objs = [firewall(), pool("vips", "10.82.0.0/28"), *TWO, lease("node-1"), lease("node-2", seconds=10**400)]
    c = compiled(objs)
    assert {h for _, h in routes(objs)} == {"10.96.0.11"}
    assert [(p.ref.name, p.path) for p in c.problems if p.ref.kind == "Lease"] == [
        ("bmlb-node-node-2", "spec.leaseDurationSeconds")]


_junk = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=12),
                     lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                     max_leaves=8)


def _mangle(body: dict[str, Any], draw: Any) -> dict[str, Any]:
    """The body with one value, at any depth, replaced by junk."""
    paths: list[tuple[Any, Any]] = []

    def walk(x: Any) -> None:
        if isinstance(x, dict):
            for k, v in x.items():
                paths.append((x, k))
                walk(v)
        elif isinstance(x, list):
            for i, v in enumerate(x):
                paths.append((x, i))
                walk(v)

    out = copy.deepcopy(body)
    walk(out)
    holder, key = paths[draw(st.integers(0, len(paths) - 1))]
    holder[key] = draw(_junk)
    return out


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_no_node_lease_or_slice_input_raises_out_of_route_building(data: Any) -> None:
    from controller.core.dataplane import endpoints_by_service
    from controller.core.nodes import node_view
    from controller.core.routes import local_nodes
    from controller.core.slices import parse_slices
    base = [node("node-1", "10.96.0.11", "2001:db8::11"), lease("node-1", address="10.96.0.11"),
            slice_("web", "web", [(80, 8080)], [("10.244.1.1", "node-1")])]
    n1, l1, s1 = (_mangle(b, data.draw) if data.draw(st.booleans()) else b for b in base)
    snap = Snapshot(nodes=(n1, node("node-2", "10.96.0.12")), leases=(l1, lease("node-2")), endpoint_slices=(s1,),
                    now=NOW)
    nodes, _ = node_view(snap)
    slices = parse_slices(snap.endpoint_slices)
    local_nodes(slices)
    endpoints_by_service(slices)
    assert nodes["node-2"].healthy and str(nodes["node-2"].address(4)) == "10.96.0.12"
