"""The config tree and its edit operations (reference section 5).

A tree is a holder element (tag `doc`) whose one child is `<config>`, so that absolute
xpaths starting at /config select from the holder. Every operation mutates in place and
raises `ConfigError` (carrying a PAN-OS error code) on failure; callers snapshot and roll back.
"""

from __future__ import annotations

import contextlib
import copy
import gc
import itertools
import re
import threading
import uuid as uuidlib
import xml.etree.ElementTree as ET
from collections.abc import Iterator

from firewall.sim import xpath
from firewall.sim.xpath import XPathError

ENTRY_CONTAINERS = frozenset(
    {"address", "address-group", "service", "service-group", "tag", "rules", "zone"}
)
# PAN-OS allows spaces in names; bmlb itself only produces the stricter firewall.names pattern.
NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9 ._-]*")
MAX_NAME = {"tag": 127, "zone": 31}


class ConfigError(Exception):
    """A config request that the device refuses: `code` and one or more message lines."""

    def __init__(self, code: int, *lines: str) -> None:
        super().__init__("\n".join(lines))
        self.code = code
        self.lines = lines


def new_tree(config_xml: str) -> ET.Element:
    config = ET.fromstring(re.sub(r">\s+<", "><", config_xml.strip()))
    if config.tag != "config":
        raise ValueError("the initial config must have a <config> root")
    holder = ET.Element("doc")
    holder.append(config)
    return holder


def config_of(tree: ET.Element) -> ET.Element:
    return tree[0]


def to_string(elem: ET.Element) -> str:
    return ET.tostring(elem, encoding="unicode")


def canonical(elem: ET.Element) -> str:
    return ET.canonicalize(to_string(elem), strip_text=True)


def parse_element(text: str) -> list[ET.Element]:
    """The elements of an `element=` parameter (several siblings are allowed)."""
    try:
        holder = ET.fromstring(f"<x>{text}</x>")
    except ET.ParseError as exc:
        raise ConfigError(18, f"Malformed Request: {exc}") from exc
    return list(holder)


def select(tree: ET.Element, path: str) -> list[xpath.Match]:
    try:
        return xpath.select(tree, path)
    except XPathError as exc:
        raise ConfigError(6, f"Bad XPath: {exc}") from exc


# Entries by name per container, kept only while a multi-config batch of entry writes runs
# (Device._write_batch): a scan per lookup made a burst of N objects cost O(N^2). Outside it,
# or after any write it does not follow (forget()), lookups scan. Per thread: a simulator
# process may hold several devices, each writing under its own lock.
_Index = dict[int, tuple[ET.Element, dict[str | None, ET.Element]]]
_local = threading.local()


def _index() -> _Index | None:
    return getattr(_local, "index", None)


@contextlib.contextmanager
def indexed() -> Iterator[None]:
    """Within: entry_named looks names up in an index built on first use of each container."""
    saved = _index()
    _local.index = {}
    try:
        yield
    finally:
        _local.index = saved


def forget() -> None:
    """A write the index does not follow happened (or is about to): drop it."""
    index = _index()
    if index is not None:
        index.clear()


def _indexed(node: ET.Element) -> dict[str | None, ET.Element] | None:
    index = _index()
    if index is None:
        return None
    hit = index.get(id(node))
    if hit is not None and hit[0] is node:
        return hit[1]
    names: dict[str | None, ET.Element] = {}
    for e in node:
        if e.tag == "entry":
            names.setdefault(e.get("name"), e)  # the first, as the scan finds it
    index[id(node)] = (node, names)
    return names


def entry_named(node: ET.Element, name: str) -> ET.Element | None:
    """The child `entry` of that name (a plain scan: ElementPath predicates are far slower)."""
    names = _indexed(node)
    if names is not None:
        return names.get(name)
    for e in node:
        if e.get("name") == name and e.tag == "entry":
            return e
    return None


def _same(a: ET.Element, b: ET.Element) -> bool:
    if a.tag != b.tag:
        return False
    if a.tag == "entry":
        return a.get("name") == b.get("name")
    if a.tag == "member":
        return (a.text or "") == (b.text or "")
    return True


def merge(dst: ET.Element, src: ET.Element) -> None:
    """`set`: recursive union; leaf text replaced, member lists unioned, entries merged by name."""
    for key, value in src.attrib.items():
        if key != "uuid" or dst.get("uuid") is None:
            dst.set(key, value)
    if len(src) == 0 and (src.text or "").strip():
        if len(dst):
            forget()
        for child in list(dst):
            dst.remove(child)
        dst.text = src.text
        return
    by_name: dict[str | None, ET.Element] | None = None  # entries by name, for big merges
    for child in src:
        if child.tag == "entry" and len(src) <= 4:
            match = entry_named(dst, child.get("name") or "")
        elif child.tag == "entry":
            if by_name is None:
                by_name = {d.get("name"): d for d in dst if d.tag == "entry"}
            match = by_name.get(child.get("name"))
        else:
            match = next((d for d in dst if _same(d, child)), None)
        if match is None:
            dst.text = None
            added = copy.deepcopy(child)
            dst.append(added)
            if by_name is not None and child.tag == "entry":
                by_name[child.get("name")] = added
            index = _index() if child.tag == "entry" else None
            if index is not None and (hit := index.get(id(dst))) and hit[0] is dst:
                hit[1].setdefault(added.get("name"), added)
        else:
            merge(match, child)


def set_(tree: ET.Element, path: str, elements: list[ET.Element]) -> ET.Element:
    try:
        created: list[ET.Element] = []
        chain = xpath.ensure(tree, path, created)
        if created:
            forget()  # new nodes the name index does not hold
    except XPathError as exc:
        raise ConfigError(6, f"Bad XPath: {exc}") from exc
    holder = ET.Element(chain[-1].tag, chain[-1].attrib)
    holder.extend(elements)
    check_names(holder, parent_tag=chain[-2].tag if len(chain) > 1 else "")
    merge(chain[-1], holder)
    return chain[-1]


def edit(tree: ET.Element, path: str, elements: list[ET.Element]) -> ET.Element:
    """`edit`: replace the node at `path` with the element, whose tag (and name) must match."""
    if len(elements) != 1:
        raise ConfigError(18, "edit requires exactly one element")
    new = copy.deepcopy(elements[0])
    try:
        parent_path, last = xpath.split_last(path)
    except XPathError as exc:
        raise ConfigError(6, f"Bad XPath: {exc}") from exc
    if new.tag != last.name:
        raise ConfigError(12, f"Edit breaks config validity: root tag {new.tag} does not match {last.name}")
    wanted = last.attributes() if last.predicates else {}
    for key, value in wanted.items():
        if new.get(key) != value:
            raise ConfigError(12, f"Edit breaks config validity: {key} {new.get(key)!r} != {value!r}")
    hits = select(tree, path)
    if len(hits) > 1:
        raise ConfigError(8, "Edit of multiple nodes is not allowed")
    check_names(_wrap(new), parent_tag=_tag_of_parent(tree, hits, parent_path))
    if hits:
        old, parent = hits[0].node, hits[0].parent
        assert parent is not None
        _keep_uuids(old, new)
        index = list(parent).index(old)
        parent.remove(old)
        parent.insert(index, new)
        return new
    try:
        chain = xpath.ensure(tree, parent_path)
    except XPathError as exc:
        raise ConfigError(6, f"Bad XPath: {exc}") from exc
    chain[-1].text = None
    chain[-1].append(new)
    return new


def _wrap(elem: ET.Element) -> ET.Element:
    holder = ET.Element("x")
    holder.append(elem)
    return holder


def _tag_of_parent(tree: ET.Element, hits: list[xpath.Match], parent_path: str) -> str:
    if hits and hits[0].parent is not None:
        return hits[0].parent.tag
    try:
        return xpath.split_last(parent_path)[1].name if parent_path != "/" else ""
    except XPathError:
        return ""


def _keep_uuids(old: ET.Element, new: ET.Element) -> None:
    """Rule uuids survive edits: copy them from the old subtree by rule name."""
    old_uuids = {(e.get("name")): e.get("uuid") for e in old.iter("entry") if e.get("uuid")}
    for entry in new.iter("entry"):
        kept = old_uuids.get(entry.get("name"))
        if kept:
            entry.set("uuid", kept)


def delete(tree: ET.Element, path: str) -> int:
    hits = [m for m in select(tree, path) if m.attribute is None]
    for m in hits:
        if m.parent is not None and m.node in list(m.parent):
            m.parent.remove(m.node)
    return len(hits)


def move(tree: ET.Element, path: str, where: str, dst: str | None) -> None:
    hits = select(tree, path)
    if len(hits) != 1 or hits[0].attribute:
        raise ConfigError(7, "No such node")
    node, parent = hits[0].node, hits[0].parent
    assert parent is not None
    siblings = [c for c in parent if c.tag == node.tag]
    if where == "top":
        if siblings[0] is node:
            raise ConfigError(14, f"{node.get('name')} is already at the top")
        parent.remove(node)
        parent.insert(0, node)
    elif where == "bottom":
        if siblings[-1] is node:
            raise ConfigError(14, f"{node.get('name')} is already at the bottom")
        parent.remove(node)
        parent.append(node)
    elif where in ("before", "after"):
        if not dst:
            raise ConfigError(14, f"move {where} requires dst")
        ref = next((c for c in siblings if c.get("name") == dst), None)
        if ref is None:
            raise ConfigError(14, f"{dst} does not exist")
        if ref is node:
            raise ConfigError(14, f"cannot move {dst} relative to itself")
        index = siblings.index(node)
        neighbour = index + (1 if where == "before" else -1)
        if 0 <= neighbour < len(siblings) and siblings[neighbour] is ref:
            raise ConfigError(14, f"{node.get('name')} is already {where} {dst}")
        parent.remove(node)
        parent.insert(list(parent).index(ref) + (1 if where == "after" else 0), node)
    else:
        raise ConfigError(18, f"invalid where: {where!r}")


def rename(tree: ET.Element, path: str, newname: str) -> tuple[str, ET.Element]:
    """Rename one entry; returns the old name and the parent container."""
    hits = [m for m in select(tree, path) if m.attribute is None]
    if not hits:
        raise ConfigError(7, "No such node")
    if len(hits) > 1:
        raise ConfigError(8, "Can rename only one object at a time")
    node, parent = hits[0].node, hits[0].parent
    assert parent is not None
    if node.get("name") is None:
        raise ConfigError(14, "Only entries can be renamed")
    check_name(newname, parent.tag)
    if any(c.get("name") == newname for c in parent if c.tag == node.tag):
        raise ConfigError(12, f"{newname} already exists")
    old = node.get("name", "")
    node.set("name", newname)
    return old, parent


def check_name(name: str, container: str) -> None:
    limit = MAX_NAME.get(container, 63)
    if not name or len(name) > limit or not NAME_RE.fullmatch(name):
        raise ConfigError(
            12,
            f"{name!r} is not a valid name.",
            f"Names are at most {limit} characters, start with an alphanumeric character or underscore"
            " and contain only alphanumerics, underscore, hyphen, dot or space.",
        )


def check_names(holder: ET.Element, *, parent_tag: str) -> None:
    """Name rules for every entry in an incoming element, by the container it lands in."""
    def walk(node: ET.Element, container: str) -> None:
        for child in node:
            if child.tag == "entry" and container in ENTRY_CONTAINERS:
                check_name(child.get("name", ""), container)
            walk(child, child.tag)

    walk(holder, holder.tag if holder.tag != "x" else parent_tag)


def rule_entries(tree: ET.Element) -> dict[tuple[str, ...], ET.Element]:
    """Rule entries (entries of a `rules` container) keyed by the tag/name path to them."""
    # A loop, not a recursive closure: that closure's reference cycle kept the dict, and so every
    # rule entry, alive until the next collection, and a copy of the config meanwhile took the
    # slow path of copy.deepcopy for each of them (Element.__deepcopy__ recurses in C only into
    # children nobody else holds).
    out: dict[tuple[str, ...], ET.Element] = {}
    stack: list[tuple[ET.Element, tuple[str, ...]]] = [(tree, ())]
    while stack:
        node, path = stack.pop()
        rules = node.tag == "rules"
        for child in node:
            step = (*path, f"{child.tag}={child.get('name', '')}")
            if rules and child.tag == "entry":
                out[step] = child
            else:
                stack.append((child, step))
    return out


def ensure_uuids(tree: ET.Element) -> None:
    """Give every rule entry a uuid attribute, as PAN-OS >= 9.0 does."""
    for entry in rule_entries(tree).values():
        if entry.get("uuid") is None:
            entry.set("uuid", str(uuidlib.uuid4()))


def copy_uuids(target: ET.Element, source: ET.Element) -> None:
    """Make rule uuids in `target` agree with those of the same rules in `source`."""
    src = rule_entries(source)
    for key, entry in rule_entries(target).items():
        uid = src[key].get("uuid") if key in src else None
        if uid:
            entry.set("uuid", uid)


def strip_uuid_from(elem: ET.Element) -> None:
    for e in elem.iter():
        e.attrib.pop("uuid", None)


def copied(config: ET.Element) -> ET.Element:
    """A deep copy of a whole config tree with the cyclic collector paused: the copy holds no
    cycle, and the collections its 300,000 new elements kept triggering (rescanning the trees
    already held) were more than half of a commit's copy at 50,000 objects."""
    was = gc.isenabled()
    gc.disable()
    try:
        return copy.deepcopy(config)
    finally:
        if was:
            gc.enable()


def positions(chain: tuple[ET.Element, ...]) -> tuple[int, ...]:
    """Where each node of `chain` sits among its parent's children (the path to chain[-1])."""
    return tuple(list(parent).index(child) for parent, child in itertools.pairwise(chain))


# The last position of a path that marks the node before it as having had children appended only.
APPENDED = -1
# Changed positions as a trie: child index -> the marks below it, None where the whole subtree changed.
Marks = dict[int, "Marks | None"]


def _marks(changed: list[tuple[int, ...]]) -> Marks | None:
    trie: Marks = {}
    for path in changed:
        if not path:
            return None
        appended = path[-1] == APPENDED
        node = trie
        for i in path[:-1]:
            below = node.setdefault(i, {})
            if below is None:  # a changed ancestor holds this path
                break
            node = below
        else:
            if not appended:
                node[path[-1]] = None
    return trie


def grafted(base: ET.Element, current: ET.Element, changed: list[tuple[int, ...]],
            watch: str = "") -> tuple[ET.Element, bool] | None:
    """A tree equal to `current`, sharing subtrees with `base` (which it must never be changed
    through: it and `base` are held as they are). `base` equals `current` except under the
    `changed` paths (positions, see `positions`) and for children appended since (positions past
    the end of the base's children, under the nodes on those paths: a path ending in APPENDED
    leads to a node that had children appended only); nothing was removed or reordered. Copies only the changed
    subtrees and the nodes on the way to them. Also says whether it copied a node tagged `watch`
    (anything else the two trees have in common, word for word). None: the two do not line up."""
    marks = _marks(changed)
    if marks is None:
        return None
    seen = False

    def fresh(elem: ET.Element) -> ET.Element:
        nonlocal seen
        seen = seen or (bool(watch) and next(elem.iter(watch), None) is not None)
        return copy.deepcopy(elem)

    def graft(b: ET.Element, c: ET.Element, marks: Marks) -> ET.Element | None:
        nonlocal seen
        seen = seen or c.tag == watch
        shared, kids = list(b), list(c)
        n = len(shared)
        if len(kids) < n or [x.tag for x in shared] != [y.tag for y in kids[:n]] \
                or [x.get("name") for x in shared] != [y.get("name") for y in kids[:n]]:
            return None
        out = [*shared, *(fresh(k) for k in kids[n:])]
        for j, below in marks.items():
            if j >= n:
                continue  # appended: copied above
            new = fresh(kids[j]) if below is None else graft(shared[j], kids[j], below)
            if new is None:
                return None
            out[j] = new
        node = ET.Element(c.tag, c.attrib)
        node.text, node.tail = c.text, c.tail
        node.extend(out)
        return node

    new = graft(base, current, marks)
    return None if new is None else (new, seen)
