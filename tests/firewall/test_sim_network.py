"""The simulator's network validation (path monitoring, the monitored-route limit, ECMP,
NAT66, Panorama templates) and bmlb's path-monitored routes through sync() and back."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from firewall import reader, sync
from firewall.device import Device
from firewall.model import PathMonitor, StaticRoute
from firewall.sim import Simulator
from firewall.sim.defaults import DEVICE_XPATH, VSYS1_XPATH
from firewall.sim.tree import ConfigError
from tests.firewall.sync_fixtures import config, device_for, fw_device, web
from tests.firewall.test_sync import converged

__all__ = ["fw_device"]
VR = f"{DEVICE_XPATH}/network/virtual-router/entry[@name='default']"
STATIC = f"{VR}/routing-table/ip/static-route"


def monitored(name: str, hop: str, *, interval: str = "3", count: str = "5", dest: str | None = None) -> str:
    return (f"<entry name='{name}'><destination>10.82.0.0/27</destination><nexthop><ip-address>{hop}</ip-address>"
            "</nexthop><metric>10</metric><path-monitor><enable>yes</enable><failure-condition>any"
            "</failure-condition><hold-time>2</hold-time><monitor-destinations><entry name='nexthop'><enable>yes"
            f"</enable><destination>{dest or hop}</destination><interval>{interval}</interval><count>{count}</count>"
            "</entry></monitor-destinations></path-monitor></entry>")


@pytest.mark.parametrize(("kw", "field"), [({"interval": "0"}, "interval"), ({"interval": "61"}, "interval"),
                                           ({"count": "2"}, "count"), ({"count": "11"}, "count"),
                                           ({"dest": "2001:db8::1"}, "destination"),
                                           ({"dest": "not-an-ip"}, "destination")])
def test_path_monitor_values_are_validated(panos_sim: Simulator, kw: dict[str, str], field: str) -> None:
    alice = panos_sim.as_admin("admin")
    with pytest.raises(ConfigError, match=field):
        alice.set(STATIC, monitored("r1", "10.96.0.11", **kw))
    alice.set(STATIC, monitored("r1", "10.96.0.11"))  # the valid one is taken


def test_the_monitored_route_limit_is_enforced(panos_sim_factory: Callable[..., Simulator]) -> None:
    sim = panos_sim_factory(monitored_route_limit=2)
    admin = sim.as_admin("admin")
    admin.set(STATIC, [monitored("r1", "10.96.0.11"), monitored("r2", "10.96.0.12")])
    with pytest.raises(ConfigError, match="exceed the device limit of 2"):
        admin.set(STATIC, monitored("r3", "10.96.0.13"))


def test_ecmp_max_path_is_validated_and_a_change_restarts_the_router(panos_sim: Simulator,
                                                                     fw_device: Device) -> None:
    admin = panos_sim.as_admin("admin")
    with pytest.raises(ConfigError, match="max-path"):
        admin.set(VR, "<ecmp><enable>yes</enable><max-path>5</max-path></ecmp>")
    assert fw_device.ecmp_max_path("default") == 1  # ECMP off
    admin.set(VR, "<ecmp><enable>yes</enable><max-path>3</max-path></ecmp>")
    admin.commit()
    assert panos_sim.device.vr_restarts == 1 and fw_device.ecmp_max_path("default") == 3
    assert fw_device.ecmp_max_path("nope") is None


def test_nat66_is_refused(panos_sim: Simulator) -> None:
    admin = panos_sim.as_admin("admin")
    admin.set(f"{VSYS1_XPATH}/address", "<entry name='v6'><ip-netmask>2001:db8::5/128</ip-netmask></entry>")
    rule = ("<entry name='n66'><from><member>untrust</member></from><to><member>untrust</member></to>"
            "<source><member>any</member></source><destination><member>any</member></destination>"
            "<service>any</service><destination-translation><translated-address>v6</translated-address>"
            "</destination-translation></entry>")
    with pytest.raises(ConfigError, match="NAT66"):
        admin.set(f"{VSYS1_XPATH}/rulebase/nat/rules", rule)


def test_panorama_network_config_lives_only_in_templates(panos_panorama_sim: Simulator) -> None:
    admin = panos_panorama_sim.as_admin("admin")
    with pytest.raises(ConfigError, match="templates"):
        admin.set(f"{DEVICE_XPATH}/network/virtual-router", "<entry name='default'/>")
    template_vr = (f"{DEVICE_XPATH}/template/entry[@name='k8s-template']/config/devices/"
                   "entry[@name='localhost.localdomain']/network/virtual-router/entry[@name='default']"
                   "/routing-table/ip/static-route")
    admin.set(template_vr, monitored("r1", "10.96.0.11"))  # accepted in a template


def test_path_monitored_routes_sync_read_back_and_converge(fw_device: Device, panos_sim: Simulator) -> None:
    route = StaticRoute("bmlb-rt-10.82.0.0-27_node-a", "default", "10.82.0.0/27", "10.96.0.11",
                        monitor=PathMonitor("10.96.0.11", interval=2, count=3))
    desired = dataclasses.replace(web(1), static_routes=(route,))
    report = sync.sync(desired, fw_device, config=config())
    assert report.committed and not report.errors
    pm = f"set network virtual-router default routing-table ip static-route {route.name} path-monitor "
    assert {pm + "enable yes", pm + "monitor-destinations nexthop destination 10.96.0.11",
            pm + "monitor-destinations nexthop interval 2", pm + "monitor-destinations nexthop count 3"} <= set(
        panos_sim.set_commands("running"))
    assert reader.read_owned(fw_device, config()).static_routes == (route,)
    converged(desired, fw_device, panos_sim)
    slower = dataclasses.replace(route, monitor=PathMonitor("10.96.0.11", interval=5, count=3))
    report = sync.sync(dataclasses.replace(desired, static_routes=(slower,)), fw_device, config=config())
    assert report.committed and [c.field for op in report.applied for c in op.changes] == ["monitor"]


def test_pending_changes_come_from_the_documented_journal(panos_sim: Simulator, fw_device: Device) -> None:
    panos_sim.as_admin("alice").set(f"{VSYS1_XPATH}/address", "<entry name='a'><ip-netmask>10.0.0.1</ip-netmask>"
                                    "</entry>")
    assert fw_device.pending_admins() == ["alice"]
    assert fw_device.pending_xpaths("alice") == [f"{VSYS1_XPATH}/address"]
    assert fw_device.pending_xpaths("admin") == []
    assert device_for(panos_sim).pending_admins() == ["alice"]
