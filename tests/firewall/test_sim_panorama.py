"""Panorama mode: device groups, pre/post rulebases, commit then commit-all."""

from __future__ import annotations

import pytest
from panos.errors import PanDeviceXapiError
from panos.objects import AddressObject, ServiceObject, Tag
from panos.panorama import DeviceGroup, Panorama, PanoramaCommitAll
from panos.policies import NatRule, PostRulebase, PreRulebase, SecurityRule

from firewall.sim import Simulator


def test_device_group_objects_rules_and_push(panos_panorama: Panorama, panos_panorama_sim: Simulator) -> None:
    assert panos_panorama.platform == "Panorama"
    dg = panos_panorama.add(DeviceGroup("k8s"))
    dg.add(Tag("bmlb")).create()
    dg.add(AddressObject("vip", "10.96.0.10", tag=["bmlb"])).create()
    dg.add(ServiceObject("tcp-80", protocol="tcp", destination_port="80")).create()
    pre = dg.add(PreRulebase())
    pre.add(SecurityRule("allow-web", fromzone=["untrust"], tozone=["k8s"], destination=["vip"],
                         service=["tcp-80"], tag=["bmlb"])).create()
    pre.add(NatRule("publish", fromzone=["untrust"], tozone=["untrust"], destination=["203.0.113.10"],
                    destination_translated_address="vip")).create()
    post = dg.add(PostRulebase())
    post.add(SecurityRule("deny-rest", action="deny")).create()
    with pytest.raises(PanDeviceXapiError, match="is not a valid reference"):
        pre.add(SecurityRule("broken", destination=["missing"])).create()

    [rule] = SecurityRule.refreshall(pre, add=False)
    assert (rule.destination, rule.service) == (["vip"], ["tcp-80"])

    assert panos_panorama.commit(sync=True)["success"]
    result = panos_panorama.commit(cmd=PanoramaCommitAll("device group", "k8s"), sync=True, sync_all=True)
    assert result["success"]
    assert list(result["devices"]) == ["007951000000001"]
    pushed = panos_panorama_sim.device.pushed["k8s"]
    assert pushed.find("pre-rulebase/security/rules/entry[@name='allow-web']") is not None


def test_commit_all_is_panorama_only(panos_firewall: object) -> None:
    from panos.firewall import Firewall

    assert isinstance(panos_firewall, Firewall)
    with pytest.raises(PanDeviceXapiError, match="only available on Panorama"):
        panos_firewall.commit(cmd=PanoramaCommitAll("device group", "k8s"))
