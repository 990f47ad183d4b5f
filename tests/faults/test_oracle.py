"""The fault suite's oracle on hand-written manifests and a hand-written running config: it agrees
with a right config and names every wrong attribute (port, address, zone, action, translation)."""

from __future__ import annotations

import pytest

from tests.controller.estate import nat, policy, pool, service
from tests.faults import oracle

TAG = "bmlb-managed"
SERVICES = [service("ns", "web", (443, 8443), ingress=["10.80.0.2"])]
POOLS = [pool("vips", "10.80.0.0/28"), pool("pub", "198.51.100.0/29", zone="untrust", purpose="Public", auto=False)]
NATS = [nat("ns", "web", "web", 443, address="198.51.100.2")]
POLICIES = [policy("ns", "edge", ["web"], [{"name": "inet", "from": {"zones": ["untrust"]}},
                                          {"name": "office", "from": {"zones": ["trust"]}}])]


def _running(*, port: str = "443", vip: str = "10.80.0.2", action: str = "allow", to_zone: str = "k8s",
             translated: str = "a-vip", nat_port: str = "") -> str:
    def members(*values: str) -> str:
        return "".join(f"<member>{x}</member>" for x in values)

    tag = f"<tag>{members(TAG)}</tag>"

    def rule(name: str, frm: str, dst: str) -> str:
        return (f"<entry name='{name}'><from>{members(frm)}</from><to>{members(to_zone)}</to>"
                f"<source>{members('any')}</source><destination>{members(dst)}</destination>"
                f"<application>{members('any')}</application><service>{members('s-443')}</service>"
                f"<action>{action}</action>{tag}</entry>")
    translated_port = f"<translated-port>{nat_port}</translated-port>" if nat_port else ""
    return (
        "<config><devices><entry name='localhost.localdomain'><vsys><entry name='vsys1'>"
        f"<address><entry name='a-vip'><ip-netmask>{vip}/32</ip-netmask>{tag}</entry>"
        f"<entry name='a-pub'><ip-netmask>198.51.100.2/32</ip-netmask>{tag}</entry>"
        f"<entry name='a-other'><ip-netmask>10.80.0.9/32</ip-netmask>{tag}</entry></address>"
        f"<service><entry name='s-443'><protocol><tcp><port>{port}</port></tcp></protocol>{tag}</entry></service>"
        "<rulebase><security><rules>"
        f"{rule('pub', 'untrust', 'a-pub')}{rule('direct', 'trust', 'a-vip')}"
        "</rules></security><nat><rules>"
        f"<entry name='n'><from>{members('untrust')}</from><to>{members('untrust')}</to>"
        f"<source>{members('any')}</source><destination>{members('a-pub')}</destination><service>s-443</service>"
        f"<destination-translation><translated-address>{translated}</translated-address>{translated_port}"
        f"</destination-translation>{tag}</entry>"
        "</rules></nat></rulebase></entry></vsys></entry></devices></config>"
    )


def _verdicts(xml: str) -> list[tuple[str, str]]:
    want = oracle.expected_flows(SERVICES, POOLS, NATS, POLICIES)
    return list(oracle.compare(want, oracle.device_flows(xml, TAG)))


def test_a_right_config_agrees() -> None:
    want = oracle.expected_flows(SERVICES, POOLS, NATS, POLICIES)
    assert len(want.security) == 2 and len(want.nat) == 1
    assert _verdicts(_running()) == []
    assert _verdicts(_running(nat_port="443")) == []  # translated port spelled out: the same flow


@pytest.mark.parametrize("wrong", [dict(port="444"), dict(vip="10.80.0.3"), dict(action="deny"),
                                   dict(to_zone="dmz"), dict(translated="a-other"), dict(nat_port="8443")],
                         ids=str)
def test_every_wrong_attribute_is_caught(wrong: dict[str, str]) -> None:
    verdicts = _verdicts(_running(**wrong))
    assert any(v == "lost" for v, _ in verdicts), verdicts


def test_an_unreferenced_managed_object_is_stale() -> None:
    assert oracle.unreferenced_owned(_running(), TAG) == ["address a-other"]
