"""An incremental plan: desired vs the desired state of the last verified view, written against
what the device holds of the changed objects only (pure, apart from the one read it asks for).

    keys = touched(view, current)           # objects whose desired value changed, came or went
    if worth_reading(to_read(keys, view, current), view):
        xpaths = read_xpaths(to_read(keys, view, current), config)  # a `get` per READ_CHUNK entries
    plan, raw = plan(desired, current, view, keys, found, config)

Every entry read must be where the view says (ours, foreign or absent); anything else means
the device changed underneath and `Stale` is raised: the caller reads everything instead. So
is a change that changes which desired names a foreign object blocks (then untouched objects
referring to them would change too). A change to most of what the view holds is not worth
reading entry by entry (`worth_reading`): one read per container costs no more.
The plan has the full diff's shape and order (firewall/diff.py); skipped objects and drift
still standing on untouched objects are carried forward from the view. Rule moves are planned
on the view's rulebase order (exact while no job ran since the view, which the caller checks).
The read is one `get` per READ_CHUNK entries, each an XPath union of `entry[@name=.. or @name=..]`
paths, both forms pan-os-python sends (refresh of several children; delete_similar); a union
across containers is exercised on the simulator only.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping

from firewall import elements, order, snapshot, xpaths
from firewall.config import SyncConfig
from firewall.diff import Op, OpType, Plan, Skipped, changes, conflict, order_digest, order_key, want_of
from firewall.elements import Kind, Obj
from firewall.model import DesiredFirewall
from firewall.snapshot import Key
from firewall.view import RULE_KINDS, View, rule_orders

READ_CHUNK = 200  # entries per `get` of changed entries (a burst of 5,000 new objects: 25 of them)


class Stale(Exception):
    """The view cannot be used for this change: read everything."""


def touched(view: View, current: Mapping[Key, Obj]) -> list[Key]:
    """Keys whose desired object changed, appeared or disappeared since the view."""
    before = view.desired
    out = [k for k, obj in current.items() if (old := before.get(k)) is not obj and old != obj]
    out += [k for k in before if k not in current]
    return sorted(out, key=lambda k: (k[0].rank, k[1]))


def _device_name(key: Key) -> str:
    return elements.split_route_id(key[1])[2] if key[0] == Kind.ROUTE else key[1]


def to_read(keys: list[Key], view: View, current: Mapping[Key, Obj]) -> list[Key]:
    """The touched keys whose device entry matters: desired ones, and owned ones to delete."""
    return [k for k in keys if k in current or k in view.owned]


def worth_reading(keys: list[Key], view: View) -> bool:
    """Is reading these entries cheaper than reading every container? Not when they are most of
    what the view holds (then nearly every entry would be read anyway, in more requests)."""
    return len(keys) <= max(READ_CHUNK, len(view.owned) // 2)


def read_xpaths(keys: list[Key], config: SyncConfig) -> list[str]:
    """The xpaths of one `get` per READ_CHUNK keys (see read_xpath); raises Stale like it."""
    _distinct(keys)
    return [x for i in range(0, len(keys), READ_CHUNK) if (x := read_xpath(keys[i:i + READ_CHUNK], config))]


def _distinct(keys: list[Key]) -> None:
    if len({_device_name(k) for k in keys}) != len(keys):
        raise Stale("two changed objects share a name")


def read_xpath(keys: list[Key], config: SyncConfig) -> str | None:
    """One xpath selecting every entry in `keys` (a union of one path per container); None when
    there is nothing to read. Raises Stale when two keys share a device name (the reply could
    not tell their entries apart)."""
    if not keys:
        return None
    _distinct(keys)
    by_parent: dict[str, list[str]] = {}
    try:
        for kind, name in keys:
            parent = xpaths.parent(config, kind, name)
            by_parent.setdefault(parent, []).append(xpaths.literal(_device_name((kind, name))))
    except ValueError as exc:
        raise Stale(str(exc)) from None
    return " | ".join(f"{parent}/entry[{' or '.join(f'@name={n}' for n in names)}]"
                      for parent, names in by_parent.items())


def entries(*results: ET.Element | None) -> dict[str, ET.Element]:
    """The entries `get`s of read_xpath returned, by name."""
    return {e.get("name", ""): e for result in results for e in (result if result is not None else ())
            if e.tag == "entry"}


def plan(desired: DesiredFirewall, current: Mapping[Key, Obj], view: View, keys: list[Key],
         found: Mapping[str, ET.Element], config: SyncConfig) -> tuple[Plan, dict[Key, ET.Element]]:
    """The plan for the touched `keys`, given the entries `found` on the device (by name).
    Returns it with our entries as read (for `edit`, which keeps children bmlb does not model)."""
    touched_set = set(keys)
    # Owned keys gained and lost by this plan: view.owned is not copied (50,000 keys at 10,000 Services).
    gained: set[Key] = set()
    lost: set[Key] = set()
    raw: dict[Key, ET.Element] = {}
    have: dict[Key, Obj] = {}
    for key in to_read(keys, view, current):
        entry = found.get(_device_name(key))
        vr = elements.split_route_id(key[1])[0] if key[0] == Kind.ROUTE else ""
        obj = snapshot.ours(key[0], key[1], vr, entry, config)[0] if entry is not None else None
        state = "absent" if entry is None else ("ours" if obj is not None else "foreign")
        expected = "ours" if key in view.owned else "foreign" if key in view.foreign else "absent"
        if state != expected:
            raise Stale(f"{key[0].value} {key[1]} is {state} on the device, the view says {expected}")
        if obj is not None and entry is not None:
            have[key] = obj
            raw[key] = entry

    # what a foreign name or route problem blocks (the full diff's first pass), then referrers
    clashes = {k for k in view.clashes if k not in touched_set}
    skipped: list[Skipped] = [s for s in view.skipped if (s.kind, s.name) not in touched_set]
    for key in keys:
        if key in current and (reason := conflict(key, view.foreign, view.routers, config)) is not None:
            clashes.add(key)
            skipped.append(Skipped(key[0], key[1], reason))
    if {name for _, name in clashes} != {name for _, name in view.clashes}:
        raise Stale("the names foreign objects block changed")
    clashing = {name for _, name in clashes}
    blocked = set(clashes)
    for key in keys:
        obj = current.get(key)
        if obj is None or key in blocked:
            continue
        bad = sorted(elements.references(obj) & clashing)
        if bad:
            skipped.append(Skipped(key[0], key[1], f"refers to {', '.join(bad)}, which is foreign"))
            blocked.add(key)
    blocked |= {(s.kind, s.name) for s in skipped}

    # A copy only when something is written into it: a sync that changed nothing keeps the view's.
    baseline: dict[Key, int] = dict(view.baseline) if keys else {}
    upserts: dict[Kind, list[Op]] = {k: [] for k in Kind}
    deletes: dict[Kind, list[Op]] = {k: [] for k in Kind}
    for key in keys:
        kind, name = key
        obj = current.get(key)
        if obj is None:
            baseline.pop(key, None)
            if key in have:
                deletes[kind].append(Op(OpType.DELETE, kind, name))
                lost.add(key)
                gained.discard(key)
            continue
        if key in blocked or (kind == Kind.TAG and key in view.foreign):
            baseline.pop(key, None)
            continue
        want = want_of(obj, config.ownership_tag)
        baseline[key] = elements.fingerprint(want)
        now = have.get(key)
        if now is None:
            upserts[kind].append(Op(OpType.CREATE, kind, name, new=want))
            gained.add(key)
            lost.discard(key)
        elif now != want:
            upserts[kind].append(Op(OpType.UPDATE, kind, name, new=want, changes=changes(now, want)))

    orders = view.rule_order if current is view.desired else rule_orders(desired)
    moves: dict[Kind, list[Op]] = {}
    moved: set[Kind] = set()
    for kind in RULE_KINDS:
        if upserts[kind]:
            rank = {name: i for i, name in enumerate(orders[kind])}
            upserts[kind].sort(key=lambda op: rank.get(op.name, len(rank)))
        created = [op.name for op in upserts[kind] if op.type == OpType.CREATE]
        gone = {op.name for op in deletes[kind]}
        if not (created or gone or orders[kind] != view.rule_order.get(kind)):
            moves[kind] = []
            continue
        moved.add(kind)
        mine = {n for k, n in view.owned if k is kind and k not in lost} | {n for k, n in gained if k is kind}
        mine -= {n for k, n in blocked if k is kind}
        ours = tuple(r for r in orders[kind] if r in mine)
        anchor = config.anchor_for(kind.value)
        if not keys and not baseline:
            baseline.update(view.baseline)
        baseline[order_key(kind)] = order_digest(kind, ours, anchor)
        current_order = [r for r in view.order.get(kind, ()) if r not in gone] + created
        try:
            if order.in_place(current_order, ours, anchor, created):
                found_moves: tuple[order.Move, ...] = ()
            else:
                found_moves = order.moves(current_order, ours, anchor, frozenset(created))
        except (order.AnchorMissing, ValueError) as exc:
            raise Stale(str(exc)) from None  # the full diff says it properly
        moves[kind] = [Op(OpType.MOVE, kind, m.rule, move=m) for m in found_moves]

    drift = tuple(d for d in view.drift if (d.kind, d.name) not in touched_set
                  and not (d.field == "position" and d.kind in moved))
    ops = [*upserts[Kind.TAG], *upserts[Kind.ADDRESS], *upserts[Kind.SERVICE], *upserts[Kind.ROUTE],
           *deletes[Kind.SECURITY], *deletes[Kind.NAT], *upserts[Kind.SECURITY], *upserts[Kind.NAT],
           *moves[Kind.SECURITY], *moves[Kind.NAT],
           *deletes[Kind.ROUTE], *deletes[Kind.SERVICE], *deletes[Kind.ADDRESS], *deletes[Kind.TAG]]
    skipped.sort(key=lambda s: (s.kind.rank, s.name))
    return Plan(tuple(ops), drift, tuple(skipped), baseline if keys or moved else view.baseline), raw
