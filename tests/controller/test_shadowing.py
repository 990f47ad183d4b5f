"""controller/core/intervals.py and shadowing.py: interval algebra and rule coverage, checked against brute force on
sampled sessions (hypothesis), and the PAN-OS semantics it encodes (zones, negation, services)."""

from __future__ import annotations

import dataclasses
import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from controller.core import intervals as ival
from controller.core import shadowing as sh
from controller.core.audit_rulebase import Policy, Rule

# A small world so that brute force can enumerate it: 10.0.0.0/28 and a few ports.
BASE = int(ipaddress.ip_address("10.0.0.0"))
HOSTS = [str(ipaddress.ip_address(BASE + i)) for i in range(16)]
ZONES = ("a", "b", "c")
PORTS = (22, 80, 443)

intervals = st.lists(st.tuples(st.integers(0, 200), st.integers(0, 200)), max_size=6).map(ival.normalize)


@given(intervals, intervals, st.integers(0, 200))
def test_interval_algebra_matches_sets(a: ival.Intervals, b: ival.Intervals, x: int) -> None:
    def has(iv: ival.Intervals, v: int) -> bool:
        return any(lo <= v <= hi for lo, hi in iv)

    assert has(ival.intersect(a, b), x) == (has(a, x) and has(b, x))
    assert has(ival.subtract(a, b), x) == (has(a, x) and not has(b, x))
    assert has(ival.complement(a), x) == (not has(a, x))
    assert ival.contains(a, b) == all(has(a, v) for lo, hi in b for v in range(lo, hi + 1))


@given(st.lists(st.integers(0, (1 << 32) - 1), min_size=2, max_size=2))
def test_cidrs_round_trip(bounds: list[int]) -> None:
    lo, hi = sorted(bounds)
    cidrs = ival.to_cidrs(((lo, hi),))
    back = ival.normalize(iv for c in cidrs if (iv := ival.ip_interval(c if c != "any" else "0.0.0.0/0")))
    assert back == ((lo, hi),)


# Address objects: single hosts, a /30 group, an FQDN (unresolvable), a dynamic group (unknown).
POLICY = Policy(
    addresses={"h0": ("ip-netmask", HOSTS[0]), "h5": ("ip-netmask", f"{HOSTS[5]}/32"),
               "low8": ("ip-range", f"{HOSTS[0]}-{HOSTS[7]}"), "net4": ("ip-netmask", f"{HOSTS[4]}/30"),
               "www": ("fqdn", "www.example.com")},
    address_groups={"grp": ("h0", "net4"), "dyn": None, "nested": ("grp", "h5")},
    services={"ssh": (("tcp", "22"),), "web": (("tcp", "80,443"),), "dns": (("udp", "53"),)},
    service_groups={"webs": ("web",)},
)
ADDRESS_VALUES = ("any", "h0", "h5", "low8", "net4", "www", "grp", "dyn", "nested", f"{HOSTS[8]}/29", HOSTS[3])
SERVICE_VALUES = ("any", "application-default", "ssh", "web", "webs", "dns", "service-http", "service-https")

# What each value matches in the small world (None: unknown to the config, may be anything).
TRUTH: dict[str, set[str] | None] = {
    "any": set(HOSTS), "h0": {HOSTS[0]}, "h5": {HOSTS[5]}, "low8": set(HOSTS[:8]), "net4": set(HOSTS[4:8]),
    "www": None, "grp": {HOSTS[0], *HOSTS[4:8]}, "dyn": None, "nested": {HOSTS[0], *HOSTS[4:8]},
    f"{HOSTS[8]}/29": set(HOSTS[8:16]), HOSTS[3]: {HOSTS[3]},
}
SERVICE_TRUTH: dict[str, set[tuple[str, int]] | None] = {
    "any": {("tcp", p) for p in PORTS}, "application-default": None, "ssh": {("tcp", 22)},
    "web": {("tcp", 80), ("tcp", 443)}, "webs": {("tcp", 80), ("tcp", 443)}, "dns": set(),
    "service-http": {("tcp", 80)}, "service-https": {("tcp", 443)},
}


def rules() -> st.SearchStrategy[Rule]:
    zones = st.one_of(st.just(("any",)), st.lists(st.sampled_from(ZONES), min_size=1, max_size=2, unique=True)
                      .map(tuple))
    addrs = st.lists(st.sampled_from(ADDRESS_VALUES), min_size=1, max_size=2, unique=True).map(tuple)
    return st.builds(
        Rule, name=st.just("r"), position=st.just(1), from_zones=zones, to_zones=zones, sources=addrs,
        destinations=addrs, source_negate=st.booleans(), destination_negate=st.booleans(),
        applications=st.sampled_from([("any",), ("ssl",), ("ssl", "web-browsing")]),
        services=st.lists(st.sampled_from(SERVICE_VALUES), min_size=1, max_size=2, unique=True).map(tuple),
        rule_type=st.sampled_from(["universal", "intrazone", "interzone"]))


def _field(values: tuple[str, ...], negate: bool, host: str) -> bool | None:
    """True/False: the rule surely matches / surely does not; None: unknown."""
    if "any" in values:
        hit: bool | None = True
    else:
        known = [TRUTH[v] for v in values]
        if any(host in k for k in known if k is not None):
            hit = True
        elif any(k is None for k in known):
            hit = None
        else:
            hit = False
    return hit if hit is None or not negate else not hit


def matches(r: Rule, fz: str, tz: str, src: str, dst: str, app: str, svc: tuple[str, int],
            default_port: bool = False) -> bool | None:
    """The PAN-OS match of one session, written out field by field (None: the config cannot tell).
    `default_port`: the session's port is among its application's default ports."""
    if r.rule_type == "intrazone" and (fz != tz or ("any" not in r.from_zones and fz not in r.from_zones)):
        return False
    if r.rule_type == "interzone" and fz == tz:
        return False
    if r.rule_type != "intrazone":
        if ("any" not in r.from_zones and fz not in r.from_zones) or ("any" not in r.to_zones
                                                                     and tz not in r.to_zones):
            return False
    if "any" not in r.applications and app not in r.applications:
        return False
    if "any" in r.services:
        s_hit: bool | None = True
    elif "application-default" in r.services:
        s_hit = default_port
    else:
        s_hit = any(svc in (SERVICE_TRUTH[v] or set()) for v in r.services)
    fields = [_field(r.sources, r.source_negate, src), _field(r.destinations, r.destination_negate, dst), s_hit]
    if False in fields:
        return False
    return None if None in fields else True


FIELDS = ("from_zones", "to_zones", "sources", "destinations", "source_negate", "destination_negate",
          "applications", "services", "rule_type")


@st.composite
def pairs(draw: st.DrawFn) -> tuple[Rule, Rule]:
    """Two rules that differ in one or two fields: most of them cover each other or nearly so."""
    b, other = draw(rules()), draw(rules())
    changed = draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=2, unique=True))
    return dataclasses.replace(b, **{f: getattr(other, f) for f in changed}), b


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.tuples(rules(), rules()), pairs(), pairs(), pairs()))
def test_covers_is_never_wrong(pair: tuple[Rule, Rule]) -> None:
    """Whenever `covers(a, b)` claims it, no session that b may match escapes a."""
    a, b = pair
    if not sh.covers(POLICY, a, b):
        return
    for fz in ZONES:
        for tz in ZONES:
            for app in ("ssl", "web-browsing", "dns"):
                for svc in [("tcp", p) for p in PORTS]:
                    for src in HOSTS[::3]:
                        for dst in HOSTS[::5]:
                            for default in (False, True):
                                session = (fz, tz, src, dst, app, svc, default)
                                if matches(b, *session) is not False:
                                    assert matches(a, *session) is True, session


@given(rules())
def test_a_rule_covers_itself_when_its_values_are_known(r: Rule) -> None:
    """Also with application-default: the same applications, the same default ports."""
    if {"www", "dyn"} & (set(r.sources) | set(r.destinations)):
        return
    assert sh.covers(POLICY, r, r)


def rule(name: str, pos: int, **kw: object) -> Rule:
    return Rule(name, pos, **kw)  # type: ignore[arg-type]


def test_negation_is_a_superset_only_when_proven() -> None:
    not_h0 = rule("a", 1, sources=("h0",), source_negate=True)
    assert sh.covers(POLICY, not_h0, rule("b", 2, sources=("h5",)))  # h5 is surely not h0
    assert not sh.covers(POLICY, not_h0, rule("b", 2, sources=("low8",)))  # low8 holds h0
    assert not sh.covers(POLICY, rule("a", 1, sources=("www",), source_negate=True), rule("b", 2, sources=("h5",)))
    assert not sh.covers(POLICY, rule("a", 1, sources=("dyn",)), rule("b", 2, sources=("dyn",)))
    # a negated later rule is covered when what it leaves is inside the earlier rule's set
    assert sh.covers(POLICY, rule("a", 1, sources=("any",)), rule("b", 2, sources=("www",), source_negate=True))


def test_zones_services_and_applications() -> None:
    broad = rule("a", 1, from_zones=("any",), to_zones=("b",), services=("webs",))
    assert sh.covers(POLICY, broad, rule("b", 2, from_zones=("a", "c"), to_zones=("b",), services=("service-https",)))
    assert not sh.covers(POLICY, broad, rule("b", 2, from_zones=("a",), to_zones=("b",), services=("ssh",)))
    assert not sh.covers(POLICY, broad, rule("b", 2, to_zones=("b",), services=("any",)))
    assert not sh.covers(POLICY, rule("a", 1, applications=("ssl",)), rule("b", 2))
    assert sh.covers(POLICY, rule("a", 1), rule("b", 2, applications=("ssl",), services=("application-default",)))
    inter = rule("a", 1, rule_type="interzone")
    assert not sh.covers(POLICY, inter, rule("b", 2))  # b also matches same-zone traffic
    assert sh.covers(POLICY, inter, rule("b", 2, from_zones=("a",), to_zones=("b",)))
    assert not sh.covers(POLICY, inter, rule("b", 2, rule_type="intrazone"))


def test_findings_name_both_rules_and_positions() -> None:
    policy = Policy(addresses=POLICY.addresses, security=(
        rule("deny-all", 1, action="deny"),
        rule("bmlb-allow", 2, managed=True, sources=("h5",), services=("web",)),
        rule("bmlb-deny", 3, managed=True, action="drop", to_zones=("b",)),
    ))
    got = [(f.effect, f.rule, f.position, f.by, f.by_position, f.overridden) for f in sh.findings(policy)]
    assert got == [(sh.Effect.SHADOWED, "bmlb-allow", 2, "deny-all", 1, True),
                   (sh.Effect.REDUNDANT, "bmlb-deny", 3, "deny-all", 1, False)]
    disabled = Policy(security=(rule("deny-all", 1, action="deny", disabled=True), rule("x", 2, managed=True)))
    assert sh.findings(disabled) == []


def test_narrowed_only_by_foreign_rules_with_another_action_that_surely_overlap() -> None:
    policy = Policy(addresses=POLICY.addresses, security=(
        rule("block-h5", 1, action="deny", sources=("h5",)),
        rule("allow-some", 2, sources=("h0", "h5")),  # same verdict, part of it: not a finding
        rule("block-fqdn", 3, action="deny", sources=("www",)),  # cannot be proven to overlap
        rule("bmlb-allow", 4, managed=True, sources=("net4",)),
    ))
    got = [(f.effect, f.rule, f.by, f.by_position, f.overridden) for f in sh.findings(policy)]
    assert got == [(sh.Effect.NARROWED, "bmlb-allow", "block-h5", 1, False)]
