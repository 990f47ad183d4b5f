"""Which rules never take effect: the PAN-OS first-match semantics over the rulebase as read
from the device (controller/core/audit_rulebase.py), foreign rules included. Pure.

A security rule matches a session when every field matches: zones (rule-type universal,
intrazone or interzone), source and destination addresses (objects, groups, literals, "any",
each optionally negated), applications and services ("any", "application-default", objects and
groups). The first matching rule decides; intrazone-default (allow) and interzone-default (deny)
come after every rule.

Each field is a set of values known from both sides: `under` (values the rule surely matches)
and `over` (values it may match). An object that cannot be resolved here (an FQDN, a dynamic
group, a name the config lacks) makes `over` everything and adds nothing to `under`; a negated
field swaps and complements them. So "A covers B" (A matches all B matches) is proven only by
B.over <= A.under: findings are never guessed.

Findings for a managed rule B and an earlier enabled rule A that covers it:
- shadowed: A's action differs (B never takes effect); when A is foreign, A overrides B;
- redundant: the same action (B changes nothing).
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass

from controller.core.audit_rulebase import Policy, Rule
from controller.core.intervals import ALL, Intervals, complement, contains, intersect, ip_interval, normalize
from controller.core.rule_services import ANY_PORTS, ports_contain, ports_intersect, services


@dataclass(frozen=True, slots=True)
class Approx:
    """A set known from both sides: under <= actual <= over."""

    under: Intervals
    over: Intervals


@functools.lru_cache(maxsize=1 << 16)
def addresses(policy: Policy, values: tuple[str, ...], negate: bool = False) -> Approx:
    if "any" in values:
        known, unknown = ALL, False
    else:
        items: list[tuple[int, int]] = []
        unknown = False
        for v in values:
            got, unk = _resolve(policy, v, set())
            items += got
            unknown |= unk
        known = normalize(items)
    under, over = known, (ALL if unknown else known)
    if negate:
        return Approx(complement(over), complement(under))
    return Approx(under, over)


def _resolve(policy: Policy, name: str, seen: set[str]) -> tuple[list[tuple[int, int]], bool]:
    if name in policy.addresses:
        kind, value = policy.addresses[name]
        iv = ip_interval(value) if kind in ("ip-netmask", "ip-range") else None
        return ([iv], False) if iv else ([], True)
    if name in policy.address_groups:
        members = policy.address_groups[name]
        if members is None or name in seen:  # dynamic group: membership lives in tags at run time
            return [], True
        out: list[tuple[int, int]] = []
        unknown = False
        for m in members:
            got, unk = _resolve(policy, m, seen | {name})
            out += got
            unknown |= unk
        return out, unknown
    iv = ip_interval(name)  # a literal IP, CIDR or range in the rule
    return ([iv], False) if iv else ([], True)


# ---------------------------------------------------------------------------- zones


def zone_pairs_cover(a: Rule, b: Rule) -> bool:
    """Every (from, to) zone pair rule b can match, rule a matches too."""
    af, at = _zones(a)
    bf, bt = _zones(b)
    if a.rule_type == "intrazone" or b.rule_type == "intrazone":
        if a.rule_type == "interzone":
            return False  # b matches same-zone pairs only, a never does
        if b.rule_type != "intrazone":
            return a.rule_type == "universal" and _sub(bf, af) and _sub(bt, at)  # (a intrazone: not proven)
        # b intrazone: pairs (z, z) for z in bf; a must match (z, z)
        if a.rule_type == "intrazone":
            return _sub(bf, af)
        return _sub(bf, af) and _sub(bf, at)
    if a.rule_type == "interzone" and b.rule_type != "interzone":
        if bf is None or bt is None or bf & bt:
            return False  # b may match a same-zone pair, a never does
    return _sub(bf, af) and _sub(bt, at)


def _zones(r: Rule) -> tuple[frozenset[str] | None, frozenset[str] | None]:
    f = None if "any" in r.from_zones else frozenset(r.from_zones)
    t = None if "any" in r.to_zones else frozenset(r.to_zones)
    if r.rule_type == "intrazone":
        t = f
    return f, t


def _sub(small: frozenset[str] | None, big: frozenset[str] | None) -> bool:
    return big is None or (small is not None and small <= big)


def zone_matches(r: Rule, src_zone: str, dst_zone: str) -> bool:
    f, t = _zones(r)
    if r.rule_type == "intrazone" and src_zone != dst_zone:
        return False
    if r.rule_type == "interzone" and src_zone == dst_zone:
        return False
    return (f is None or src_zone in f) and (t is None or dst_zone in t)


def apps_cover(a: Rule, b: Rule) -> bool:
    if "any" in a.applications:
        return True
    return "any" not in b.applications and set(b.applications) <= set(a.applications)


def services_cover(policy: Policy, a: Rule, b: Rule) -> bool:
    sa, sb = services(policy, a.services), services(policy, b.services)
    if sa.app_default or sb.app_default:
        # the same application-default ports only when a's applications cover b's
        return (sa.app_default and sb.app_default and apps_cover(a, b)) or (not sa.app_default and
                                                                              sa.under == ANY_PORTS)
    return ports_contain(sa.under, sb.over)


def covers(policy: Policy, a: Rule, b: Rule) -> bool:
    """Proven: every session rule b matches, rule a matches too (the most selective field first)."""
    dst_a = addresses(policy, a.destinations, a.destination_negate)
    dst_b = addresses(policy, b.destinations, b.destination_negate)
    if not contains(dst_a.under, dst_b.over):
        return False
    if not zone_pairs_cover(a, b) or not apps_cover(a, b) or not services_cover(policy, a, b):
        return False
    src_a, src_b = addresses(policy, a.sources, a.source_negate), addresses(policy, b.sources, b.source_negate)
    return contains(src_a.under, src_b.over)


# ---------------------------------------------------------------------------- findings


class Effect(enum.Enum):
    SHADOWED = "shadowed"  # an earlier rule with another action takes all its traffic
    REDUNDANT = "redundant"  # an earlier rule with the same action takes all its traffic
    NARROWED = "narrowed"  # an earlier foreign rule with another action surely takes part of it


@dataclass(frozen=True, slots=True)
class Finding:
    effect: Effect
    rule: str
    position: int
    by: str  # the earlier rule
    by_position: int
    by_foreign: bool
    action: str
    by_action: str

    @property
    def overridden(self) -> bool:
        """A foreign rule decides all of this bmlb rule's traffic otherwise."""
        return self.by_foreign and self.effect is Effect.SHADOWED

    def __str__(self) -> str:
        who = "foreign rule" if self.by_foreign else "rule"
        return (f"{self.rule} (#{self.position}, {self.action}) is {self.effect.value} by {who} {self.by} "
                f"(#{self.by_position}, {self.by_action})")


def _verdict(action: str) -> str:
    return "allow" if action == "allow" else "deny"  # deny, drop, reset-*: all refuse the session


def overlaps(policy: Policy, a: Rule, b: Rule) -> bool:
    """Proven: some session matches both rules (universal rules only; else not proven)."""
    if a.rule_type != "universal" or b.rule_type != "universal":
        return False
    (af, at), (bf, bt) = _zones(a), _zones(b)
    for x, y in ((af, bf), (at, bt)):
        if x is not None and y is not None and not x & y:
            return False
    if "any" not in a.applications and "any" not in b.applications and not set(a.applications) & set(b.applications):
        return False
    sa, sb = services(policy, a.services), services(policy, b.services)
    if sa.app_default or sb.app_default:
        if not ((sa.app_default and sb.app_default) or sa.under == ANY_PORTS or sb.under == ANY_PORTS):
            return False
    elif not ports_intersect(sa.under, sb.under):
        return False
    return all(intersect(addresses(policy, getattr(a, f), getattr(a, f"{n}_negate")).under,
                         addresses(policy, getattr(b, f), getattr(b, f"{n}_negate")).under)
               for f, n in (("sources", "source"), ("destinations", "destination")))


def findings(policy: Policy) -> list[Finding]:
    """For each enabled managed rule: the first earlier enabled rule that covers it, else every
    earlier foreign rule with another action that surely takes part of its traffic."""
    out = []
    rules = [r for r in policy.security if not r.disabled]
    for i, b in enumerate(rules):
        if not b.managed:
            continue
        narrowed = []
        for a in rules[:i]:
            other = _verdict(a.action) != _verdict(b.action)
            if covers(policy, a, b):
                effect = Effect.SHADOWED if other else Effect.REDUNDANT
                out.append(Finding(effect, b.name, b.position, a.name, a.position, not a.managed, b.action,
                                   a.action))
                break
            if other and not a.managed and overlaps(policy, a, b):
                narrowed.append(Finding(Effect.NARROWED, b.name, b.position, a.name, a.position, True, b.action,
                                        a.action))
        else:
            out += narrowed
    return out


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a managed rule sits among foreign ones."""

    rule: str
    position: int
    foreign_above: int
    foreign_below: int
    total: int


def placements(policy: Policy) -> list[Placement]:
    rules = policy.security
    out = []
    for i, r in enumerate(rules):
        if r.managed:
            above = sum(1 for x in rules[:i] if not x.managed)
            below = sum(1 for x in rules[i + 1:] if not x.managed)
            out.append(Placement(r.name, r.position, above, below, len(rules)))
    return out
