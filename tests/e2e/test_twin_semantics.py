"""The firewall twin's PAN-OS semantics, each case written from the PAN-OS documentation cited in
tests/e2e/twin/evaluate.py and fib.py (not from bmlb's compiler): hand-written configs in,
verdicts out. Host-only, no root."""

from __future__ import annotations

import ast
import ipaddress
from pathlib import Path

import pytest

from tests.e2e.fixtures import ECMP_ON, config, default_rules, nat, route, security
from tests.e2e.twin import Action, NextHop, Packet, evaluate, load, routes, ruleset
from tests.e2e.twin.apply import plan
from tests.e2e.twin.fib import lookup

CLIENT = "198.51.100.7"
PUBLIC = "203.0.113.16"
SERVER = "192.168.50.10"  # in dmz
ip = ipaddress.ip_address


def web(**kw: object) -> Packet:
    base: dict[str, object] = {"from_zone": "untrust", "src": CLIENT, "dst": PUBLIC, "proto": "tcp", "dport": 443}
    base.update(kw)
    return Packet(**base)  # type: ignore[arg-type]


# The documentation's one-to-one destination NAT example: the NAT rule goes from the client's zone
# to the zone of the public address (untrust -> untrust); the security rule from the client's zone
# to the zone of the server (post-NAT zone) with the public (pre-NAT) address.
DNAT = nat("publish", frm=("untrust",), to="untrust", destination=(PUBLIC,), service="svc-443", translated=SERVER)
OBJECTS = ("<service><entry name=\"svc-443\"><protocol><tcp><port>443</port></tcp></protocol></entry>"
           "<entry name=\"svc-web\"><protocol><tcp><port>80,443,8000-8010</port></tcp></protocol></entry>"
           "<entry name=\"svc-dns\"><protocol><udp><port>53</port></udp></protocol></entry></service>")


def test_dnat_pre_nat_address_post_nat_zone_is_allowed() -> None:
    dev = load(config(objects=OBJECTS, nat_rules=DNAT, rules=security(
        "in", frm=("untrust",), to=("dmz",), destination=(PUBLIC,), service=("svc-443",))))

    v = evaluate(dev, web())

    assert (v.action, v.rule, v.nat_rule) == (Action.ALLOW, "in", "publish")
    assert (v.translated_dst, v.translated_port) == (ip(SERVER), None)
    assert (v.nat_zone, v.egress_zone) == ("untrust", "dmz")
    assert v.next_hops == (NextHop("ethernet1/3", None),)


@pytest.mark.parametrize(("why", "rule"), [
    ("post-NAT address", security("in", frm=("untrust",), to=("dmz",), destination=(SERVER,))),
    ("pre-NAT zone", security("in", frm=("untrust",), to=("untrust",), destination=(PUBLIC,))),
])
def test_security_rule_with_post_nat_address_or_pre_nat_zone_does_not_match(why: str, rule: str) -> None:
    dev = load(config(objects=OBJECTS, nat_rules=DNAT, rules=rule))

    v = evaluate(dev, web())

    assert v.nat_rule == "publish", why
    assert (v.action, v.rule) == (Action.DENY, "interzone-default"), why


def test_nat_rule_to_the_post_nat_zone_does_not_match_so_nothing_is_translated() -> None:
    wrong = nat("wrong", frm=("untrust",), to="dmz", destination=(PUBLIC,), translated=SERVER)
    dev = load(config(nat_rules=wrong, rules=security("in", frm=("untrust",), to=("dmz",))))

    v = evaluate(dev, web())

    # untranslated, the public address routes back into untrust: intrazone, never the dmz
    assert (v.nat_rule, v.translated_dst, v.egress_zone) == (None, None, "untrust")
    assert v.rule == "intrazone-default"


def test_post_nat_zone_follows_the_route_of_the_translated_address() -> None:
    # The translated address 10.50.0.9 is behind a router in k8s: the session goes to k8s.
    dnat = nat("publish", frm=("untrust",), to="untrust", destination=(PUBLIC,), translated="10.50.0.9")
    dev = load(config(nat_rules=dnat, routes=route("r", "10.50.0.0/16", "10.96.0.20"),
                      rules=security("to-dmz", frm=("untrust",), to=("dmz",)) + security("to-k8s", to=("k8s",))))

    v = evaluate(dev, web())

    assert (v.egress_zone, v.rule) == ("k8s", "to-k8s")
    assert v.next_hops == (NextHop("ethernet1/4", ip("10.96.0.20")),)


def test_nat_is_first_match_and_disabled_rules_do_not_exist() -> None:
    rules = (nat("off", frm=("untrust",), to="untrust", destination=(PUBLIC,), translated="192.168.50.99",
                 extra="<disabled>yes</disabled>")
             + nat("first", frm=("untrust",), to="untrust", destination=(PUBLIC,), translated=SERVER)
             + nat("second", frm=("untrust",), to="untrust", destination=(PUBLIC,), translated="192.168.50.11"))
    dev = load(config(nat_rules=rules))

    v = evaluate(dev, web())

    assert (v.nat_rule, v.translated_dst) == ("first", ip(SERVER))


def test_a_nat_rule_without_translation_still_ends_nat_lookup() -> None:
    rules = (nat("no-nat", frm=("untrust",), to="untrust", destination=(PUBLIC,))
             + nat("publish", frm=("untrust",), to="untrust", destination=(PUBLIC,), translated=SERVER))
    dev = load(config(nat_rules=rules))

    v = evaluate(dev, web())

    assert (v.nat_rule, v.translated_dst, v.egress_zone) == ("no-nat", None, "untrust")


def test_unpublished_port_is_not_translated() -> None:
    dev = load(config(objects=OBJECTS, nat_rules=DNAT, rules=security("all-dmz", to=("dmz",))))

    v = evaluate(dev, web(dport=80))

    assert (v.nat_rule, v.translated_dst, v.egress_zone) == (None, None, "untrust")


def test_translated_port() -> None:
    dnat = nat("p", frm=("untrust",), to="untrust", destination=(PUBLIC,), service="svc-443", translated=SERVER,
               port=8443)
    dev = load(config(objects=OBJECTS, nat_rules=dnat))

    v = evaluate(dev, web())

    assert (v.translated_dst, v.translated_port) == (ip(SERVER), 8443)


def test_nat_matches_source_and_from_zone() -> None:
    dnat = nat("p", frm=("trust",), to="untrust", source=("10.0.0.0/28",), destination=(PUBLIC,), translated=SERVER)
    dev = load(config(nat_rules=dnat))

    assert evaluate(dev, web()).nat_rule is None  # from untrust
    assert evaluate(dev, web(from_zone="trust", src="10.0.0.5")).nat_rule == "p"
    assert evaluate(dev, web(from_zone="trust", src="10.0.0.50")).nat_rule is None


def test_objects_groups_and_shared_scope() -> None:
    shared = ('<address><entry name="srv"><ip-netmask>192.168.50.0/24</ip-netmask></entry>'
              '<entry name="office"><ip-netmask>10.0.0.0/24</ip-netmask></entry></address>')
    objects = ('<address><entry name="srv"><ip-range>192.168.50.10-192.168.50.12</ip-range></entry>'
               '<entry name="admin"><ip-netmask>10.0.0.7</ip-netmask></entry></address>'
               '<address-group><entry name="inner"><static>' + "<member>srv</member>" + '</static></entry>'
               '<entry name="outer"><static><member>inner</member><member>192.168.50.40</member></static></entry>'
               '</address-group>'
               '<service><entry name="dns"><protocol><udp><port>53</port></udp></protocol></entry>'
               '<entry name="ssh"><protocol><tcp><port>22</port></tcp></protocol></entry></service>'
               '<service-group><entry name="ops"><members><member>dns</member><member>ssh</member></members>'
               '</entry></service-group>')
    rule = security("ops", frm=("trust",), to=("dmz",), source=("office",), destination=("outer",),
                    service=("ops",))
    dev = load(config(shared=shared, objects=objects, rules=rule))

    def verdict(dst: str, proto: str, port: int) -> str:
        return evaluate(dev, Packet("trust", "10.0.0.5", dst, proto, port)).rule

    assert verdict("192.168.50.11", "udp", 53) == "ops"  # vsys "srv" (range) shadows shared "srv" (/24)
    assert verdict("192.168.50.40", "tcp", 22) == "ops"  # literal member of the group
    assert verdict("192.168.50.20", "udp", 53) == "interzone-default"  # in shared srv only
    assert verdict("192.168.50.11", "tcp", 53) == "interzone-default"  # dns is UDP
    assert verdict("192.168.50.11", "tcp", 23) == "interzone-default"


def test_service_port_lists_and_ranges() -> None:
    dev = load(config(objects=OBJECTS, rules=security("web", to=("dmz",), service=("svc-web",))))

    deny = "interzone-default"
    for port, rule in ((80, "web"), (443, "web"), (8005, "web"), (8011, deny), (81, deny)):
        assert evaluate(dev, Packet("trust", "10.0.0.5", SERVER, "tcp", port)).rule == rule, port


def test_predefined_services_and_application_default() -> None:
    dev = load(config(rules=security("http", to=("dmz",), service=("service-http",))
                      + security("appdef", to=("k8s",), service=("application-default",))))

    assert evaluate(dev, Packet("trust", "10.0.0.5", SERVER, "tcp", 8080)).rule == "http"
    assert evaluate(dev, Packet("trust", "10.0.0.5", SERVER, "tcp", 443)).rule == "interzone-default"
    # application-default: the twin has no App-ID, so any port
    assert evaluate(dev, Packet("trust", "10.0.0.5", "10.96.5.5", "udp", 9999)).rule == "appdef"


def test_security_first_match_deny_above_allow() -> None:
    rules = (security("block", to=("dmz",), source=("10.0.0.5",), action="deny")
             + security("allow", to=("dmz",)))
    dev = load(config(rules=rules))

    assert (evaluate(dev, Packet("trust", "10.0.0.5", SERVER, "tcp", 22)).action) is Action.DENY
    assert (evaluate(dev, Packet("trust", "10.0.0.6", SERVER, "tcp", 22)).rule) == "allow"


@pytest.mark.parametrize("action", ["drop", "reset-client", "reset-server", "reset-both"])
def test_actions(action: str) -> None:
    dev = load(config(rules=security("r", to=("dmz",), action=action)))

    v = evaluate(dev, Packet("trust", "10.0.0.5", SERVER, "tcp", 22))

    assert (v.action.value, v.passes) == (action, False)


def test_negate_source_and_destination() -> None:
    rules = (security("not-office", to=("dmz",), source=("10.0.0.0/28",), action="deny",
                      extra="<negate-source>yes</negate-source>")
             + security("not-srv", to=("dmz",), destination=(SERVER,), action="drop",
                        extra="<negate-destination>yes</negate-destination>")
             + security("rest", to=("dmz",)))
    dev = load(config(rules=rules))

    assert evaluate(dev, Packet("trust", "10.0.0.99", SERVER, "tcp", 1)).rule == "not-office"
    assert evaluate(dev, Packet("trust", "10.0.0.5", "192.168.50.11", "tcp", 1)).rule == "not-srv"
    assert evaluate(dev, Packet("trust", "10.0.0.5", SERVER, "tcp", 1)).rule == "rest"


def test_disabled_security_rule_is_skipped() -> None:
    dev = load(config(rules=security("off", to=("dmz",), action="deny", extra="<disabled>yes</disabled>")
                      + security("on", to=("dmz",))))

    assert evaluate(dev, Packet("trust", "10.0.0.5", SERVER, "tcp", 22)).rule == "on"


def test_default_rules_intrazone_allow_interzone_deny() -> None:
    dev = load(config())

    intra = evaluate(dev, Packet("untrust", CLIENT, "203.0.113.50", "tcp", 22))
    inter = evaluate(dev, Packet("untrust", CLIENT, SERVER, "tcp", 22))

    assert (intra.action, intra.rule) == (Action.ALLOW, "intrazone-default")
    assert (inter.action, inter.rule) == (Action.DENY, "interzone-default")


def test_default_rules_overridden() -> None:
    dev = load(config(defaults=default_rules({"intrazone-default": "deny", "interzone-default": "allow"})))

    assert evaluate(dev, Packet("untrust", CLIENT, "203.0.113.50", "tcp", 22)).action is Action.DENY
    assert evaluate(dev, Packet("untrust", CLIENT, SERVER, "tcp", 22)).action is Action.ALLOW


def test_rule_types_intrazone_and_interzone() -> None:
    rules = (security("intra", frm=("untrust", "dmz"), to=("dmz",), action="drop",
                      extra="<rule-type>intrazone</rule-type>")
             + security("inter", frm=("untrust",), to=("untrust", "dmz"), extra="<rule-type>interzone</rule-type>"))
    dev = load(config(rules=rules))

    assert evaluate(dev, Packet("untrust", CLIENT, "203.0.113.50", "tcp", 1)).rule == "intra"  # untrust->untrust
    assert evaluate(dev, Packet("untrust", CLIENT, SERVER, "tcp", 1)).rule == "inter"
    assert evaluate(dev, Packet("dmz", SERVER, "192.168.50.11", "tcp", 1)).rule == "intra"


def test_interface_in_no_zone_is_dropped() -> None:
    dev = load(config(rules=security("all")))

    v = evaluate(dev, Packet("trust", "10.0.0.5", "172.16.0.9", "tcp", 1))

    assert (v.action, v.rule) == (Action.DROP, "")
    assert "no zone" in v.reason


# ---------------------------------------------------------------------------------- routing


def test_longest_prefix_then_admin_distance_then_metric() -> None:
    r = (route("wide", "10.50.0.0/16", "10.96.0.11")
         + route("narrow", "10.50.1.0/24", "192.168.50.2")
         + route("far", "10.60.0.0/16", "10.96.0.11", admin_dist=20, metric=1)
         + route("near", "10.60.0.0/16", "10.96.0.12", admin_dist=10, metric=100)
         + route("cheap", "10.70.0.0/16", "10.96.0.13", metric=5)
         + route("dear", "10.70.0.0/16", "10.96.0.14", metric=50))
    dev = load(config(routes=r))
    vr = dev.routers[0]

    def via(dst: str) -> str:
        found = lookup(vr, ip(dst))
        assert found is not None
        return str(found.hops[0].via)

    assert via("10.50.1.1") == "192.168.50.2"
    assert via("10.50.2.1") == "10.96.0.11"
    assert via("10.60.0.1") == "10.96.0.12"
    assert via("10.70.0.1") == "10.96.0.13"


def test_ecmp_off_installs_one_path_on_installs_max_path() -> None:
    r = "".join(route(f"n{i}", "10.96.100.0/24", f"10.96.0.{10 + i}") for i in range(1, 4))
    off = load(config(routes=r))
    on = load(config(routes=r, ecmp=ECMP_ON.format(n=2)))
    four = load(config(routes=r, ecmp=ECMP_ON.format(n=4)))

    def hops(dev: object) -> list[str]:
        v = evaluate(dev, Packet("untrust", CLIENT, "10.96.100.5", "tcp", 80))  # type: ignore[arg-type]
        return [str(h.via) for h in v.next_hops]

    assert hops(off) == ["10.96.0.11"]
    assert hops(on) == ["10.96.0.11", "10.96.0.12"]
    assert hops(four) == ["10.96.0.11", "10.96.0.12", "10.96.0.13"]
    multipath = routes(four, {"ethernet1/4": "fw-k"})
    assert multipath == [["ip", "route", "replace", "10.96.100.0/24", "proto", "199",
                          "nexthop", "via", "10.96.0.11", "dev", "fw-k", "nexthop", "via", "10.96.0.12", "dev", "fw-k",
                          "nexthop", "via", "10.96.0.13", "dev", "fw-k"]]


def test_path_monitoring_withdraws_a_failed_route() -> None:
    r = (route("a", "10.96.100.0/24", "10.96.0.11", monitor=("10.96.0.11",))
         + route("b", "10.96.100.0/24", "10.96.0.12", monitor=("10.96.0.12",))
         + route("backup", "10.96.100.0/24", "192.168.50.2", metric=100))
    dev = load(config(routes=r, ecmp=ECMP_ON.format(n=2)))
    p = Packet("untrust", CLIENT, "10.96.100.5", "tcp", 80)

    assert [str(h.via) for h in evaluate(dev, p).next_hops] == ["10.96.0.11", "10.96.0.12"]
    assert [str(h.via) for h in evaluate(dev, p, down=frozenset({ip("10.96.0.11")})).next_hops] == ["10.96.0.12"]
    both = evaluate(dev, p, down=frozenset({ip("10.96.0.11"), ip("10.96.0.12")}))
    assert ([str(h.via) for h in both.next_hops], both.egress_zone) == (["192.168.50.2"], "dmz")


def test_path_monitoring_failure_condition_all() -> None:
    r = route("a", "10.50.100.0/24", "10.96.0.11", monitor=("10.96.0.11", "10.96.0.99"), failure="all")
    dev = load(config(routes=r))
    p = Packet("untrust", CLIENT, "10.50.100.5", "tcp", 80)

    assert evaluate(dev, p, down=frozenset({ip("10.96.0.99")})).next_hops != ()
    assert "no route" in evaluate(dev, p, down=frozenset({ip("10.96.0.11"), ip("10.96.0.99")})).reason


def test_unreachable_next_hop_is_not_installed_and_discard_drops() -> None:
    r = (route("nowhere", "10.50.0.0/16", "10.200.0.1")
         + route("hole", "10.60.0.0/16", discard=True))
    dev = load(config(routes=r))

    assert "no route" in evaluate(dev, Packet("untrust", CLIENT, "10.50.0.1", "tcp", 1)).reason
    assert "discard" in evaluate(dev, Packet("untrust", CLIENT, "10.60.0.1", "tcp", 1)).reason
    assert routes(dev, {"ethernet1/4": "k"}) == [["ip", "route", "replace", "blackhole", "10.60.0.0/16", "proto",
                                                  "199"]]


def test_no_route_drops_before_policy() -> None:
    dev = load(config(rules=security("all")))

    v = evaluate(dev, Packet("untrust", CLIENT, "8.8.8.8", "udp", 53))

    assert (v.action, v.rule) == (Action.DROP, "")


# ------------------------------------------------------------------------- nftables rendering


def test_ruleset_is_one_atomic_table_replacement() -> None:
    dev = load(config(objects=OBJECTS, nat_rules=DNAT, rules=security(
        "in", frm=("untrust",), to=("dmz",), destination=(PUBLIC,), service=("svc-443",))))

    script = ruleset(dev, {"ethernet1/1": "u", "ethernet1/3": "d"})

    lines = script.splitlines()
    assert lines[:3] == ["table inet bmlb_twin {}", "delete table inet bmlb_twin", "table inet bmlb_twin {"]
    assert 'iifname "u" ip daddr 203.0.113.16 meta l4proto tcp th dport 443 dnat ip to 192.168.50.10' in script
    assert ('iifname "u" oifname "d" meta nfproto ipv4 ct original ip daddr 203.0.113.16 meta l4proto tcp '
            'ct original proto-dst 443 accept') in script
    forward = script[script.index("chain forward"):]
    assert forward.index("ct state established,related accept") < forward.index("security in")
    assert script == ruleset(dev, {"ethernet1/1": "u", "ethernet1/3": "d"})


def test_source_translation_to_an_interface_address_or_a_static_address() -> None:
    hide = ("<source-translation><dynamic-ip-and-port><interface-address><interface>ethernet1/1</interface>"
            "</interface-address></dynamic-ip-and-port></source-translation>")
    static = ("<source-translation><static-ip><translated-address>203.0.113.77</translated-address></static-ip>"
              "</source-translation>")
    rules = (nat("one", frm=("trust",), to="untrust", source=("10.0.0.7",), extra=static)
             + nat("hide", frm=("trust",), to="untrust", extra=hide))
    dev = load(config(nat_rules=rules, routes=route("default", "0.0.0.0/0", "203.0.113.1")))

    hidden = evaluate(dev, Packet("trust", "10.0.0.5", CLIENT, "tcp", 443))
    one = evaluate(dev, Packet("trust", "10.0.0.7", CLIENT, "tcp", 443))

    assert (hidden.nat_rule, hidden.translated_src, hidden.translated_dst) == ("hide", ip("203.0.113.2"), None)
    assert (one.nat_rule, one.translated_src) == ("one", ip("203.0.113.77"))
    script = ruleset(dev, {"ethernet1/1": "u", "ethernet1/2": "t"})
    assert "snat ip to 203.0.113.2" in script and "snat ip to 203.0.113.77" in script


def test_the_twin_is_independent_of_bmlb() -> None:
    """The twin reads the XML itself: it imports nothing of controller/, firewall/ or ipvs/."""
    package = Path(__file__).parent / "twin"
    imported = set()
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module.split(".")[0])
    assert imported.isdisjoint({"controller", "firewall", "ipvs", "kopf", "kubernetes", "panos"}), imported


def test_apply_plan_replaces_only_the_difference() -> None:
    """What `apply` sends to `ip -batch`, from what `ip -j` reported (shapes as iproute2 6.1 prints)."""
    dev = load(config(objects=OBJECTS, nat_rules=DNAT, routes=route("default", "0.0.0.0/0", "203.0.113.1")
                      + route("k", "10.50.0.0/16", "10.96.0.20")))
    netns_addrs = [{"ifname": "u", "addr_info": [{"local": "203.0.113.2", "prefixlen": 24, "scope": "global"},
                                                 {"local": "203.0.113.99", "prefixlen": 32, "scope": "global"},
                                                 {"local": "fe80::1", "prefixlen": 64, "scope": "link"}]},
                   {"ifname": "other", "addr_info": [{"local": "1.2.3.4", "prefixlen": 8, "scope": "global"}]}]
    netns_routes = [{"dst": "default", "gateway": "203.0.113.1", "family": 4},
                    {"dst": "10.60.0.0/16", "gateway": "10.96.0.20", "family": 4},
                    {"dst": "10.61.0.1", "type": "blackhole", "family": 4}]

    lines = plan(dev, netns_addrs, netns_routes, {"ethernet1/1": "u", "ethernet1/4": "k"})

    assert "addr del 203.0.113.99/32 dev u" in lines  # stale: no NAT rule holds it
    assert "addr replace 203.0.113.16/32 dev u" in lines  # the DNAT address, answered by ARP
    assert not any("203.0.113.2/24" in x or "1.2.3.4" in x or "fe80" in x for x in lines)
    assert "route del 10.60.0.0/16 proto 199" in lines and "route del blackhole 10.61.0.1/32 proto 199" in lines
    assert not any(x.startswith("route del 0.0.0.0/0") for x in lines)
    assert "route replace 0.0.0.0/0 proto 199 via 203.0.113.1 dev u" in lines
    assert "route replace 10.50.0.0/16 proto 199 via 10.96.0.20 dev k" in lines
