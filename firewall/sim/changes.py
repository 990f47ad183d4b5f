"""Config changes as replayable records: what each admin changed since the last commit.

The device applies a `Change` to the candidate and keeps it; a partial commit replays one
admin's changes on a copy of the running config, as PAN-OS applies only that admin's edits.
"""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from firewall.sim import refs, tree

WRITE_ACTIONS = ("set", "edit", "delete", "move", "rename")


@dataclass(slots=True)
class Change:
    admin: str
    action: str  # set | edit | delete | move | rename | touch (an injected marker, no effect)
    xpath: str
    elements: list[ET.Element] = field(default_factory=list)
    where: str = ""
    dst: str | None = None
    newname: str = ""
    id: int = 0

    def copy(self) -> Change:
        return Change(self.admin, self.action, self.xpath, [copy.deepcopy(e) for e in self.elements],
                      self.where, self.dst, self.newname, self.id)


def _text_at(config: ET.Element, change: Change) -> str | None:
    """What `change` can alter, as text: the named entries it sets, or the node at its xpath."""
    hits = [m for m in tree.select(config, change.xpath) if m.attribute is None]
    if len(hits) != 1:
        return None
    node = hits[0].node
    names = [e.get("name") or "" for e in change.elements]
    if change.action == "set" and all(e.tag == "entry" for e in change.elements) and all(names):
        found = [tree.entry_named(node, n) for n in names]
        return "".join("-" if e is None else tree.to_string(e) for e in found)
    return tree.to_string(node)


def apply(config: ET.Element, change: Change) -> int:
    """Apply one change to a tree; returns how many nodes it touched (0: a no-op delete, or a
    set/edit that left the node as it was: no pending change, as the device's config diff would
    show none. Unverified: no public document says whether such a set marks the candidate dirty)."""
    if change.action != "set":
        tree.forget()  # the name index (tree.indexed) follows only a set's appends
        try:
            return _apply(config, change)
        finally:
            tree.forget()
    return _apply(config, change)


def _apply(config: ET.Element, change: Change) -> int:
    if change.action in ("set", "edit"):
        before = _text_at(config, change)
        if change.action == "set":
            tree.set_(config, change.xpath, change.elements)
        else:
            tree.edit(config, change.xpath, change.elements)
        return 0 if before is not None and before == _text_at(config, change) else 1
    if change.action == "delete":
        return tree.delete(config, change.xpath)
    elif change.action == "move":
        tree.move(config, change.xpath, change.where, change.dst)
    elif change.action == "rename":
        old, parent = tree.rename(config, change.xpath, change.newname)
        if parent.tag in (*refs.OBJECT_CONTAINERS, "zone"):
            refs.rename_references(tree.config_of(config), old, change.newname)
    elif change.action != "touch":
        raise tree.ConfigError(17, f"unsupported action {change.action!r}")
    return 1
