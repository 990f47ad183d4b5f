"""Round trips of unmodified pan-os-python objects against the simulator."""

from __future__ import annotations

import pytest
from panos.errors import PanObjectMissing
from panos.firewall import Firewall
from panos.objects import AddressObject, Tag

from firewall.sim import Simulator


def test_connect_reports_system_info(panos_firewall: Firewall) -> None:
    assert panos_firewall.version == "10.2.4"
    assert panos_firewall.platform == "PA-VM"
    assert panos_firewall.multi_vsys is False


def test_address_create_refresh_update_delete(panos_firewall: Firewall, panos_sim: Simulator) -> None:
    fw = panos_firewall
    fw.add(Tag("k8s", color="color3")).create()
    addr = fw.add(AddressObject("web-1", "10.0.0.5/32", description="ns/web", tag=["k8s"]))
    addr.create()
    fresh = fw.add(AddressObject("web-1"))
    fresh.refresh()
    assert (fresh.value, fresh.description, fresh.tag) == ("10.0.0.5/32", "ns/web", ["k8s"])
    addr.description = "changed"
    addr.update("description")
    addr.tag = None
    addr.update("tag")
    [again] = AddressObject.refreshall(fw, add=False)
    assert (again.description, again.tag) == ("changed", None)
    addr.delete()
    with pytest.raises(PanObjectMissing):
        fw.add(AddressObject("web-1")).refresh()
    assert panos_sim.stats_snapshot()["requests"]["config.delete"] >= 1
