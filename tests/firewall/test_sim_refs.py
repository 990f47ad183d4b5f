"""Reference checks at set/edit/delete time, as a device does them."""

from __future__ import annotations

import pytest
from panos.errors import PanDeviceXapiError
from panos.firewall import Firewall
from panos.objects import AddressGroup, AddressObject, ServiceObject, Tag
from panos.policies import NatRule, Rulebase, SecurityRule

from firewall.sim import Simulator


@pytest.mark.parametrize(
    ("fields", "bad_line"),
    [
        pytest.param({"destination": ["nope"]}, "r1 -> destination 'nope' is not a valid reference", id="address"),
        pytest.param({"source": ["grp-missing"]}, "r1 -> source 'grp-missing' is not a valid reference", id="group"),
        pytest.param({"service": ["svc-missing"]}, "r1 -> service 'svc-missing' is not a valid reference",
                     id="service"),
        pytest.param({"tag": ["tag-missing"]}, "r1 -> tag 'tag-missing' is not a valid reference", id="tag"),
        pytest.param({"fromzone": ["mars"]}, "r1 -> from 'mars' is not a valid reference", id="zone"),
    ],
)
def test_security_rule_with_dangling_reference_fails_code_12(
    panos_firewall: Firewall, panos_sim: Simulator, fields: dict[str, list[str]], bad_line: str
) -> None:
    rb = panos_firewall.add(Rulebase())
    rule = rb.add(SecurityRule("r1", **fields))
    with pytest.raises(PanDeviceXapiError) as exc:
        rule.create()
    assert bad_line in str(exc.value)
    assert "\n" in str(exc.value)  # several lines, as a device answers
    assert "r1" not in panos_sim.candidate_xml()


def test_builtins_ip_literals_and_existing_objects_pass(panos_firewall: Firewall) -> None:
    fw = panos_firewall
    fw.add(Tag("k8s")).create()
    fw.add(AddressObject("web", "10.0.0.5", tag=["k8s"])).create()
    fw.add(ServiceObject("tcp-443", protocol="tcp", destination_port="443")).create()
    rb = fw.add(Rulebase())
    for name, svc in (("a", "tcp-443"), ("b", "service-https"), ("c", "application-default"), ("d", "any")):
        rb.add(SecurityRule(name, fromzone=["untrust", "dmz"], tozone=["k8s"], source=["198.51.100.0/24"],
                            destination=["web", "10.0.0.1-10.0.0.9"], service=[svc], tag=["k8s"])).create()
    assert len(SecurityRule.refreshall(rb, add=False)) == 4


def test_nat_rule_translated_address_must_exist(panos_firewall: Firewall) -> None:
    rb = panos_firewall.add(Rulebase())
    nat = rb.add(NatRule("n1", fromzone=["untrust"], tozone=["untrust"], destination=["203.0.113.10"],
                         destination_translated_address="vip-missing"))
    with pytest.raises(PanDeviceXapiError, match="n1 -> translated-address 'vip-missing'"):
        nat.create()


def test_object_tags_and_group_members_are_checked(panos_firewall: Firewall) -> None:
    with pytest.raises(PanDeviceXapiError, match="is not a valid reference"):
        panos_firewall.add(AddressObject("a", "10.0.0.1", tag=["missing"])).create()
    with pytest.raises(PanDeviceXapiError, match="static 'missing'"):
        panos_firewall.add(AddressGroup("g", static_value=["missing"])).create()


def test_delete_of_referenced_object_fails_code_10(panos_firewall: Firewall) -> None:
    fw = panos_firewall
    addr = fw.add(AddressObject("web", "10.0.0.5"))
    addr.create()
    rb = fw.add(Rulebase())
    rb.add(SecurityRule("r1", destination=["web"])).create()
    with pytest.raises(PanDeviceXapiError, match="cannot be deleted because of references"):
        addr.delete()
    assert [o.name for o in AddressObject.refreshall(fw, add=False)] == ["web"]


def test_rename_rewrites_references(panos_firewall: Firewall) -> None:
    fw = panos_firewall
    addr = fw.add(AddressObject("web", "10.0.0.5"))
    addr.create()
    rb = fw.add(Rulebase())
    rb.add(SecurityRule("r1", destination=["web"])).create()
    addr.rename("web-new")
    [rule] = SecurityRule.refreshall(rb, add=False)
    assert rule.destination == ["web-new"]
