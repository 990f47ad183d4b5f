"""The routed-mode oracle on hand-written manifests and static routes: it accepts any right pick
of next hops and names every wrong route (next hop, count, metric, monitor, health, Local)."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.controller.estate import pool, service, slice_
from tests.faults import route_oracle as ro

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC).timestamp()


def node(name: str, ip: str, ready: str = "True", **spec: object) -> dict:
    return {"metadata": {"name": name}, "spec": spec,
            "status": {"addresses": [{"type": "InternalIP", "address": ip}],
                       "conditions": [{"type": "Ready", "status": ready}]}}


def lease(name: str, age: float, seconds: int = 10, address: str | None = None) -> dict:
    renew = dt.datetime.fromtimestamp(NOW - age, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    meta: dict = {"name": f"bmlb-node-{name}", "namespace": "ns"}
    if address:
        meta["annotations"] = {"bmlb.io/node-address": address}
    return {"metadata": meta, "spec": {"renewTime": renew, "leaseDurationSeconds": seconds}}


FIREWALL = {"metadata": {"name": "edge"}, "spec": {"routing": {"split": 2, "ecmp": {"maxPaths": 2}}}}
NODES = [node("a", "10.96.0.11"), node("b", "10.96.0.12"), node("c", "10.96.0.13")]
LEASES = [lease("a", 1), lease("b", 1), lease("c", 60)]  # c's Lease expired 50 s ago
POOLS = [pool("vips", "10.80.0.0/30"), pool("pub", "198.51.100.0/29", purpose="Public", zone="untrust")]
LOCAL = service("ns", "local", (80, 80), ingress=["10.80.0.1"], externalTrafficPolicy="Local")
SLICES = [slice_("ns", "local", [(80, 80)], [("10.244.0.1", "b")])]


def want() -> tuple[ro.Routing, dict[str, ro.Want]]:
    return ro.expected_routes(firewall=FIREWALL, pools=POOLS, services=[LOCAL], slices=SLICES, nodes=NODES,
                              leases=LEASES, now=NOW)


def routes_xml(*routes: tuple[str, str], metric: str = "10", monitor: str | None = None) -> str:
    entries = "".join(
        f"<entry name='bmlb-rt-{i}'><destination>{d}</destination><nexthop><ip-address>{h}</ip-address></nexthop>"
        f"<metric>{metric}</metric><path-monitor><enable>yes</enable><monitor-destinations><entry name='nexthop'>"
        f"<enable>yes</enable><destination>{monitor or h}</destination></entry></monitor-destinations>"
        "</path-monitor></entry>" for i, (d, h) in enumerate(routes))
    return ("<config><devices><entry name='localhost.localdomain'><network><virtual-router><entry name='default'>"
            f"<routing-table><ip><static-route>{entries}<entry name='corp-default'><destination>0.0.0.0/0"
            "</destination><nexthop><ip-address>10.0.0.1</ip-address></nexthop></entry></static-route></ip>"
            "</routing-table></entry></virtual-router></network></entry></devices></config>")


RIGHT = [("10.80.0.0/31", "10.96.0.11"), ("10.80.0.0/31", "10.96.0.12"), ("10.80.0.2/31", "10.96.0.12"),
         ("10.80.0.2/31", "10.96.0.11"), ("10.80.0.1/32", "10.96.0.12")]


def verdicts(xml: str) -> list[tuple[str, str]]:
    routing, w = want()
    return list(ro.compare(routing, w, ro.device_routes(xml)))


def test_expected_destinations() -> None:
    _, w = want()
    assert w["10.80.0.0/31"] == ro.Want(frozenset({"10.96.0.11", "10.96.0.12"}), 2)  # c: Lease expired
    assert w["10.80.0.1/32"] == ro.Want(frozenset({"10.96.0.12"}), 1)  # Local: only b has an endpoint
    assert "198.51.100.0/30" not in w  # Public pools are not routed


def test_a_right_table_agrees() -> None:
    assert verdicts(routes_xml(*RIGHT)) == []


@pytest.mark.parametrize("wrong", [
    dict(routes=[*RIGHT[:4], ("10.80.0.1/32", "10.96.0.11")]),  # Local route to a node without an endpoint
    dict(routes=[*RIGHT[:3], ("10.80.0.2/31", "10.96.0.13"), RIGHT[4]]),  # to the node whose Lease expired
    dict(routes=RIGHT[1:]),  # one next hop missing
    dict(routes=[*RIGHT, ("10.80.0.8/31", "10.96.0.11")]),  # a destination nothing asks for
    dict(routes=RIGHT, metric="20"),
    dict(routes=RIGHT, monitor="10.96.0.99"),
], ids=["local", "expired", "missing", "extra", "metric", "monitor"])
def test_every_wrong_route_is_caught(wrong: dict) -> None:
    routes = wrong.pop("routes")
    assert verdicts(routes_xml(*routes, **wrong)), "the oracle accepted a wrong table"


def test_cordoned_or_not_ready_nodes_are_no_next_hop() -> None:
    nodes = [node("a", "10.96.0.11", unschedulable=True), node("b", "10.96.0.12", ready="False"),
             node("c", "10.96.0.13")]
    _, w = ro.expected_routes(firewall=FIREWALL, pools=POOLS, services=[], slices=[], nodes=nodes,
                              leases=[lease("a", 1), lease("b", 1), lease("c", 1)], now=NOW)
    assert w["10.80.0.0/31"] == ro.Want(frozenset({"10.96.0.13"}), 1)


def test_no_candidate_keeps_the_last_routes() -> None:
    _, w = ro.expected_routes(firewall=FIREWALL, pools=POOLS, services=[], slices=[], nodes=NODES,
                              leases=[lease(n, 60) for n in "abc"], now=NOW)
    routing = ro.Routing.of(FIREWALL)
    kept = [("10.80.0.0/31", "10.96.0.11"), ("10.80.0.2/31", "10.96.0.13")]
    assert list(ro.compare(routing, w, ro.device_routes(routes_xml(*kept)))) == []


def test_lease_address_is_the_last_choice_and_families_stay_apart() -> None:
    bare = {"metadata": {"name": "d"}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    hops, healthy = ro.node_hops([bare, NODES[0]], [lease("d", 1, address="10.96.0.14,fd00::14"),
                                                    lease("a", 1, address="10.96.9.9")], NOW)
    assert hops == {"d": {4: "10.96.0.14", 6: "fd00::14"}, "a": {4: "10.96.0.11"}} and healthy == {"a", "d"}
