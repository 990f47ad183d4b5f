"""Plan operations → config write requests (pure): what to send, in order, one per operation."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from firewall import elements, xmltext, xpaths
from firewall.config import SyncConfig
from firewall.diff import Op, OpType
from firewall.elements import Kind
from firewall.snapshot import Key


@dataclass(frozen=True, slots=True)
class Write:
    action: str  # set | edit | delete | move
    xpath: str
    op: Op
    element: ET.Element | None = None  # given; else built from the op when its body is needed
    where: str | None = None
    dst: str | None = None
    raw: ET.Element | None = None  # an update's entry as read: what bmlb does not model is kept
    # Slots, not an instance dict: a full sync holds one Write per change (50,000) until it ends.
    _body: str | None = field(default=None, compare=False, repr=False)

    def tree(self) -> ET.Element | None:
        """The element to send. Built on demand and not kept: 50,000 writes held as XML trees
        until the last batch was sent made the first sync's peak of memory."""
        if self.element is not None or self.op.new is None:
            return self.element
        if self.action == "set":
            return elements.to_element(self.op.new)
        if self.action == "edit":
            return elements.merged(self.op.new, self.raw)
        return None

    @property
    def body(self) -> str:
        """The element as sent (serialised once: batching measures it, the request carries it)."""
        body = self._body
        if body is None:
            tree = self.tree()
            body = xmltext.to_text(tree) if tree is not None else ""
            object.__setattr__(self, "_body", body)
        return body

    @property
    def holds_body(self) -> bool:
        return self._body is not None

    def size(self) -> int:
        return len(self.xpath) + len(self.body) + 64

    def sent(self) -> None:
        """Forget the body once the device has it: the plan's writes live until the last batch is
        answered, and 30,000 bodies kept to then were ~30 MB of a big sync's peak."""
        object.__setattr__(self, "_body", None)


def render(ops: Sequence[Op], config: SyncConfig, raw: Mapping[Key, ET.Element]) -> list[Write]:
    parents: dict[Kind, str] = {}
    return [render_one(op, config, raw, parents) for op in ops]


def render_one(op: Op, config: SyncConfig, raw: Mapping[Key, ET.Element], parents: dict[Kind, str]) -> Write:
    """One operation's write. `parents`: the container xpaths made so far, one text per kind and
    not per write (routes: per router and family), kept by the caller."""
    if op.type == OpType.CREATE:
        assert op.new is not None
        parent = parents.get(op.kind)
        if parent is None:
            parent = xpaths.parent(config, op.kind, op.name)
            if op.kind != Kind.ROUTE:
                parents[op.kind] = parent
        return Write("set", parent, op)
    if op.type == OpType.UPDATE:
        assert op.new is not None
        return Write("edit", xpaths.entry(config, op.kind, op.name), op, raw=raw.get((op.kind, op.name)))
    if op.type == OpType.DELETE:
        return Write("delete", xpaths.entry(config, op.kind, op.name), op)
    assert op.move is not None
    return Write("move", xpaths.entry(config, op.kind, op.name), op, where=op.move.where, dst=op.move.dst)


def batches(writes: Iterable[Write], *, max_ops: int, max_bytes: int) -> Iterator[list[Write]]:
    batch: list[Write] = []
    size = 0
    for w in writes:
        if batch and (len(batch) >= max_ops or size + w.size() > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(w)
        size += w.size()
    if batch:
        yield batch
