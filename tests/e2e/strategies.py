"""Hypothesis strategies for the twin's tests: route tables and whole (often nonsensical) configs."""

from __future__ import annotations

import ipaddress
import xml.etree.ElementTree as ET

from hypothesis import strategies as st

from tests.e2e.fixtures import ECMP_ON, config, default_rules, nat, route, security

NEXT_HOPS = ("203.0.113.9", "10.0.0.9", "192.168.50.9", "10.96.0.9", "172.16.0.9", "10.200.0.1")
ZONES = ("untrust", "trust", "dmz", "k8s")
INTERFACES = {"ethernet1/1": "u", "ethernet1/2": "t", "ethernet1/3": "d", "ethernet1/4": "k"}

prefixes = st.builds(
    lambda n, length: str(ipaddress.ip_network(f"{ipaddress.IPv4Address(n)}/{length}", strict=False)),
    st.integers(0, 2**32 - 1), st.integers(0, 32))
routes = st.lists(
    st.builds(lambda i, p, nh, m, a, d: route(f"r{i}", p, None if d else nh, metric=m, admin_dist=a, discard=d),
              st.integers(0, 10**6), prefixes, st.sampled_from(NEXT_HOPS), st.integers(1, 3), st.integers(10, 11),
              st.sampled_from((False, False, False, False, True))),
    max_size=12, unique_by=lambda r: r.split('"')[1])
addresses = st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address)


def _esc(v: str) -> str:
    return v.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=12)
member = st.one_of(st.sampled_from(["any", "10.0.0.0/8", "203.0.113.16", "10.0.0.1-10.0.0.9", "fd00::/64",
                                    "192.168.50.0/24", "nosuch", "svc", "ZZ"]), _text)
members = st.lists(member.map(_esc), min_size=1, max_size=3)
zone = st.sampled_from(("any", *ZONES))
zones = st.lists(zone, min_size=1, max_size=3, unique=True)
action = st.sampled_from(["allow", "deny", "drop", "reset-client", "reset-both", "bogus"])
service = st.sampled_from(["any", "application-default", "service-http", "svc-web", "svc-dns", "svc-80", "nosuch"])
services = st.lists(service, min_size=1, max_size=3, unique=True)
negate = st.sampled_from(["", "<negate-source>yes</negate-source>", "<negate-destination>yes</negate-destination>",
                          "<rule-type>intrazone</rule-type>", "<rule-type>interzone</rule-type>",
                          "<disabled>yes</disabled>"])
OBJECTS = ('<service><entry name="svc-web"><protocol><tcp><port>80,443,8000-8010</port></tcp></protocol></entry>'
           '<entry name="svc-dns"><protocol><udp><port>53</port></udp></protocol></entry>'
           '<entry name="svc-80"><protocol><tcp><port>80-90</port></tcp></protocol></entry></service>')




@st.composite
def configs(draw: st.DrawFn) -> str:
    """A running config with random security and NAT rules over the fixture's zones."""
    rules = "".join(
        security(f"s{i}", frm=tuple(draw(zones)), to=tuple(draw(zones)), source=tuple(draw(members)),
                 destination=tuple(draw(members)), service=tuple(draw(services)), action=draw(action),
                 extra=draw(negate))
        for i in range(draw(st.integers(0, 5))))
    nat_rules = "".join(
        nat(f"n{i}", frm=(draw(zone),), to=draw(zone), source=(_esc(draw(member)),),
            destination=(_esc(draw(member)),), service=draw(service),
            translated=draw(st.one_of(st.none(), member.map(_esc))),
            port=draw(st.one_of(st.none(), st.integers(1, 65535))))
        for i in range(draw(st.integers(0, 3))))
    return config(rules=rules, nat_rules=nat_rules, objects=OBJECTS, routes="".join(draw(routes)))


XML_CHARS = st.characters(blacklist_categories=("Cs", "Cc"))
SNAT = ("<source-translation><dynamic-ip-and-port><interface-address><interface>ethernet1/1</interface>"
        "</interface-address></dynamic-ip-and-port></source-translation>")
# A config that uses every feature the twin models.
FULL = config(
    shared='<address><entry name="pub"><ip-netmask>203.0.113.16</ip-netmask></entry></address>',
    objects=('<address><entry name="srv"><ip-range>192.168.50.10-192.168.50.12</ip-range></entry></address>'
             '<address-group><entry name="g"><static><member>srv</member><member>10.9.0.0/16</member></static>'
             '</entry><entry name="dyn"><dynamic><filter>\'x\'</filter></dynamic></entry></address-group>'
             '<service><entry name="web"><protocol><tcp><port>80,443,8000-8010</port></tcp></protocol></entry>'
             '</service><service-group><entry name="sg"><members><member>web</member></members></entry>'
             '</service-group>'),
    rules=(security("a", frm=("untrust",), to=("dmz",), destination=("pub",), service=("sg",),
                    extra="<negate-source>yes</negate-source><rule-type>interzone</rule-type>")
           + security("b", source=("g",), destination=("dyn",), action="reset-both")),
    nat_rules=(nat("n", frm=("untrust",), to="untrust", destination=("pub",), service="web", translated="srv",
                   port=8443) + nat("s", frm=("trust",), to="untrust", extra=SNAT)),
    routes=(route("d", "0.0.0.0/0", "203.0.113.1", metric=5, admin_dist=20)
            + route("m", "10.9.0.0/16", "10.96.0.9", monitor=("10.96.0.9",), failure="all")
            + route("x", "10.10.0.0/16", discard=True)),
    ecmp=ECMP_ON.format(n=2),
    defaults=default_rules({"intrazone-default": "deny", "interzone-default": "allow"}))


@st.composite
def garbled_configs(draw: st.DrawFn) -> str:
    """FULL with one to five of its leaf texts replaced by random text or emptied."""
    root = ET.fromstring(FULL)
    leaves = [e for e in root.iter() if len(e) == 0 and (e.text or "").strip()]
    for leaf in draw(st.lists(st.sampled_from(leaves), min_size=1, max_size=5, unique_by=id)):
        leaf.text = draw(st.one_of(st.just(""), st.text(XML_CHARS, max_size=20), st.sampled_from(
            ["any", "yes", "no", "-1", "99999", "10.0.0.0/33", "1.2.3.4-1.2.3.1", "fd00::1", "0.0.0.0/0"])))
    return ET.tostring(root, encoding="unicode")
