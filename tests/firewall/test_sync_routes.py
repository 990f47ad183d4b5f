"""Static routes through sync() against the simulator: same batch, same commit, foreign routes kept."""

from __future__ import annotations

import dataclasses

from firewall import reader, sync
from firewall.device import Device
from firewall.diff import OpType
from firewall.elements import Kind
from firewall.model import DesiredFirewall, StaticRoute
from firewall.sim import Simulator
from firewall.sim.defaults import DEVICE_XPATH
from tests.firewall.sync_fixtures import config, device_for, fw_device, web
from tests.firewall.test_sync import converged

__all__ = ["fw_device"]
STATIC = f"{DEVICE_XPATH}/network/virtual-router/entry[@name='default']/routing-table/ip/static-route"
ROUTE_A = StaticRoute("bmlb-rt-10.96.100.2-node-a", "default", "10.96.100.2/32", "10.96.0.11")
ROUTE_B = StaticRoute("bmlb-rt-10.96.100.2-node-b", "default", "10.96.100.2/32", "10.96.0.12")
ROUTE_V6 = StaticRoute("bmlb-rt-2001_db8__2-node-a", "default", "2001:db8::2/128", "2001:db8::11",
                       interface="ethernet1/4")
FOREIGN = "<entry name='corp-default'><destination>0.0.0.0/0</destination><nexthop><ip-address>203.0.113.1" \
          "</ip-address></nexthop><interface>ethernet1/1</interface><metric>10</metric></entry>"


def with_routes(*routes: StaticRoute, services: int = 1) -> DesiredFirewall:
    return dataclasses.replace(web(services), static_routes=routes)


def routes(sim: Simulator, which: str = "running") -> list[str]:
    return [line.removeprefix("set network virtual-router default routing-table ") for line in
            sim.set_commands(which) if " static-route " in line]


def test_routes_ride_in_the_same_batch_and_commit(fw_device: Device, panos_sim: Simulator) -> None:
    desired = with_routes(ROUTE_A, ROUTE_B)
    report = sync.sync(desired, fw_device, config=config())
    assert report.committed and not report.errors and not report.skipped
    assert report.write_requests == 1 and panos_sim.stats_snapshot()["commits"] == 1
    assert sum(op.kind == Kind.ROUTE and op.type == OpType.CREATE for op in report.applied) == 2
    assert "ip static-route bmlb-rt-10.96.100.2-node-b nexthop ip-address 10.96.0.12" in routes(panos_sim)
    assert reader.read_owned(fw_device, config()).static_routes == (ROUTE_A, ROUTE_B)
    converged(desired, fw_device, panos_sim)


def test_change_nexthop_then_delete(fw_device: Device, panos_sim: Simulator) -> None:
    sync.sync(with_routes(ROUTE_A, ROUTE_B), fw_device, config=config())
    moved = dataclasses.replace(ROUTE_B, nexthop="10.96.0.13")
    report = sync.sync(with_routes(ROUTE_A, moved), fw_device, config=config())
    [op] = report.applied
    assert op.type == OpType.UPDATE and [(c.field, c.actual, c.desired) for c in op.changes] == [
        ("nexthop", "10.96.0.12", "10.96.0.13")]
    assert report.committed and "ip static-route bmlb-rt-10.96.100.2-node-b nexthop ip-address 10.96.0.13" \
        in routes(panos_sim)
    converged(with_routes(ROUTE_A, moved), fw_device, panos_sim)

    report = sync.sync(with_routes(ROUTE_A), fw_device, config=config())
    assert [str(op) for op in report.applied] == ["delete route default/ip/bmlb-rt-10.96.100.2-node-b"]
    assert not any("node-b" in line for line in routes(panos_sim))
    converged(with_routes(ROUTE_A), fw_device, panos_sim)


def test_foreign_route_in_the_same_router_is_untouched(fw_device: Device, panos_sim: Simulator) -> None:
    alice = panos_sim.as_admin("alice")
    alice.set(STATIC, FOREIGN)
    alice.commit()
    foreign = [line for line in routes(panos_sim) if "corp-default" in line]
    sync.sync(with_routes(ROUTE_A), fw_device, config=config())
    converged(with_routes(ROUTE_A), fw_device, panos_sim)
    sync.sync(with_routes(services=0), fw_device, config=config())
    assert routes(panos_sim) == foreign
    # a desired route named like the foreign one is skipped, not taken over
    clash = StaticRoute("corp-default", "default", "10.96.100.9/32", "10.96.0.11")
    report = sync.sync(with_routes(clash), fw_device, config=config())
    assert [(s.name, "foreign route" in s.reason) for s in report.skipped] == [("default/ip/corp-default", True)]
    assert routes(panos_sim) == foreign


def test_ipv6_route(fw_device: Device, panos_sim: Simulator) -> None:
    desired = with_routes(ROUTE_A, ROUTE_V6)
    report = sync.sync(desired, fw_device, config=config())
    assert report.committed and not report.errors and report.write_requests == 1
    assert {"ipv6 static-route bmlb-rt-2001_db8__2-node-a destination 2001:db8::2/128",
            "ipv6 static-route bmlb-rt-2001_db8__2-node-a nexthop ipv6-address 2001:db8::11",
            "ipv6 static-route bmlb-rt-2001_db8__2-node-a interface ethernet1/4"} <= set(routes(panos_sim))
    converged(desired, fw_device, panos_sim)
    report = sync.sync(with_routes(ROUTE_A), fw_device, config=config())
    assert [str(op) for op in report.applied] == ["delete route default/ipv6/bmlb-rt-2001_db8__2-node-a"]
    assert not any("ipv6" in line for line in routes(panos_sim))


def test_panorama_reports_routes_as_skipped(panos_panorama_sim: Simulator) -> None:
    dev = device_for(panos_panorama_sim)
    cfg = config(device_group="k8s")
    report = sync.sync(with_routes(ROUTE_A), dev, config=cfg)
    assert report.committed and not report.errors
    assert [(s.name, "Panorama" in s.reason) for s in report.skipped] == [
        ("default/ip/bmlb-rt-10.96.100.2-node-a", True)]
    assert "bmlb-rt-" not in panos_panorama_sim.candidate_xml()  # the template's router holds none


def test_commit_failure_blames_the_route_by_its_device_name(fw_device: Device, panos_sim: Simulator) -> None:
    panos_sim.faults.add("commit_fail", lines=(f" {ROUTE_A.name} -> nexthop is not in the subnet of any interface",))
    report = sync.sync(with_routes(ROUTE_A), fw_device, config=config())
    assert report.committed  # the route is reverted and quarantined; the rest is committed
    assert [(e.device_name, e.phase) for e in report.errors] == [(ROUTE_A.name, "commit")]
    assert ROUTE_A.name not in panos_sim.running_xml() and ROUTE_A.name not in panos_sim.candidate_xml()
