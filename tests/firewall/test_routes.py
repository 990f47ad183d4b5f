"""Static routes, pure: XML shapes, xpaths, ownership by name, attribute diff, drift, plan order.

The "device" here is the simulator's config tree (firewall.sim.tree) driven by the rendered
writes, so the xpaths the engine would send are exercised too.
"""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET

import pytest

from firewall import diff, elements, snapshot, writes, xpaths
from firewall.config import DriftMode, SyncConfig
from firewall.diff import OpType
from firewall.elements import Kind
from firewall.model import AddressObject, DesiredFirewall, StaticRoute, Tag
from firewall.sim import tree
from firewall.sim.defaults import FIREWALL_CONFIG
from tests.firewall.strategies import OWNERSHIP

CFG = SyncConfig(ownership_tag=OWNERSHIP)
V4 = StaticRoute("bmlb-rt-10.96.100.2-node-a", "default", "10.96.100.2/32", "10.96.0.11")
V4B = StaticRoute("bmlb-rt-10.96.100.2-node-b", "default", "10.96.100.2/32", "10.96.0.12")
V6 = StaticRoute("bmlb-rt-2001_db8__2-node-a", "default", "2001:db8::2/128", "2001:db8::11",
                 interface="ethernet1/4")
FOREIGN = StaticRoute("corp-default", "default", "0.0.0.0/0", "203.0.113.1", interface="ethernet1/1")
ADDR = AddressObject("bmlb-10.96.100.2", "10.96.100.2/32", tags=(OWNERSHIP,))
V4_ID = "default/ip/bmlb-rt-10.96.100.2-node-a"
V6_ID = "default/ipv6/bmlb-rt-2001_db8__2-node-a"


def state(*routes: StaticRoute) -> DesiredFirewall:
    return DesiredFirewall(OWNERSHIP, tags=(Tag(OWNERSHIP),), addresses=(ADDR,), static_routes=routes)


def device(*extra_routers: str) -> ET.Element:
    doc = tree.new_tree(FIREWALL_CONFIG)
    for name in extra_routers:
        tree.set_(doc, xpaths.ROUTERS, [ET.fromstring(f"<entry name='{name}'/>")])
    return doc


def read(doc: ET.Element, config: SyncConfig = CFG) -> snapshot.Snapshot:
    def box(path: str) -> ET.Element | None:
        hits = tree.select(doc, path)
        return hits[0].node if hits else None

    kinds = [k for k in snapshot.READ_KINDS if not (k == Kind.ROUTE and config.panorama)]
    return snapshot.build({k: box(xpaths.container(config, k)) for k in kinds}, config)


def plan_of(desired: DesiredFirewall, doc: ET.Element, config: SyncConfig = CFG,
            baseline: dict[str, str] | None = None) -> diff.Plan:
    return diff.diff(desired, read(doc, config), config, baseline=baseline)


def apply(plan: diff.Plan, doc: ET.Element, config: SyncConfig = CFG) -> ET.Element:
    for w in writes.render(plan.ops, config, read(doc, config).raw):
        elems = [e] if (e := w.tree()) is not None else []
        if w.action == "set":
            tree.set_(doc, w.xpath, elems)
        elif w.action == "edit":
            tree.edit(doc, w.xpath, elems)
        elif w.action == "delete":
            assert tree.delete(doc, w.xpath) == 1, w.xpath
        else:
            tree.move(doc, w.xpath, w.where or "", w.dst)
    return doc


def route_entry(doc: ET.Element, route_id: str) -> ET.Element | None:
    hits = tree.select(doc, xpaths.entry(CFG, Kind.ROUTE, route_id))
    return hits[0].node if hits else None


def foreign_on(doc: ET.Element, route: StaticRoute = FOREIGN) -> ET.Element:
    tree.set_(doc, xpaths.static_routes(route.virtual_router, elements.route_family(route)),
              [elements.to_element(route)])
    return doc


# ---------------------------------------------------------------------------- shapes


def test_ipv4_and_ipv6_entries() -> None:
    v4 = ET.tostring(elements.to_element(dataclasses.replace(V4, interface="ethernet1/4")), encoding="unicode")
    assert v4 == ('<entry name="bmlb-rt-10.96.100.2-node-a"><destination>10.96.100.2/32</destination>'
                  "<nexthop><ip-address>10.96.0.11</ip-address></nexthop><metric>10</metric>"
                  "<interface>ethernet1/4</interface></entry>")
    v6 = elements.to_element(V6)
    assert v6.findtext("nexthop/ipv6-address") == "2001:db8::11" and v6.find("nexthop/ip-address") is None
    for route in (V4, V6, StaticRoute("bmlb-rt-x", "default", "10.0.0.1/32", interface="ethernet1/4", metric=5)):
        back = elements.from_element(Kind.ROUTE, ET.fromstring(ET.tostring(elements.to_element(route))))
        assert back == dataclasses.replace(route, virtual_router="")


def test_route_ids_and_xpaths() -> None:
    assert (elements.route_key_name(V4), elements.route_key_name(V6)) == (V4_ID, V6_ID)
    vr = "/config/devices/entry[@name='localhost.localdomain']/network/virtual-router/entry[@name='default']"
    assert xpaths.container(CFG, Kind.ROUTE) == xpaths.ROUTERS
    assert xpaths.parent(CFG, Kind.ROUTE, V6_ID) == f"{vr}/routing-table/ipv6/static-route"
    assert xpaths.entry(CFG, Kind.ROUTE, V4_ID) == \
        f"{vr}/routing-table/ip/static-route/entry[@name='bmlb-rt-10.96.100.2-node-a']"
    with pytest.raises(ValueError):
        xpaths.container(dataclasses.replace(CFG, device_group="k8s"), Kind.ROUTE)
    with pytest.raises(ValueError):
        elements.split_route_id("default/ipv4/x")


# ---------------------------------------------------------------------------- diff


def test_create_with_the_objects_then_nothing() -> None:
    doc = device()
    plan = plan_of(state(V4, V6), doc)
    assert [str(op) for op in plan.ops] == [f"create tag {OWNERSHIP}", f"create address {ADDR.name}",
                                            f"create route {V4_ID}", f"create route {V6_ID}"]
    apply(plan, doc)
    assert route_entry(doc, V4_ID) is not None and route_entry(doc, V6_ID) is not None
    assert plan_of(state(V4, V6), doc).empty
    assert plan_of(state(V4, V6), doc, baseline=plan.baseline).empty
    assert sorted(read(doc).of_kind(Kind.ROUTE)) == [V4_ID, V6_ID]


@pytest.mark.parametrize(("change", "field", "old", "new"), [
    ({"nexthop": "10.96.0.99"}, "nexthop", "10.96.0.11", "10.96.0.99"),
    ({"metric": 20}, "metric", "10", "20"),
    ({"interface": "ethernet1/4"}, "interface", "", "ethernet1/4"),
    ({"destination": "10.96.100.3/32"}, "destination", "10.96.100.2/32", "10.96.100.3/32"),
])
def test_attribute_level_update(change: dict[str, object], field: str, old: str, new: str) -> None:
    doc = apply(plan_of(state(V4), device()), device())
    changed = dataclasses.replace(V4, **change)  # type: ignore[arg-type]
    [op] = plan_of(state(changed), doc).ops
    assert (op.type, op.name, op.changes) == (OpType.UPDATE, V4_ID, (diff.Change(field, old, new),))
    [w] = writes.render([op], CFG, read(doc).raw)
    assert (w.action, w.xpath) == ("edit", xpaths.entry(CFG, Kind.ROUTE, V4_ID))
    assert plan_of(state(changed), apply(plan_of(state(changed), doc), doc)).empty


def test_edit_keeps_what_someone_else_added() -> None:
    doc = apply(plan_of(state(V4), device()), device())
    entry = route_entry(doc, V4_ID)
    assert entry is not None
    ET.SubElement(ET.SubElement(entry, "bfd"), "profile").text = "None"
    apply(plan_of(state(dataclasses.replace(V4, nexthop="10.96.0.99")), doc), doc)
    entry = route_entry(doc, V4_ID)
    assert entry is not None and entry.findtext("bfd/profile") == "None"
    assert entry.findtext("nexthop/ip-address") == "10.96.0.99"


def test_delete_in_the_delete_phase_foreign_route_untouched() -> None:
    doc = foreign_on(device())
    doc = apply(plan_of(state(V4, V4B, V6), doc), doc)
    plan = plan_of(DesiredFirewall(OWNERSHIP, tags=(Tag(OWNERSHIP),), static_routes=(V4,)), doc)
    assert [str(op) for op in plan.ops] == [f"delete route {V4_ID.replace('node-a', 'node-b')}",
                                            f"delete route {V6_ID}", f"delete address {ADDR.name}"]
    apply(plan, doc)
    assert [e.get("name") for e in tree.select(doc, xpaths.static_routes("default", "ip"))[0].node] == \
        ["corp-default", V4.name]
    assert plan_of(state(), doc).ops and not any(op.name.endswith("corp-default")
                                                 for op in plan_of(state(), doc).ops)
    assert (Kind.ROUTE, "default/ip/corp-default") in read(doc).foreign


def test_route_moves_between_routers_and_families() -> None:
    doc = apply(plan_of(state(V4), device("vr2")), device("vr2"))
    moved = dataclasses.replace(V4, virtual_router="vr2")
    plan = plan_of(state(moved), doc)
    assert [str(op) for op in plan.ops] == ["create route vr2/ip/bmlb-rt-10.96.100.2-node-a",
                                            f"delete route {V4_ID}"]
    assert plan_of(state(moved), apply(plan, doc)).empty


def test_routes_that_cannot_be_ours_are_skipped() -> None:
    clash = dataclasses.replace(FOREIGN, destination="10.96.100.9/32")
    unowned = StaticRoute("corp-rt-1", "default", "10.96.100.5/32", "10.96.0.11")
    no_router = dataclasses.replace(V4B, virtual_router="vr9")
    doc = foreign_on(device())
    plan = plan_of(state(V4, clash, unowned, no_router), doc)
    reasons = {s.name: s.reason for s in plan.skipped}
    assert set(reasons) == {"default/ip/corp-default", "default/ip/corp-rt-1", "vr9/ip/bmlb-rt-10.96.100.2-node-b"}
    assert "foreign route" in reasons["default/ip/corp-default"]
    assert "owned prefix 'bmlb-'" in reasons["default/ip/corp-rt-1"]
    assert "virtual router 'vr9' does not exist" in reasons["vr9/ip/bmlb-rt-10.96.100.2-node-b"]
    assert [op.name for op in plan.ops if op.kind == Kind.ROUTE] == [V4_ID]
    apply(plan, doc)
    entry = route_entry(doc, "default/ip/corp-default")
    assert entry is not None and entry.findtext("destination") == "0.0.0.0/0"


def test_panorama_skips_routes_and_reads_none() -> None:
    config = SyncConfig(ownership_tag=OWNERSHIP, device_group="k8s")
    plan = diff.diff(state(V4, V6), snapshot.build({}, config), config)
    assert {s.name for s in plan.skipped} == {V4_ID, V6_ID}
    assert all("Panorama" in s.reason for s in plan.skipped)
    assert not any(op.kind == Kind.ROUTE for op in plan.ops)


@pytest.mark.parametrize("mode", list(DriftMode))
def test_drift_on_a_route(mode: DriftMode) -> None:
    config = dataclasses.replace(CFG, drift=mode)
    doc = device()
    first = plan_of(state(V4), doc, config)
    apply(first, doc, config)
    entry = route_entry(doc, V4_ID)
    assert entry is not None
    entry.find("nexthop/ip-address").text = "10.96.0.66"  # type: ignore[union-attr]  # another admin
    drifted = plan_of(state(V4), doc, config, baseline=first.baseline)
    assert [(d.name, d.field, d.actual, d.desired) for d in drifted.drift] == [
        (V4_ID, "nexthop", "10.96.0.66", "10.96.0.11")]
    if mode == DriftMode.ENFORCE:
        assert [op.drift for op in drifted.ops] == [True]
        assert plan_of(state(V4), apply(drifted, doc, config), config, baseline=drifted.baseline).empty
    else:
        assert drifted.empty and not drifted.drift[0].restored
    # a route of ours that appeared on the device without being desired
    tree.set_(doc, xpaths.static_routes("default", "ip"), [elements.to_element(V4B)])
    extra = plan_of(state(V4), doc, config, baseline=first.baseline)
    assert ("unexpected" in {d.field for d in extra.drift}) and \
        ([op.type for op in extra.ops if op.kind == Kind.ROUTE] == ([OpType.DELETE] if mode == DriftMode.ENFORCE
                                                                    else []))


def test_unreadable_route_of_ours_is_left_alone() -> None:
    doc = device()
    tree.set_(doc, xpaths.static_routes("default", "ip"),
              [ET.fromstring("<entry name='bmlb-rt-odd'><destination>10.0.0.1/32</destination>"
                             "<metric>high</metric></entry>")])
    snap = read(doc)
    assert (Kind.ROUTE, "default/ip/bmlb-rt-odd") in snap.foreign and snap.unreadable
    assert plan_of(state(), doc).ops == plan_of(state(), device()).ops
