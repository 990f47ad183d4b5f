"""Writes whose cost does not grow with the config: undo by subtree, references checked locally.

A `set` or `edit` at an xpath changes only the node there (and creates missing ancestors). So:
  - undo keeps a copy of that node (or the list of children of its nearest existing ancestor),
    not of the whole candidate;
  - the reference check covers only the rule and object entries in or around that node, against
    the names of its scope (vsys or device group). A `set` never removes a name, and an `edit`
    taken here replaces one entry under the same name, so no reference elsewhere can dangle.
Anything else (delete, move, rename, container edits, shared, network, several matches) takes the
device's full path: copy the candidate, check the whole tree.
"""

from __future__ import annotations

import copy
import itertools
import uuid as uuidlib
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from typing import Any

from firewall.sim import changes, refs, tree, xpath
from firewall.sim.changes import Change

RULE_KINDS = ("security", "nat")
SCOPE_PARENTS = ("vsys", "device-group")


class NotLocal(Exception):
    """The change needs the full path."""


def _one(config: ET.Element, path: str) -> xpath.Match | None:
    hits = [m for m in tree.select(config, path) if m.attribute is None]
    if len(hits) > 1:
        raise NotLocal
    return hits[0] if hits else None


def _existing_ancestor(config: ET.Element, path: str) -> xpath.Match:
    while True:
        try:
            path, _ = xpath.split_last(path)
        except xpath.XPathError as exc:
            raise NotLocal from exc
        if path in ("", "/"):
            raise NotLocal
        hit = _one(config, path)
        if hit is not None:
            return hit


def _undo(config: ET.Element, change: Change) -> Callable[[], None]:
    """A function that restores what `change` will alter."""
    hit = _one(config, change.xpath)
    if hit is not None:
        node, parent = hit.node, hit.parent
        if parent is None:
            raise NotLocal
        saved = copy.deepcopy(node)
        index = list(parent).index(node)

        def restore() -> None:
            tree.forget()
            parent.remove(parent[index])
            parent.insert(index, saved)

        return restore
    anchor = _existing_ancestor(config, change.xpath).node
    # The missing node is created as a new last child of its nearest existing ancestor (set and
    # edit both append there): undo cuts it off, leaving the children before it as they are
    # (a later write of a batch may have changed them, and undone that itself first).
    count, text = len(anchor), anchor.text

    def restore_new() -> None:
        tree.forget()
        del anchor[count:]
        anchor.text = text

    return restore_new


def _scope_of(chain: tuple[ET.Element, ...]) -> ET.Element:
    for parent, child in itertools.pairwise(chain):
        if parent.tag in SCOPE_PARENTS and child.tag == "entry":
            return child
    raise NotLocal


def _checked_entries(chain: tuple[ET.Element, ...]) -> Iterator[tuple[str, ET.Element]]:
    """(kind, entry) for the rule and object entries the changed node is in or holds:
    kind is "security", "nat" or an object container."""
    for grand, parent, child in zip(chain, chain[1:], chain[2:], strict=False):
        if parent.tag == "rules" and grand.tag in RULE_KINDS and child.tag == "entry":
            yield grand.tag, child
            return
        if parent.tag in refs.OBJECT_CONTAINERS and child.tag == "entry":
            yield parent.tag, child
            return
    node = chain[-1]
    if node.tag == "rules" and len(chain) > 1 and chain[-2].tag in RULE_KINDS:
        yield from ((chain[-2].tag, e) for e in node.findall("entry"))
        return
    for elem in node.iter():
        if elem.tag in RULE_KINDS:
            yield from ((elem.tag, e) for e in elem.findall("rules/entry"))
        elif elem.tag in refs.OBJECT_CONTAINERS:
            yield from ((elem.tag, e) for e in elem.findall("entry"))


def problems_near(config: ET.Element, change: Change) -> frozenset[refs.Problem]:
    """The reference problems of the entries `change` wrote (call after applying it)."""
    hit = _one(config, change.xpath)
    if hit is None:
        raise NotLocal
    scope = _scope_of(hit.chain)
    names = _lookup(scope, tree.config_of(config).find("shared"), zones=_zones_checked(hit.chain))
    found: set[refs.Problem] = set()
    for kind, entry in _checked_entries(hit.chain):
        if _maybe_ipv6_nat(scope, kind, entry):
            raise NotLocal  # NAT66 is judged by sim/network.py over the whole config
        if kind in RULE_KINDS:
            found.update(refs.check_rule(entry, kind, names))
        else:
            found.update(refs.check_object(kind, entry, names))
    return frozenset(found)


def _maybe_ipv6_nat(scope: ET.Element, kind: str, entry: ET.Element) -> bool:
    if kind == "address":
        return ":" in (entry.findtext("ip-netmask") or "")
    if kind != "nat":
        return False
    for node in entry.iterfind("destination-translation/translated-address"):
        raw = (node.text or "").strip()
        container = scope.find("address")
        obj = tree.entry_named(container, raw) if container is not None else None
        if ":" in (obj.findtext("ip-netmask") or "" if obj is not None else raw):
            return True
    return False


def _zones_checked(chain: tuple[ET.Element, ...]) -> bool:
    return any(p.tag == "vsys" for p in chain)


def local(change: Change) -> bool:
    """Whether `change` may take the local path at all (judged from its xpath and action)."""
    if change.action not in ("set", "edit") or "|" in change.xpath:
        return False
    p = change.xpath
    if "/network" in p or "/shared" in p or "/deviceconfig" in p or "/mgt-config" in p:
        return False
    if not ("/vsys/entry[" in p or "/device-group/entry[" in p):
        return False
    # an edit must replace one entry (same name kept), never a container that lists names
    return change.action == "set" or p.rstrip().endswith("]")


class _Named:
    """`name in names` by looking the name up in the containers (no set of every name built)."""

    def __init__(self, holders: list[ET.Element], tags: tuple[str, ...], extra: frozenset[str] = frozenset()):
        self.holders, self.tags, self.extra = holders, tags, extra

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        if name in self.extra:
            return True
        for h in self.holders:
            for t in self.tags:
                container = h.find(t)
                if container is not None and tree.entry_named(container, name) is not None:
                    return True
        return False


def _lookup(scope: ET.Element, shared: ET.Element | None, *, zones: bool) -> Any:
    both = [scope] if shared is None else [scope, shared]
    return refs.Names(addresses=_Named(both, ("address", "address-group")),  # type: ignore[arg-type]
                      services=_Named(both, ("service", "service-group"), refs.BUILTIN_SERVICES),  # type: ignore[arg-type]
                      tags=_Named(both, ("tag",)),  # type: ignore[arg-type]
                      zones=_Named([scope], ("zone",)) if zones else None)  # type: ignore[arg-type]


def _entries_form(config: ET.Element, change: Change) -> xpath.Match | None:
    """The container, when `change` sets named entries into an existing rules or object
    container (how pan-os-python and bmlb create objects)."""
    if change.action != "set" or not change.elements:
        return None
    if any(e.tag != "entry" or not e.get("name") for e in change.elements):
        return None
    hit = _one(config, change.xpath)
    if hit is None or len(hit.chain) < 2:
        return None
    node, above = hit.node, hit.chain[-2]
    if (node.tag == "rules" and above.tag in RULE_KINDS) or node.tag in refs.OBJECT_CONTAINERS:
        return hit
    return None


def _write_entries(config: ET.Element, change: Change, known: frozenset[refs.Problem], hit: xpath.Match,
                   undo: list[Callable[[], None]] | None = None, changed: list[tuple[int, ...]] | None = None) -> int:
    node = hit.node
    names = {e.get("name") for e in change.elements}
    found_at = {n: tree.entry_named(node, n) for n in names if n}
    if len(found_at) != len(names):
        raise NotLocal
    kids = list(node) if any(e is not None for e in found_at.values()) else []
    where = {n: (kids.index(e), e) for n, e in found_at.items() if e is not None}
    saved = {n: (i, copy.deepcopy(e), tree.to_string(e)) for n, (i, e) in where.items()}
    count, text = len(node), node.text

    def restore() -> None:
        tree.forget()
        del node[count:]
        node.text = text
        for i, old, _ in saved.values():
            node[i] = old

    try:
        tree.set_(config, change.xpath, change.elements)
        written = [*(e for n, (_, e) in where.items() if tree.to_string(e) != saved[n][2]), *node[count:]]
        if not written:
            return 0
        kind = hit.chain[-2].tag if node.tag == "rules" else node.tag
        if node.tag == "rules":
            for e in written:
                if e.get("uuid") is None:
                    e.set("uuid", str(uuidlib.uuid4()))
        scope = _scope_of(hit.chain)
        names_in_scope = _lookup(scope, tree.config_of(config).find("shared"), zones=_zones_checked(hit.chain))
        found: set[refs.Problem] = set()
        for entry in written:
            if _maybe_ipv6_nat(scope, kind, entry):
                raise NotLocal
            found.update(refs.check_rule(entry, kind, names_in_scope) if kind in RULE_KINDS
                         else refs.check_object(kind, entry, names_in_scope))
        new = sorted(found - known)
        if new:
            raise tree.ConfigError(12, *(line for p in new for line in p.lines()))
    except BaseException:
        restore()
        raise
    if undo is not None:
        undo.append(restore)
    if changed is not None:
        at = tree.positions(hit.chain)
        changed.extend([(*at, tree.APPENDED), *((*at, i) for i, _ in where.values())])
    return 1


def _give_uuids(chain: tuple[ET.Element, ...]) -> None:
    """Uuids for the rule entries a write at the end of `chain` can have added: the rule it wrote
    in (or replaced) and the rules under the written node. Every other rule has one already (each
    write gives them), so no walk of the whole rulebase."""
    for parent, child in itertools.pairwise(chain):
        if parent.tag == "rules" and child.tag == "entry":
            if child.get("uuid") is None:
                child.set("uuid", str(uuidlib.uuid4()))
            return
    tree.ensure_uuids(chain[-1])


def write(config: ET.Element, change: Change, known: frozenset[refs.Problem],
          undo: list[Callable[[], None]] | None = None, changed: list[tuple[int, ...]] | None = None) -> int:
    """Apply `change` (set/edit, see `local`); 0 when it changed nothing. Raises NotLocal before
    altering anything when it cannot be judged locally; ConfigError (candidate unchanged) when the
    change adds reference problems. A change that altered the candidate appends to `undo` the
    function that restores it (a batch rolls back by calling them in reverse), and to `changed` the
    positions (tree.positions) of the nodes it changed in place; the nodes it added are appended
    to their parents. Undone, it leaves each node as it was (a copy of it, in its place)."""
    hit = _entries_form(config, change)
    if hit is not None:
        return _write_entries(config, change, known, hit, undo, changed)
    tree.forget()  # a write by path: the name index does not follow it
    restore = _undo(config, change)
    try:
        if not changes.apply(config, change):
            return 0
        hit = _one(config, change.xpath)
        if hit is None:
            raise NotLocal
        _give_uuids(hit.chain)
        new = sorted(problems_near(config, change) - known)
        if new:
            raise tree.ConfigError(12, *(line for p in new for line in p.lines()))
    except BaseException:
        tree.forget()
        restore()
        raise
    if undo is not None:
        undo.append(restore)
    if changed is not None:
        changed.append(tree.positions(hit.chain))
    return 1
