"""Round trips of unmodified pan-os-python objects against the simulator."""

from __future__ import annotations

import pytest
from panos.errors import PanDeviceXapiError, PanObjectMissing
from panos.firewall import Firewall
from panos.objects import AddressGroup, AddressObject, ServiceObject, Tag
from panos.policies import NatRule, Rulebase, SecurityRule

from firewall.sim import VSYS1_XPATH, Simulator


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


def test_service_group_and_tag_round_trip(panos_firewall: Firewall) -> None:
    fw = panos_firewall
    fw.add(Tag("blue", color="color3", comments="made by test")).create()
    fw.add(ServiceObject("tcp-8080", protocol="tcp", destination_port="8080", tag=["blue"])).create()
    fw.add(AddressObject("a1", "10.0.0.1")).create()
    fw.add(AddressGroup("static-grp", static_value=["a1"])).create()
    fw.add(AddressGroup("dyn-grp", dynamic_value="'blue'")).create()
    [svc] = ServiceObject.refreshall(fw, add=False)
    assert (svc.protocol, svc.destination_port, svc.tag) == ("tcp", "8080", ["blue"])
    groups = {g.name: g for g in AddressGroup.refreshall(fw, add=False)}
    assert groups["static-grp"].static_value == ["a1"]
    assert groups["dyn-grp"].dynamic_value == "'blue'"
    [tag] = Tag.refreshall(fw, add=False)
    assert (tag.color, tag.comments) == ("color3", "made by test")


def test_refreshall_name_only_and_partial_refresh(panos_firewall: Firewall) -> None:
    fw = panos_firewall
    for i in range(3):
        fw.add(AddressObject(f"bulk-{i}", f"10.1.0.{i}", description=f"d{i}")).create()
    names = [o.uid for o in AddressObject.refreshall(fw, add=False, name_only=True)]
    assert names == ["bulk-0", "bulk-1", "bulk-2"]
    partial = fw.add(AddressObject("bulk-1"))
    partial.refresh(refresh_children=False)  # a `|` union of child xpaths
    assert partial.description == "d1"


def test_show_reads_running_config(panos_firewall: Firewall) -> None:
    fw = panos_firewall
    fw.add(AddressObject("only-candidate", "10.9.9.9")).create()
    assert AddressObject.refreshall(fw, running_config=True, add=False) == []
    fw.commit(sync=True)
    assert [o.name for o in AddressObject.refreshall(fw, running_config=True, add=False)] == ["only-candidate"]


def test_similar_bulk_calls(panos_firewall: Firewall) -> None:
    fw = panos_firewall
    objs = [fw.add(AddressObject(f"b{i}", f"10.2.0.{i}")) for i in range(4)]
    objs[0].create_similar()
    assert len(AddressObject.refreshall(fw, add=False)) == 4
    objs[0].delete_similar()  # entry[@name='b0' or @name='b1' ...]
    assert AddressObject.refreshall(fw, add=False) == []
    objs = [fw.add(AddressObject(f"b{i}", f"10.2.0.{i}")) for i in range(4)]
    objs[0].create_similar()
    fw.remove(objs[3])
    objs[0].apply_similar()  # edit of the whole container drops b3
    assert sorted(o.name for o in AddressObject.refreshall(fw, add=False)) == ["b0", "b1", "b2"]


def test_rules_move_rename_and_uuid(panos_firewall: Firewall, panos_sim: Simulator) -> None:
    fw = panos_firewall
    rb = fw.add(Rulebase())
    rules = [rb.add(SecurityRule(n, fromzone=["untrust"], tozone=["k8s"], action="allow")) for n in "abc"]
    for r in rules:
        r.create()
    before = {r.name: r.uuid for r in SecurityRule.refreshall(rb, add=False)}
    assert all(len(u or "") == 36 for u in before.values())

    rules[2].move("top")
    rules[0].move("after", "b")
    assert [r.name for r in SecurityRule.refreshall(rb, add=False, name_only=True)] == ["c", "b", "a"]
    with pytest.raises(PanDeviceXapiError):
        rules[2].move("top")  # already there: code 14

    rules[1].description = "edited"
    rules[1].apply()  # edit replaces the entry; the uuid stays
    rules[1].rename("b2")
    after = {r.name: r.uuid for r in SecurityRule.refreshall(rb, add=False)}
    assert after == {"c": before["c"], "b2": before["b"], "a": before["a"]}
    rules[0].delete()
    assert [r.name for r in SecurityRule.refreshall(rb, add=False)] == ["c", "b2"]


def test_nat_rule_round_trip(panos_firewall: Firewall) -> None:
    fw = panos_firewall
    fw.add(AddressObject("vip", "10.96.0.10")).create()
    rb = fw.add(Rulebase())
    nat = rb.add(NatRule("publish-web", fromzone=["untrust"], tozone=["untrust"], service="any",
                         destination=["203.0.113.10"], destination_translated_address="vip",
                         destination_translated_port="8080"))
    nat.create()
    [got] = NatRule.refreshall(rb, add=False)
    assert (got.destination_translated_address, got.destination_translated_port) == ("vip", 8080)
    assert got.uuid


def test_set_unions_members_and_edit_must_match(panos_sim: Simulator) -> None:
    alice = panos_sim.as_admin("alice")
    alice.set(f"{VSYS1_XPATH}/tag", "<entry name='t1'/><entry name='t2'/>")
    xpath = f"{VSYS1_XPATH}/address/entry[@name='x']"
    alice.set(xpath, "<ip-netmask>10.0.0.1</ip-netmask><tag><member>t1</member></tag>")
    alice.set(xpath, "<tag><member>t2</member></tag>")
    [(node, _)] = panos_sim.device.read("get", xpath)
    assert [m.text for m in node.iter("member")] == ["t1", "t2"]
    assert node.findtext("ip-netmask") == "10.0.0.1"
    from firewall.sim.tree import ConfigError

    with pytest.raises(ConfigError):
        alice.edit(xpath, "<entry name='y'><ip-netmask>10.0.0.2</ip-netmask></entry>")
    with pytest.raises(ConfigError) as bad_name:
        alice.set(f"{VSYS1_XPATH}/address", "<entry name='bad!name'><fqdn>a.example</fqdn></entry>")
    assert bad_name.value.code == 12


def test_missing_objects(panos_firewall: Firewall) -> None:
    fw = panos_firewall
    with pytest.raises(PanObjectMissing):
        fw.add(AddressObject("ghost")).refresh()
    fw.add(AddressObject("ghost")).delete()  # code 7 "Object doesn't exist" is a success
    assert AddressObject.refreshall(fw, add=False) == []
