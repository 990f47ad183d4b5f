"""The last verified device view: what a clean sync left on the device, so that the next sync
reads and writes only what changed (firewall/delta.py) instead of reading every container.

A view is made from a full read (a Snapshot) plus the operations that sync applied, or from the
previous view plus an incremental sync's operations; only a sync that ended clean (every
operation applied, nothing refused, the commit done or nothing to commit, no other admin's
pending changes) makes one. It holds keys and order, not entries: an incremental sync reads the
entries it is about to write, so the view never has to hold 50,000 XML elements.

Trust: the device's config can change underneath a view only through other admins' candidate
changes (the change journal, read on every sync, shows them) or a commit (every commit, by
anyone, is a job with an id above `marker`; see Device.newer_job). A view older than the
caller's resync period is not used: that sync reads everything, which is when drift is found.
What the marker cannot see (unverified on a device: job ids that restart after a reboot, an HA
peer's config sync without a job on this device) is found by that periodic full read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import chain

from firewall import elements, order
from firewall.config import SyncConfig
from firewall.diff import Baseline, Drift, Op, OpType, Skipped
from firewall.elements import Kind, Obj
from firewall.model import DesiredFirewall, Tag
from firewall.snapshot import Key, Snapshot

RULE_KINDS = (Kind.SECURITY, Kind.NAT)


@dataclass(frozen=True)
class View:
    config: SyncConfig
    owned: frozenset[Key]  # ours on the device (candidate = running: the view is made after a commit)
    foreign: frozenset[Key]  # everyone else's names (and ours that bmlb cannot model)
    order: Mapping[Kind, tuple[str, ...]]  # whole rulebases, foreign rules included
    routers: frozenset[str]
    desired: Mapping[Key, Obj]  # the desired objects the view was made for, as the caller gave them
    rule_order: Mapping[Kind, tuple[str, ...]]  # their rule order
    baseline: Baseline
    marker: int  # the highest job id on the device when the view's state was read
    read_at: float  # time.monotonic() of the full read the view descends from
    skipped: tuple[Skipped, ...] = ()  # still standing: carried forward while their key is untouched
    drift: tuple[Drift, ...] = ()  # reported and not restored (report mode): likewise
    clashes: frozenset[Key] = field(default_factory=frozenset)  # desired keys a foreign name or route blocks
    groups: tuple[tuple[Obj, ...], ...] = ()  # the desired state's groups `desired` was made from (see current)


def groups_of(desired: DesiredFirewall) -> tuple[tuple[Obj, ...], ...]:
    return (desired.tags, desired.addresses, desired.services, desired.security_rules, desired.nat_rules,
            desired.static_routes)


def current(desired: DesiredFirewall, config: SyncConfig, view: View | None) -> Mapping[Key, Obj]:
    """by_key(desired, config); the view's own mapping when it was made from equal groups (a sync
    that changes nothing made 50,000 keys again at 10,000 Services, beside the view's)."""
    if view is not None and view.config == config and view.groups == groups_of(desired):
        return view.desired
    return by_key(desired, config)


def by_key(desired: DesiredFirewall, config: SyncConfig) -> dict[Key, Obj]:
    """Every desired object by key, as given (not canonical); the ownership tag is always there."""
    out: dict[Key, Obj] = {(Kind.TAG, config.ownership_tag): Tag(config.ownership_tag)}
    for group in (desired.tags, desired.addresses, desired.services, desired.security_rules, desired.nat_rules):
        for obj in group:
            out[(elements.KIND_OF[type(obj)], obj.name)] = obj
    for route in desired.static_routes:
        out[(Kind.ROUTE, elements.route_key_name(route))] = route
    return out


def rule_orders(desired: DesiredFirewall) -> dict[Kind, tuple[str, ...]]:
    return {Kind.SECURITY: tuple(dict.fromkeys(r.name for r in desired.security_rules)),
            Kind.NAT: tuple(dict.fromkeys(r.name for r in desired.nat_rules))}


def applied(owned: Iterable[Key], rulebases: Mapping[Kind, tuple[str, ...]],
            ops: Iterable[Op]) -> tuple[frozenset[Key], dict[Kind, tuple[str, ...]]]:
    """Owned keys and rule order after `ops` were applied, as the device does it (a created rule
    is appended at the bottom)."""
    ops = list(ops)
    if not ops:  # a sync that changed nothing: the same keys and lists, not copies
        return frozenset(owned), {kind: tuple(rulebases.get(kind, ())) for kind in RULE_KINDS}
    # Keys gained and lost, then one new set: not a copy of the 50,000 keys to edit and a second to freeze.
    gained: set[Key] = set()
    lost: set[Key] = set()
    lists = {kind: list(rulebases.get(kind, ())) for kind in RULE_KINDS}
    present = {kind: set(names) for kind, names in lists.items()}
    gone: dict[Kind, set[str]] = {kind: set() for kind in RULE_KINDS}  # deleted, still in lists

    def flush(kind: Kind) -> None:  # deletions leave the list in one pass, not one list scan each
        if gone[kind]:
            lists[kind] = [n for n in lists[kind] if n not in gone[kind]]
            gone[kind] = set()

    for op in ops:
        key = (op.kind, op.name)
        if op.type == OpType.CREATE:
            gained.add(key)
            lost.discard(key)
            if op.kind.is_rule and op.name not in present[op.kind]:
                if op.name in gone[op.kind]:
                    flush(op.kind)
                lists[op.kind].append(op.name)
                present[op.kind].add(op.name)
        elif op.type == OpType.DELETE:
            lost.add(key)
            gained.discard(key)
            if op.kind.is_rule and op.name in present[op.kind]:
                gone[op.kind].add(op.name)
                present[op.kind].discard(op.name)
        elif op.type == OpType.MOVE and op.move is not None:
            flush(op.kind)
            lists[op.kind] = order.apply(lists[op.kind], op.move)
    for kind in RULE_KINDS:
        flush(kind)
    keys = frozenset(chain((k for k in owned if k not in lost), gained)) if lost or gained else frozenset(owned)
    return keys, {kind: tuple(names) for kind, names in lists.items()}


def clashes_of(skipped: Iterable[Skipped], foreign: frozenset[Key]) -> frozenset[Key]:
    """The skipped keys blocked by a foreign name or a route problem (not by a reference)."""
    return frozenset((s.kind, s.name) for s in skipped
                     if s.kind == Kind.ROUTE or ((s.kind, s.name) in foreign and s.kind.taggable))


def from_snapshot(snap: Snapshot, owned_keys: Iterable[Key], ops: Iterable[Op], *, config: SyncConfig,
                  desired: Mapping[Key, Obj], rule_order: Mapping[Kind, tuple[str, ...]], baseline: Baseline,
                  skipped: tuple[Skipped, ...], drift: tuple[Drift, ...], marker: int, read_at: float,
                  groups: tuple[tuple[Obj, ...], ...] = ()) -> View:
    """The view after `ops`, from a full read: its foreign names, rulebases and routers, and the keys
    of the entries of ours it held (`owned_keys`; the entries themselves are not needed)."""
    owned, rulebases = applied(owned_keys, snap.order, ops)
    return View(config, desired_keys(owned, desired), snap.foreign, rulebases, snap.routers, desired, rule_order,
                baseline, marker, read_at, skipped, tuple(d for d in drift if not d.restored),
                clashes_of(skipped, snap.foreign), groups)


def desired_keys(owned: frozenset[Key], desired: Mapping[Key, Obj]) -> frozenset[Key]:
    """`owned`, with each key that is also desired as the desired mapping's own tuple: a view keeps
    both, and at 10,000 Services they were 50,000 equal keys held twice. One set made, no
    intermediate ones beside it."""
    return frozenset(chain((k for k in desired if k in owned), (k for k in owned if k not in desired)))
