"""`bmlb plan --against`: the change set bmlb would apply to a firewall, terraform-plan style (pure).

The operations are firewall/diff.py's plan of the compiled desired state against the owned
objects of the firewall's config (read from an export with firewall/reader.read_export, or from
the device read-only): the same diff a sync runs, never a second one. Foreign objects (without the
ownership tag) are never in a change; a desired object whose name a foreign one holds is listed
as skipped, as a sync would skip it.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from controller.core import render
from controller.core.audit_inputs import parse_owner
from firewall import diff, elements
from firewall.config import SyncConfig
from firewall.diff import OpType, Plan
from firewall.elements import Kind, Obj
from firewall.model import DesiredFirewall, Owner
from firewall.snapshot import Key, Snapshot

ACTIONS = {OpType.CREATE: "add", OpType.UPDATE: "change", OpType.DELETE: "delete", OpType.MOVE: "move"}
SYMBOLS = {"add": "+", "change": "~", "delete": "-", "move": ">"}


@dataclass(frozen=True, slots=True)
class Attribute:
    field: str
    before: str
    after: str


@dataclass(frozen=True, slots=True)
class ObjectChange:
    action: str  # add | change | delete | move
    kind: str  # tag | address | service | security | nat | route
    name: str
    owner: str  # "NATRule shop/web", "shared" (tags, services), or "unknown"
    attributes: tuple[Attribute, ...] = ()
    position: str = ""  # for a move: "top", "bottom", "before RULE", "after RULE"


@dataclass(frozen=True, slots=True)
class ChangeSet:
    firewall: str
    against: str
    changes: tuple[ObjectChange, ...]
    skipped: tuple[str, ...] = ()  # desired objects a sync would leave out, and why
    unreadable: tuple[str, ...] = ()  # tagged as ours on the device but not modelled: left alone

    @property
    def empty(self) -> bool:
        return not self.changes

    def counts(self) -> dict[str, int]:
        return {a: sum(1 for c in self.changes if c.action == a) for a in SYMBOLS}


def _owner_text(owner: Owner | None) -> str:
    if owner is None:
        return "unknown"
    return f"{owner.kind} {owner.namespace + '/' if owner.namespace else ''}{owner.name}"


def _owners(desired: DesiredFirewall) -> dict[Key, Owner | None]:
    out: dict[Key, Owner | None] = {}
    for group in (desired.addresses, desired.services, desired.security_rules, desired.nat_rules):
        for obj in group:
            out[(elements.kind_of(obj), obj.name)] = obj.owner
    for route in desired.static_routes:
        out[(Kind.ROUTE, elements.route_key_name(route))] = route.owner
    return out


def _owner(kind: Kind, name: str, owners: dict[Key, Owner | None], actual: Obj | None) -> str:
    if kind in (Kind.TAG, Kind.SERVICE):
        return "shared"
    owner = owners.get((kind, name))
    if owner is None and actual is not None:
        owner = parse_owner(getattr(actual, "description", "") or "")
    return _owner_text(owner)


def _fields(obj: Obj) -> tuple[Attribute, ...]:
    return tuple(Attribute(c.field, "", c.desired) for c in diff.changes(_blank(obj), obj) if c.desired)


def _blank(obj: Obj) -> Obj:
    """An object of obj's type with every compared field empty, so `diff.changes` lists them all."""
    values = {}
    for f in dataclasses.fields(obj):
        values[f.name] = getattr(obj, f.name) if f.name == "name" else None
    return type(obj)(**values)


def change_set(plan: Plan, desired: DesiredFirewall, actual: Snapshot, *, firewall: str,
               against: str) -> ChangeSet:
    owners = _owners(desired)
    out = []
    for op in plan.ops:
        have = actual.owned.get((op.kind, op.name))
        owner = _owner(op.kind, op.name, owners, have)
        action = ACTIONS[op.type]
        if op.type == OpType.CREATE and op.new is not None:
            attrs = _fields(elements.canonical(op.new))  # a plan writes objects as given
        elif op.type == OpType.UPDATE:
            attrs = tuple(Attribute(c.field, c.actual, c.desired) for c in op.changes)
        else:
            attrs = ()
        position = f"{op.move.where} {op.move.dst or ''}".strip() if op.move is not None else ""
        out.append(ObjectChange(action, op.kind.value, op.name, owner, attrs, position))
    skipped = tuple(f"{s.kind.value} {s.name}: {s.reason}" for s in plan.skipped)
    return ChangeSet(firewall, against, tuple(out), skipped, actual.unreadable)


def plan_changes(desired: DesiredFirewall, actual: Snapshot, config: SyncConfig, *, firewall: str,
                 against: str) -> tuple[ChangeSet, Plan]:
    """Raises firewall.order.AnchorMissing when the placement's anchor rule is not on the device."""
    plan = diff.diff(desired, actual, config, baseline=None)
    return change_set(plan, desired, actual, firewall=firewall, against=against), plan


# ------------------------------------------------------------------------------------ renderings

_token = render._q  # one CLI token, as the desired-state `set` renderer writes it


def text(cs: ChangeSet) -> str:
    lines = [f"bmlb plan for Firewall {cs.firewall} against {cs.against}:", ""]
    for c in cs.changes:
        where = f" {c.position}" if c.position else ""
        lines.append(f"  {SYMBOLS[c.action]} {c.action} {c.kind} {c.name}{where}  (owner: {c.owner})")
        for a in c.attributes:
            if c.action == "add":
                lines.append(f"      {a.field}: {a.after}")
            else:
                lines.append(f"      {a.field}: {a.before!r} -> {a.after!r}")
    if not cs.changes:
        lines.append("  No changes. The firewall matches the manifests.")
    for s in cs.skipped:
        lines.append(f"  ! skipped {s}")
    for u in cs.unreadable:
        lines.append(f"  ! left alone (tagged as bmlb's but not readable): {u}")
    n = cs.counts()
    lines += ["", f"Plan: {n['add']} to add, {n['change']} to change, {n['delete']} to delete, "
                  f"{n['move']} to move."]
    return "\n".join(lines) + "\n"


def as_json(cs: ChangeSet) -> str:
    return json.dumps({**render.plain(cs), "summary": cs.counts()}, indent=2) + "\n"


# PAN-OS CLI keyword of each multi-valued field: `set` adds members to a list, so a changed list
# is deleted first and set again whole.
_LIST_KEYWORDS = {"from_zones": "from", "to_zones": "to", "sources": "source", "destinations": "destination",
                  "destination": "destination", "applications": "application", "services": "service",
                  "tags": "tag"}


def _path(kind: Kind, name: str, *, prefix: str, rulebase: str) -> str:
    if kind == Kind.ROUTE:
        vr, family, route = elements.split_route_id(name)
        return (f"network virtual-router {_token(vr)} routing-table {family} "
                f"static-route {_token(route)}")
    if kind.is_rule:
        return f"{prefix}{rulebase} {kind.value} rules {_token(name)}"
    return f"{prefix}{kind.value} {_token(name)}"


def _set_lines(obj: Obj, *, ownership_tag: str, panorama_group: str | None, rulebase: str) -> list[str]:
    kind = elements.kind_of(obj)
    slot = {Kind.TAG: "tags", Kind.ADDRESS: "addresses", Kind.SERVICE: "services", Kind.SECURITY: "security_rules",
            Kind.NAT: "nat_rules", Kind.ROUTE: "static_routes"}[kind]
    one = DesiredFirewall(ownership_tag=ownership_tag, **{slot: (obj,)})  # type: ignore[arg-type]
    out = render.panos_set(one, target="-", panorama_group=panorama_group, rulebase=rulebase)
    return [line for line in out.splitlines() if line and not line.startswith("#")]


def panos_set(plan: Plan, config: SyncConfig) -> str:
    """Only the commands a sync would run, in its order; raises render.UnsafeValue rather than
    print a token that is not safe on the CLI."""
    group = config.device_group
    prefix = f"device-group {_token(group)} " if group else ""
    rulebase = f"{config.rulebase.value}-rulebase" if group else "rulebase"
    lines = []
    for op in plan.ops:
        path = _path(op.kind, op.name, prefix=prefix, rulebase=rulebase)
        if op.type == OpType.DELETE:
            lines.append(f"delete {path}")
        elif op.type == OpType.MOVE and op.move is not None:
            dst = f" {_token(op.move.dst)}" if op.move.dst else ""
            lines.append(f"move {path} {op.move.where}{dst}")
        elif op.new is not None:
            if op.type == OpType.UPDATE:
                for c in op.changes:
                    keyword = _LIST_KEYWORDS.get(c.field)
                    if keyword:
                        lines.append(f"delete {path} {keyword}")
            lines += _set_lines(elements.canonical(op.new), ownership_tag=config.ownership_tag, panorama_group=group,
                                rulebase=config.rulebase.value)
    return "".join(f"{line}\n" for line in lines)
