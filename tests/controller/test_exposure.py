"""controller/core/exposure.py and controller/core/audit_rulebase.py on hand-written PAN-OS XML: NAT first
(first match), security on the pre-NAT address with the post-NAT zone, default rules, groups and
negation, and the zone of an address from interfaces and static routes."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from controller.core import exposure as exp
from controller.core import intervals as ival
from controller.core.audit_rulebase import parse


def members(*values: str) -> str:
    return "".join(f"<member>{v}</member>" for v in values)


def rule(name: str, action: str, frm: str, to: str, src: tuple[str, ...] = ("any",), dst: tuple[str, ...] = ("any",),
         service: str = "any", extra: str = "") -> str:
    return (f"<entry name='{name}'><from>{members(frm)}</from><to>{members(to)}</to><source>{members(*src)}</source>"
            f"<destination>{members(*dst)}</destination><application>{members('any')}</application>"
            f"<service>{members(service)}</service><action>{action}</action>{extra}</entry>")


def nat(name: str, frm: str, to: str, dst: str, service: str, translated: str | None, src: str = "any") -> str:
    dt = (f"<destination-translation><translated-address>{translated}</translated-address>"
          "</destination-translation>") if translated else ""
    return (f"<entry name='{name}'><from>{members(frm)}</from><to>{members(to)}</to><source>{members(src)}</source>"
            f"<destination>{members(dst)}</destination><service>{service}</service>{dt}</entry>")


def device(security: list[str], nats: list[str]) -> ET.Element:
    return ET.fromstring(f"""
<entry name='localhost.localdomain'>
  <network>
    <interface><ethernet>
      <entry name='ethernet1/1'><layer3><ip><entry name='203.0.113.2/24'/></ip></layer3></entry>
      <entry name='ethernet1/2'><layer3><ip><entry name='10.0.0.1/24'/></ip></layer3></entry>
      <entry name='ethernet1/4'><layer3><ip><entry name='10.96.0.1/24'/></ip></layer3></entry>
    </ethernet></interface>
    <virtual-router><entry name='default'><routing-table><ip><static-route>
      <entry name='vips'><destination>10.96.100.0/24</destination>
        <nexthop><ip-address>10.96.0.11</ip-address></nexthop></entry>
    </static-route></ip></routing-table></entry></virtual-router>
  </network>
  <vsys><entry name='vsys1'>
    <zone>
      <entry name='untrust'><network><layer3>{members('ethernet1/1')}</layer3></network></entry>
      <entry name='trust'><network><layer3>{members('ethernet1/2')}</layer3></network></entry>
      <entry name='k8s'><network><layer3>{members('ethernet1/4')}</layer3></network></entry>
    </zone>
    <address>
      <entry name='vip'><ip-netmask>10.96.100.2</ip-netmask></entry>
      <entry name='pub'><ip-netmask>203.0.113.16/32</ip-netmask></entry>
      <entry name='other-vip'><ip-netmask>10.96.100.9</ip-netmask></entry>
    </address>
    <address-group><entry name='admins'><static>{members('admin-net', '10.0.0.7')}</static></entry></address-group>
    <service><entry name='https'><protocol><tcp><port>443</port></tcp></protocol></entry></service>
    <rulebase>
      <security><rules>{''.join(security)}</rules></security>
      <nat><rules>{''.join(nats)}</rules></nat>
    </rulebase>
  </entry></vsys>
</entry>""")


SHARED = ET.fromstring("<shared><address><entry name='admin-net'><ip-range>10.0.0.32-10.0.0.63</ip-range></entry>"
                       "</address></shared>")
WEB = exp.Target("shop/web", ("10.96.100.2",), (exp.Port("tcp", 443),))


def rows(policy: object) -> set[tuple[str, tuple[str, ...], str, str, int]]:
    return {(r.source_zone, r.sources, r.address, r.rule, r.position) for r in exp.matrix(policy, [WEB])}  # type: ignore[arg-type]


def test_zones_from_interfaces_and_routes() -> None:
    policy = parse(device([], []), SHARED)
    assert policy.zone_of("10.96.100.2") == "k8s"  # static route via 10.96.0.11 on ethernet1/4
    assert policy.zone_of("203.0.113.16") == "untrust" and policy.zone_of("10.0.0.7") == "trust"
    assert policy.zone_of("192.0.2.1") is None
    assert exp.zones(policy) == ["k8s", "trust", "untrust"]


def test_first_match_with_groups_negation_and_defaults() -> None:
    policy = parse(device([
        rule("admins-only", "allow", "trust", "k8s", src=("admins",), dst=("vip",), service="https"),
        rule("not-admins", "deny", "trust", "k8s", src=("admins",), extra="<negate-source>yes</negate-source>"),
        rule("late-allow", "allow", "trust", "k8s"),
    ], []), SHARED)
    assert rows(policy) == {
        ("trust", ("10.0.0.7/32", "10.0.0.32/27"), "10.96.100.2", "admins-only", 1),
        ("k8s", ("any",), "10.96.100.2", "intrazone-default", 0),
    }


def test_nat_first_then_security_on_the_pre_nat_address_and_post_nat_zone() -> None:
    publish = nat("publish", "untrust", "untrust", "pub", "https", "vip")
    policy = parse(device([
        rule("to-public", "allow", "untrust", "k8s", dst=("pub",)),  # pre-NAT address, post-NAT zone
        rule("to-vip", "allow", "untrust", "k8s", dst=("vip",)),
    ], [publish]), SHARED)
    assert rows(policy) == {
        ("untrust", ("any",), "203.0.113.16", "to-public", 1),
        ("untrust", ("any",), "10.96.100.2", "to-vip", 2),
        ("k8s", ("any",), "10.96.100.2", "intrazone-default", 0),
    }
    # A foreign NAT rule above sends part of the public address's traffic elsewhere.
    hijack = nat("elsewhere", "untrust", "untrust", "pub", "any", "other-vip", src="198.51.100.0/24")
    policy = parse(device([rule("to-public", "allow", "untrust", "k8s", dst=("pub",))], [hijack, publish]), SHARED)
    public = [r for r in exp.matrix(policy, [WEB]) if r.via == "public"]
    assert [(r.nat, r.rule) for r in public] == [("publish", "to-public")]
    reached = ival.normalize(iv for c in public[0].sources if (iv := ival.ip_interval(c)))
    assert reached == ival.subtract(ival.ALL_V4, ((ival.ip_interval("198.51.100.0/24") or (0, 0)),))


def test_disabled_rules_and_interzone_default() -> None:
    policy = parse(device([rule("off", "allow", "untrust", "k8s", extra="<disabled>yes</disabled>")], []), SHARED)
    assert rows(policy) == {("k8s", ("any",), "10.96.100.2", "intrazone-default", 0)}
    deny_intra = rule("k8s-deny", "deny", "k8s", "k8s")
    assert rows(parse(device([deny_intra], []), SHARED)) == set()
