"""One owner per firewall name: when two objects' rules would carry the same name, the oldest
object keeps it (controller/core/rules.py `build_firewall` applies this to NAT and security rules)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from controller.core.problems import ObjectRef, Problem
from controller.core.reasons import Code
from firewall.model import Owner

Entry = tuple[tuple[object, ...], Any]


def unique_names(entries: list[Entry], created: Mapping[ObjectRef, str], owned: dict[ObjectRef, list[str]],
                 problems: list[Problem]) -> list[Entry]:
    """One owner per firewall name: the oldest object keeps it, every other claimant gets nothing.

    Names are injective by construction (controller/core/naming.py); this is the guard that makes a
    collision harmless even if that ever failed: the device would otherwise merge two owners' rules.
    """
    first: dict[str, Owner] = {}
    claims: dict[str, set[ObjectRef]] = {}  # only the names claimed by more than one object
    for _, rule in entries:
        owner = rule.owner
        held = first.setdefault(rule.name, owner)
        # One object's rules share their Owner: most names are told apart without a ref made.
        if held is not owner and _ref_of(held) != _ref_of(owner):
            claims.setdefault(rule.name, {_ref_of(held)}).add(_ref_of(owner))
    if not claims:
        return list(entries)
    losers: set[tuple[str, ObjectRef]] = set()
    for name in [n for n in first if n in claims]:  # in the order the names first appear
        ordered = sorted(claims[name], key=lambda r: (created.get(r, ""), r))
        for ref in ordered[1:]:
            losers.add((name, ref))
            problems.append(Problem(ref, "metadata.name", Code.NameCollision,
                                    f"its firewall name {name!r} is already held by an older object; "
                                    "nothing of it is put on the firewall under that name"))
            owned[ref] = [n for n in owned.get(ref, []) if n != name]
    return [(k, r) for k, r in entries if (r.name, _ref_of(r.owner)) not in losers]


def _ref_of(owner: Owner) -> ObjectRef:
    return ObjectRef(owner.kind, owner.namespace, owner.name)
