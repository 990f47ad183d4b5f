"""The packet-flow evaluator on hand-written running configs: first match, pre-NAT destination
and post-NAT zone in security, the original port, default rules, order matters."""

from __future__ import annotations

import pytest

from tests.faults.flows import Packet, evaluate


def zone_of(ip: str) -> str:
    if ip.startswith("10.80."):
        return "k8s"
    if ip.startswith("192.168."):
        return "trust"
    return "untrust"


def members(*values: str) -> str:
    return "".join(f"<member>{x}</member>" for x in values)


ALLOW_PUB = (f"<entry name='bmlb-allow'><from>{members('untrust')}</from><to>{members('k8s')}</to>"
             f"<source>{members('any')}</source><destination>{members('a-pub')}</destination>"
             f"<application>{members('any')}</application><service>{members('s-443')}</service>"
             "<action>allow</action></entry>")
DENY_ALL = (f"<entry name='corp-deny-all'><from>{members('any')}</from><to>{members('any')}</to>"
            f"<source>{members('any')}</source><destination>{members('any')}</destination>"
            f"<application>{members('any')}</application><service>{members('any')}</service>"
            "<action>deny</action></entry>")
DNS = (f"<entry name='corp-dns'><from>{members('trust')}</from><to>{members('k8s')}</to>"
       f"<source>{members('any')}</source><destination>{members('any')}</destination>"
       f"<application>{members('dns')}</application><service>{members('application-default')}</service>"
       "<action>allow</action></entry>")


def running(*security: str, nat_port: str = "") -> str:
    port = f"<translated-port>{nat_port}</translated-port>" if nat_port else ""
    return (
        "<config><devices><entry name='localhost.localdomain'><vsys><entry name='vsys1'>"
        "<address><entry name='a-vip'><ip-netmask>10.80.0.2/32</ip-netmask></entry>"
        "<entry name='a-pub'><ip-netmask>198.51.100.2/32</ip-netmask></entry></address>"
        "<service><entry name='s-443'><protocol><tcp><port>443</port></tcp></protocol></entry></service>"
        f"<rulebase><security><rules>{''.join(security)}</rules></security><nat><rules>"
        f"<entry name='bmlb-nat'><from>{members('untrust')}</from><to>{members('untrust')}</to>"
        f"<source>{members('any')}</source><destination>{members('a-pub')}</destination><service>s-443</service>"
        f"<destination-translation><translated-address>a-vip</translated-address>{port}</destination-translation>"
        "</entry></rules></nat></rulebase></entry></vsys></entry></devices></config>")


INTERNET = Packet("untrust", "203.0.113.9", "198.51.100.2", 443)


def test_allowed_and_translated_above_the_deny_all() -> None:
    v = evaluate(running(ALLOW_PUB, DENY_ALL), INTERNET, zone_of)
    assert (v.action, v.rule, v.nat_rule) == ("allow", "bmlb-allow", "bmlb-nat")
    assert (v.destination, v.port) == ("10.80.0.2", 443)


def test_below_the_deny_all_nothing_gets_through() -> None:
    v = evaluate(running(DENY_ALL, ALLOW_PUB), INTERNET, zone_of)
    assert (v.action, v.rule) == ("deny", "corp-deny-all")


@pytest.mark.parametrize(("packet", "default"), [
    (Packet("untrust", "203.0.113.9", "198.51.100.2", 22), "intrazone-default"),  # unpublished port: not NAT-ed
    (Packet("untrust", "203.0.113.9", "10.80.0.2", 443), "interzone-default"),  # the post-NAT address
    (Packet("trust", "192.168.1.1", "198.51.100.2", 443), "interzone-default")],  # another zone
    ids=["port", "vip", "zone"])
def test_what_the_rules_do_not_name_is_denied(packet: Packet, default: str) -> None:
    assert evaluate(running(ALLOW_PUB, DENY_ALL), packet, zone_of).rule == "corp-deny-all"
    assert evaluate(running(ALLOW_PUB), packet, zone_of).rule == default


def test_security_matches_the_original_port_and_nat_may_change_it() -> None:
    v = evaluate(running(ALLOW_PUB, nat_port="8443"), INTERNET, zone_of)
    assert (v.action, v.port) == ("allow", 8443)


def test_application_rules_match_only_that_application() -> None:
    dns = Packet("trust", "192.168.1.1", "10.80.0.2", 53, "udp", application="dns")
    assert evaluate(running(DNS), dns, zone_of).rule == "corp-dns"
    other = Packet("trust", "192.168.1.1", "10.80.0.2", 53, "udp")
    assert evaluate(running(DNS), other, zone_of).rule == "interzone-default"
    assert evaluate(running(DNS), Packet("k8s", "10.80.0.3", "10.80.0.2", 80), zone_of).rule == "intrazone-default"
