"""One owner per firewall name: when two objects' rules would carry the same name, the oldest
object keeps it (controller/core/rules.py `build_firewall` applies this to NAT and security rules)."""

from __future__ import annotations

from collections import defaultdict
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
    claims: dict[str, set[ObjectRef]] = defaultdict(set)
    for _, rule in entries:
        claims[rule.name].add(_ref_of(rule.owner))
    losers: set[tuple[str, ObjectRef]] = set()
    for name, refs in claims.items():
        if len(refs) < 2:
            continue
        ordered = sorted(refs, key=lambda r: (created.get(r, ""), r))
        for ref in ordered[1:]:
            losers.add((name, ref))
            problems.append(Problem(ref, "metadata.name", Code.NameCollision,
                                    f"its firewall name {name!r} is already held by an older object; "
                                    "nothing of it is put on the firewall under that name"))
            owned[ref] = [n for n in owned.get(ref, []) if n != name]
    return [(k, r) for k, r in entries if (r.name, _ref_of(r.owner)) not in losers]


def _ref_of(owner: Owner) -> ObjectRef:
    return ObjectRef(owner.kind, owner.namespace, owner.name)
