"""The description of a commit bmlb makes: what changed and whose objects (pure).

`bmlb: +NATRule shop/web gen 4, ~SecurityPolicy shop/frontend gen 2, -nat bmlb-nat_shop_old`
so that the device's own commit history answers "which Kubernetes change did this". Objects
are grouped per owner and change (+ created, ~ updated or moved, - deleted); an object with no
known owner (a delete: the device does not keep owners apart from descriptions) is named itself.
The text is cut to the device's limit, saying how many entries were left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from firewall.diff import Op, OpType
from firewall.model import Owner
from firewall.snapshot import Key

LIMIT = 512  # PAN-OS refuses longer commit descriptions
_SIGN = {OpType.CREATE: "+", OpType.UPDATE: "~", OpType.MOVE: "~", OpType.DELETE: "-"}


def describe(ops: Iterable[Op], owners: Mapping[Key, Owner], *, prefix: str = "bmlb", limit: int = LIMIT) -> str:
    """One line naming each (change, owner) once, owners first in the order met, then the objects
    that have none (shared tags and services, deletes); `owners` are the desired objects' owners."""
    owned: dict[str, None] = {}  # ordered sets
    others: dict[str, None] = {}
    for op in ops:
        owner = owners.get((op.kind, op.name)) if op.type is not OpType.DELETE else None
        if owner is not None:
            where = f"{owner.namespace}/{owner.name}" if owner.namespace else owner.name
            owned[f"{_SIGN[op.type]}{owner.kind} {where} gen {owner.generation}"] = None
        else:
            others[f"{_SIGN[op.type]}{op.kind.value} {op.name}"] = None
    entries = [*owned, *others]
    head = f"{prefix}: "
    if not entries:
        return (head + "pending changes")[:limit]
    return _cut(head, entries, limit)


def _cut(head: str, entries: list[str], limit: int) -> str:
    text = head + ", ".join(entries)
    if len(text) <= limit:
        return text
    # the most entries that fit: each one kept adds more than the shorter tail saves
    best = head + f" (+{len(entries)} more)"
    length = len(head)
    for keep in range(1, len(entries)):
        length += len(entries[keep - 1]) + (2 if keep > 1 else 0)
        tail = f" (+{len(entries) - keep} more)"
        if length + len(tail) > limit:
            break
        best = head + ", ".join(entries[:keep]) + tail
    return best[:limit]
