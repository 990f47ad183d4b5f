"""desired × owned actual → Plan: typed operations in dependency order (pure).

Order of a plan: tags, then addresses, services and static routes are created or updated; our
rules are deleted, created or updated, then moved; finally routes, addresses/services and tags
are deleted. Routes reference none of our objects; they ride in the same batches and commit.

Drift vs change: `baseline` maps each object's key (and `order_key(kind)`) to the fingerprint of
what we last applied. A difference on an object whose desired digest still equals its baseline is drift
(someone changed the device): restored in ENFORCE mode, only reported in REPORT mode. Anything
else (a new desired value, or no baseline) is a change and always applied.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from firewall import elements, names, order
from firewall.config import DriftMode, SyncConfig
from firewall.elements import Kind, Obj
from firewall.model import DesiredFirewall, Tag
from firewall.snapshot import Key, Snapshot

# An object's (kind, name) key, or order_key(kind), -> the fingerprint of what was last applied. The
# keys are the desired mapping's own tuples where the view keeps one (firewall/view.py): not text.
Baseline = Mapping[Key, int]
ORDER = ""  # the name no object has: (kind, ORDER) keys the digest of a rulebase's order


class OpType(enum.Enum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    MOVE = "move"


@dataclass(frozen=True, slots=True)
class Change:
    field: str
    actual: str
    desired: str


@dataclass(frozen=True, slots=True)
class Op:
    type: OpType
    kind: Kind
    name: str
    new: Obj | None = None
    changes: tuple[Change, ...] = ()
    move: order.Move | None = None
    drift: bool = False

    def __str__(self) -> str:
        if self.move is not None:
            return f"move {self.kind.value} {self.name} {self.move.where} {self.move.dst or ''}".rstrip()
        return f"{self.type.value} {self.kind.value} {self.name}"


@dataclass(frozen=True, slots=True)
class Drift:
    kind: Kind
    name: str
    field: str  # an attribute, "missing", "unexpected" or "position"
    actual: str
    desired: str
    restored: bool


@dataclass(frozen=True, slots=True)
class Skipped:
    kind: Kind
    name: str
    reason: str


@dataclass(frozen=True)
class Plan:
    ops: tuple[Op, ...] = ()
    drift: tuple[Drift, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    baseline: Baseline = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.ops


def key_text(kind: Kind, name: str) -> str:
    return f"{kind.value}/{name}"


def order_key(kind: Kind) -> Key:
    return (kind, ORDER)


def order_digest(kind: Kind, ours: tuple[str, ...], anchor: object) -> int:
    return int.from_bytes(hashlib.sha256(repr((kind.value, anchor, ours)).encode()).digest()[:8], "big")


def wanted(desired: DesiredFirewall, config: SyncConfig) -> dict[Key, Obj]:
    """The desired objects, each taggable one carrying the ownership tag, plus that tag; not made
    canonical here (a full plan compares each through `elements.canonical` as it goes: a copy of
    every object of 50,000 at once was a sync's peak memory), and written as they are, which
    writes the same entry (members sorted and unique, no owner: `elements.to_element`)."""
    tag = config.ownership_tag
    out: dict[Key, Obj] = {(Kind.TAG, tag): Tag(tag)}
    groups: tuple[tuple[Obj, ...], ...] = (desired.tags, desired.addresses, desired.services,
                                           desired.security_rules, desired.nat_rules)
    for group in groups:
        for obj in group:
            out[(elements.kind_of(obj), obj.name)] = tagged(obj, tag)
    return out


def all_wanted(desired: DesiredFirewall, config: SyncConfig) -> dict[Key, Obj]:
    """wanted() and wanted_routes(), in one dict."""
    out = wanted(desired, config)
    out.update(wanted_routes(desired))
    return out


def wanted_keyed(keyed: Mapping[Key, Obj], ownership_tag: str) -> dict[Key, Obj]:
    """all_wanted() of the desired state that `keyed` holds by key (firewall/view.py by_key), under
    its own key tuples."""
    return {key: elements.canonical(obj) if key[0] is Kind.ROUTE else tagged(obj, ownership_tag)
            for key, obj in keyed.items()}


def tagged(obj: Obj, ownership_tag: str) -> Obj:
    """The object carrying the ownership tag if taggable (itself when it does)."""
    if elements.kind_of(obj).taggable and ownership_tag not in obj.tags:  # type: ignore[union-attr]
        obj = dataclasses.replace(obj, tags=(*obj.tags, ownership_tag))  # type: ignore[union-attr,arg-type]
    return obj


def want_of(obj: Obj, ownership_tag: str) -> Obj:
    """One desired object as a plan compares it: canonical, carrying the ownership tag if taggable."""
    return elements.canonical(tagged(obj, ownership_tag))


def wanted_routes(desired: DesiredFirewall) -> dict[Key, Obj]:
    """The desired static routes, canonical, keyed by router/family/name (elements.route_id)."""
    return {(Kind.ROUTE, elements.route_key_name(r)): elements.canonical(r) for r in desired.static_routes}


def rule_order(desired: DesiredFirewall, kind: Kind) -> tuple[str, ...]:
    rules = desired.security_rules if kind == Kind.SECURITY else desired.nat_rules
    return tuple(dict.fromkeys(r.name for r in rules))


def changes(actual: Obj, desired: Obj) -> tuple[Change, ...]:
    out = []
    for name in elements.compared_fields(desired):
        a, d = getattr(actual, name), getattr(desired, name)
        if a != d:
            out.append(Change(name, _show(a), _show(d)))
    return tuple(out)


def _show(value: object) -> str:
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    if isinstance(value, enum.Enum):
        return str(value.value)
    return "" if value is None else str(value)


FOREIGN_NAME = "a foreign object (without the ownership tag) has this name: bmlb leaves it alone"


def conflict(key: Key, foreign: frozenset[Key], routers: frozenset[str], config: SyncConfig) -> str | None:
    """Why a desired object cannot be managed at all (a foreign object holds its name, a route
    bmlb cannot own or place), None when it can."""
    kind = key[0]
    if key in foreign and kind.taggable:
        return FOREIGN_NAME
    if kind == Kind.ROUTE:
        return route_problem(key, foreign, routers, config)
    return None


def route_problem(key: Key, foreign: frozenset[Key], routers: frozenset[str], config: SyncConfig) -> str | None:
    """Why a desired route cannot be managed, None when it can."""
    virtual_router, _, name = elements.split_route_id(key[1])
    if config.panorama:
        return "static routes on Panorama live in templates: bmlb manages them on firewalls only"
    if key in foreign:
        return "a foreign route (not named with the owned prefix) has this name: bmlb leaves it alone"
    if not config.owns_name(name):
        return (f"not named with the owned prefix {config.owned_prefix!r}: bmlb could not tell it "
                "from a foreign route")
    if not names.is_valid_name(virtual_router) or virtual_router not in routers:
        return f"virtual router {virtual_router!r} does not exist on the firewall"
    return None


def diff(desired: DesiredFirewall, actual: Snapshot, config: SyncConfig, *,
         baseline: Baseline | None = None, keyed: Mapping[Key, Obj] | None = None) -> Plan:
    """Raises order.AnchorMissing when a before/after anchor rule is not in a rulebase we change.
    `keyed`: `desired` by key as firewall/view.py's by_key makes it, when the caller has it: the
    plan and its baseline then use its key tuples, not 50,000 of their own."""
    return _Differ(desired, actual, config, baseline, keyed).plan()


class _Differ:
    def __init__(self, desired: DesiredFirewall, actual: Snapshot, config: SyncConfig,
                 baseline: Baseline | None, keyed: Mapping[Key, Obj] | None = None) -> None:
        self.desired = desired
        self.actual = actual
        self.config = config
        self.baseline = baseline
        self.want = wanted_keyed(keyed, config.ownership_tag) if keyed is not None else all_wanted(desired, config)
        self.ops: list[Op] = []
        self.drift: list[Drift] = []
        self.skipped: list[Skipped] = []
        self.new_baseline: dict[Key, int] = {}

    def _is_drift(self, key: Key, digest: int) -> bool:
        if self.baseline is None:
            return False
        return self.baseline.get(key) == digest

    def _report(self, drift: list[Drift]) -> bool:
        """Record drift; True when it is to be restored."""
        enforce = self.config.drift == DriftMode.ENFORCE
        self.drift.extend(dataclasses.replace(d, restored=enforce) for d in drift)
        return enforce

    def _conflicts(self) -> set[Key]:
        blocked: set[Key] = set()
        for key in sorted(self.want, key=lambda k: (k[0].rank, k[1])):
            reason = conflict(key, self.actual.foreign, self.actual.routers, self.config)
            if reason is not None:
                self.skipped.append(Skipped(key[0], key[1], reason))
                blocked.add(key)
        clashing = {name for kind, name in blocked}
        for key, obj in self.want.items():
            bad = sorted(elements.references(obj) & clashing)
            if key not in blocked and bad:
                self.skipped.append(Skipped(key[0], key[1], f"refers to {', '.join(bad)}, which is foreign"))
                blocked.add(key)
        return blocked

    def plan(self) -> Plan:
        blocked = self._conflicts()
        upserts: dict[Kind, list[Op]] = {k: [] for k in Kind}
        deletes: dict[Kind, list[Op]] = {k: [] for k in Kind}
        present: dict[Kind, set[str]] = {k: set() for k in Kind}  # ours after the plan
        for key in sorted(self.want, key=lambda k: (k[0].rank, k[1])):
            if key in blocked:
                continue
            kind, name = key
            obj = self.want[key]
            if kind == Kind.TAG and key in self.actual.foreign:
                continue  # a tag we use but do not own: never edited
            have = self.actual.owned.get(key)
            canon = elements.canonical(obj)
            digest = elements.fingerprint(canon)
            drifted = self._is_drift(key, digest)
            if have is None:
                if drifted and not self._report([Drift(kind, name, "missing", "", "present", False)]):
                    self.new_baseline[key] = digest
                    continue
                upserts[kind].append(Op(OpType.CREATE, kind, name, new=obj, drift=drifted))
            elif have != canon:
                diffs = changes(have, canon)
                if drifted and not self._report([Drift(kind, name, c.field, c.actual, c.desired, False)
                                                 for c in diffs]):
                    self.new_baseline[key] = digest
                    present[kind].add(name)
                    continue
                upserts[kind].append(Op(OpType.UPDATE, kind, name, new=obj, changes=diffs, drift=drifted))
            present[kind].add(name)
            self.new_baseline[key] = digest
        for key in sorted(self.actual.owned, key=lambda k: (k[0].rank, k[1])):
            kind, name = key
            if key in self.want:
                continue  # kept, or blocked by a clash and then left as it is
            unexpected = self.baseline is not None and key not in self.baseline
            if unexpected and not self._report([Drift(kind, name, "unexpected", "present", "", False)]):
                present[kind].add(name)
                continue
            deletes[kind].append(Op(OpType.DELETE, kind, name, drift=unexpected))
        for kind in (Kind.SECURITY, Kind.NAT):
            # rules are appended in the order they are created: create them in rulebase order,
            # so that new rules land in place and need no move
            rank = {name: i for i, name in enumerate(rule_order(self.desired, kind))}
            upserts[kind].sort(key=lambda op: rank.get(op.name, len(rank)))
        moves = {kind: self._moves(kind, upserts[kind], deletes[kind], present[kind]) for kind in (Kind.SECURITY,
                                                                                                   Kind.NAT)}
        ops = [*upserts[Kind.TAG], *upserts[Kind.ADDRESS], *upserts[Kind.SERVICE], *upserts[Kind.ROUTE],
               *deletes[Kind.SECURITY], *deletes[Kind.NAT], *upserts[Kind.SECURITY], *upserts[Kind.NAT],
               *moves[Kind.SECURITY], *moves[Kind.NAT],
               *deletes[Kind.ROUTE], *deletes[Kind.SERVICE], *deletes[Kind.ADDRESS], *deletes[Kind.TAG]]
        return Plan(tuple(ops), tuple(self.drift), tuple(self.skipped), self.new_baseline)

    def _moves(self, kind: Kind, upserts: list[Op], deletes: list[Op], present: set[str]) -> list[Op]:
        ours = tuple(r for r in rule_order(self.desired, kind) if r in present)
        anchor = self.config.anchor_for(kind.value)
        digest = order_digest(kind, ours, anchor)
        self.new_baseline[order_key(kind)] = digest
        gone = {op.name for op in deletes}
        created = [op.name for op in upserts if op.type == OpType.CREATE]
        current = [r for r in self.actual.order.get(kind, ()) if r not in gone] + created
        found = () if order.in_place(current, ours, anchor, created) else \
            order.moves(current, ours, anchor, frozenset(created))
        if not found:
            return []
        drifted = (not created and self.baseline is not None
                   and self.baseline.get(order_key(kind)) == digest)
        if drifted and not self._report([Drift(kind, m.rule, "position", "", f"{m.where} {m.dst or ''}".strip(),
                                               False) for m in found]):
            return []
        return [Op(OpType.MOVE, kind, m.rule, move=m, drift=drifted) for m in found]
