"""Parsing manifests: multi-document YAML text into documents, each with its origin ("FILE:DOC")
and the line it starts on. Reading files, standard input and kustomizations is
controller/cli/manifest_files.py's.

The loader is as strict as the API server's decoder: a duplicate key is an error (not "last one
wins"), timestamps stay strings, and a file that is not UTF-8 text is reported, not decoded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml
from yaml.constructor import SafeConstructor

from controller.core import collector

_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class DuplicateKeyError(yaml.YAMLError):
    def __init__(self, key: object, line: int, first: int) -> None:
        super().__init__(f"duplicate key {key!r} (line {line}; first at line {first})")
        self.line = line


# The tag a plain scalar resolves to is a function of its text (StrictLoader has no path
# resolvers), and a manifest repeats the same keys and words thousands of times: the C parser
# asks Python for each scalar's tag, so the answers are remembered.
_PLAIN_TAGS: dict[str, str] = {}
_PLAIN_TAGS_MAX = 1 << 14


class StrictLoader(_Base):  # type: ignore[misc,valid-type]
    """Safe loading with duplicate keys refused and timestamps kept as strings."""

    def resolve(self, kind: type, value: Any, implicit: Any) -> str:
        if kind is yaml.ScalarNode and implicit[0] and type(self) is StrictLoader:  # a subclass may resolve otherwise
            tag = _PLAIN_TAGS.get(value)
            if tag is None:
                tag = super().resolve(kind, value, implicit)
                if len(_PLAIN_TAGS) >= _PLAIN_TAGS_MAX:
                    _PLAIN_TAGS.clear()
                _PLAIN_TAGS[value] = tag
            return tag
        return super().resolve(kind, value, implicit)  # type: ignore[no-any-return]


StrictLoader.yaml_implicit_resolvers = {
    first: [r for r in resolvers if r[0] != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in _Base.yaml_implicit_resolvers.items()
}


_STR = "tag:yaml.org,2002:str"


def _mapping(loader: Any, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == _STR and type(key_node) is yaml.ScalarNode:
            key = key_node.value  # what the constructor makes of a plain string key, without the call
        else:
            key = loader.construct_object(key_node, deep=True)
        try:
            first = seen.get(key)
        except TypeError:
            continue  # unhashable: the base constructor reports it
        if first is not None:
            raise DuplicateKeyError(key, key_node.start_mark.line + 1, first)
        seen[key] = key_node.start_mark.line + 1
    return SafeConstructor.construct_mapping(loader, node, deep=deep)


StrictLoader.add_constructor("tag:yaml.org,2002:map", _mapping)
assert not StrictLoader.yaml_path_resolvers, "the plain-scalar tag cache assumes no path resolvers"


class _Slow(Exception):
    """The document holds something only the full constructor handles (a merge key, a tag other
    than the core schema's, a key that is not a scalar) or is in error: construct it that way."""


_MAP, _SEQ = "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"
_SCALAR_TAGS = ("tag:yaml.org,2002:null", "tag:yaml.org,2002:bool", "tag:yaml.org,2002:int",
                "tag:yaml.org,2002:float")


def _construct(loader: Any, node: yaml.Node) -> Any:
    """What `loader.construct_document(node)` returns, built by one recursive function instead of
    PyYAML's generic constructor (several Python calls per node: most of a load's time). Only the
    core schema's plain cases are built here: strings, null, booleans, integers and floats,
    mappings with scalar keys and sequences, aliases sharing one object as PyYAML's do. Anything
    else, and any document with an error (a duplicate key included), is constructed by the full
    constructor, so the result and the error reported are the same as before."""
    scalars = {tag: loader.yaml_constructors[tag] for tag in _SCALAR_TAGS}
    memo: dict[int, Any] = {}  # id of a collection node -> what it made
    building: set[int] = set()
    scalar_node, mapping_node, sequence_node = yaml.ScalarNode, yaml.MappingNode, yaml.SequenceNode

    def build(n: yaml.Node) -> Any:
        cls = type(n)
        if cls is scalar_node:
            if n.tag == _STR:
                return n.value
            make = scalars.get(n.tag)
            if make is None:
                raise _Slow
            return make(loader, n)
        ident = id(n)
        done = memo.get(ident)
        if done is not None:
            return done  # an alias: the object its anchor made
        if ident in building:
            raise _Slow  # a recursive alias: PyYAML's rules for those are the full constructor's
        building.add(ident)
        if cls is mapping_node and n.tag == _MAP:
            out: dict[Any, Any] = {}
            for k, v in n.value:
                if type(k) is not scalar_node:
                    raise _Slow
                if k.tag == _STR:
                    key = k.value
                else:
                    make = scalars.get(k.tag)
                    if make is None:
                        raise _Slow  # a merge key (<<), `=`, or a tagged key
                    key = make(loader, k)
                if key in out:
                    raise _Slow  # a duplicate key: the full constructor words it
                out[key] = build(v)
            memo[ident] = out
            return out
        if cls is sequence_node and n.tag == _SEQ:
            items = [build(i) for i in n.value]
            memo[ident] = items
            return items
        raise _Slow

    try:
        return build(node)
    except (_Slow, yaml.YAMLError, ValueError, TypeError, KeyError, AttributeError):
        return loader.construct_document(node)


def _children(n: yaml.Node) -> list[yaml.Node]:
    if isinstance(n, yaml.SequenceNode):
        return n.value  # type: ignore[no-any-return]
    if isinstance(n, yaml.MappingNode):
        return [x for pair in n.value for x in pair]
    return []


def excessive_aliasing(root: yaml.Node) -> bool:
    """go-yaml's rule (the decoder of kubectl and the API server), on the whole document: refused
    when more than 1000 nodes and, of them, over 99% (10% from 4 million nodes on) come only from
    expanding aliases. 100 lines of nested aliases ("billion laughs") make hundreds of millions of
    values, which every later walk (the schema check, a message's repr) takes minutes and GBs over."""
    sizes: dict[int, int] = {}  # id of a node -> the nodes it expands to
    stack = [(root, False)]
    while stack:
        n, done = stack.pop()
        if done:
            sizes[id(n)] = 1 + sum(sizes[id(c)] for c in _children(n))
        elif id(n) not in sizes:
            sizes[id(n)] = 1  # until it is done: a recursive alias counts once
            stack.append((n, True))
            stack.extend((c, False) for c in _children(n) if id(c) not in sizes)
    total = sizes[id(root)]
    allowed = 0.99 - 0.89 * min(max(total - 400_000, 0) / 3_600_000, 1.0)
    return total > 1000 and (total - len(sizes)) / total > allowed


@dataclass(frozen=True, slots=True)
class Document:
    path: str
    index: int  # 0-based position in its file
    body: dict[str, Any]
    line: int = 0  # 1-based line the document (or List item) starts on; 0: unknown

    @property
    def origin(self) -> str:
        return f"{self.path}:{self.index}"


@dataclass(frozen=True, slots=True)
class LoadError:
    path: str
    index: int
    message: str
    where: str = "(root)"
    line: int = 0

    def __str__(self) -> str:
        return f"{self.path}:{self.index}: {self.message}"


def _text(data: bytes) -> str:
    """The file as text; ValueError saying why it is not YAML text."""
    nul = data.find(b"\x00")
    if nul >= 0:
        raise ValueError(f"binary data (NUL byte at offset {nul}), not a YAML manifest")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ValueError(f"not UTF-8 text (byte 0x{data[err.start]:02x} at offset {err.start})") from None


def _start(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _item_lines(node: yaml.Node) -> list[int]:
    """Start lines of a List's items (empty when `items` is not a sequence)."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if getattr(key, "value", None) == "items" and isinstance(value, yaml.SequenceNode):
                return [_start(item) for item in value.value]
    return []


def parse(text: str, source: str) -> tuple[list[Document], list[LoadError]]:
    """Every document of one YAML stream; `source` names it in origins."""
    with collector.paused():
        return _parse(text, source)


def _parse(text: str, source: str) -> tuple[list[Document], list[LoadError]]:
    docs: list[Document] = []
    errors: list[LoadError] = []
    i = -1
    loader = None
    try:
        loader = StrictLoader(text)  # the pure-Python reader may refuse the text already here
        while loader.check_node():
            node = loader.get_node()
            line = _start(node) if node is not None else 0
            # No alias without an anchor in the document: most need no aliasing check.
            if node is not None and text.find("&", node.start_mark.index, node.end_mark.index) >= 0 \
                    and excessive_aliasing(node):
                i += 1
                errors.append(LoadError(source, i, "invalid YAML: document contains excessive aliasing", line=line))
                continue
            body = _construct(loader, node) if node is not None else None
            i += 1  # only now: an error constructing document i+1 is reported on i+1
            if body is None:
                continue
            if not isinstance(body, dict):
                errors.append(LoadError(source, i, f"a manifest must be a mapping, not {type(body).__name__}",
                                        line=line))
            elif body.get("kind") == "List" and isinstance(body.get("items"), list):
                lines = _item_lines(node)
                for n, item in enumerate(body["items"]):
                    at = lines[n] if n < len(lines) else line
                    if isinstance(item, dict):
                        docs.append(Document(source, i, item, at))
                    else:
                        errors.append(LoadError(source, i, "a List item must be a mapping", "items", at))
            else:
                docs.append(Document(source, i, body, line))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = getattr(err, "line", None) or (mark.line + 1 if mark else None)
        where = f" (line {line})" if line else ""
        problem = getattr(err, "problem", None) or str(err)
        errors.append(LoadError(source, i + 1, f"invalid YAML{where}: {problem}", line=line or 0))
    finally:
        if loader is not None:
            loader.dispose()
    return docs, errors


STDIN = "-"
STDIN_NAME = "stdin"  # how documents read from standard input are named in origins


class InputError(Exception):
    """The input could not be read at all (a missing kubectl, a kustomization that does not build):
    the command cannot run (exit 2), as opposed to findings about what was read."""


def from_bytes(data: bytes, source: str) -> tuple[list[Document], list[LoadError]]:
    """The documents of one file's bytes (or standard input's, or a rendered kustomization's)."""
    try:
        text = _text(data)
    except ValueError as err:
        return [], [LoadError(source, 0, str(err))]
    d, e = parse(text, source)
    if not d and not e:
        e = [LoadError(source, 0, "no Kubernetes objects in this file")]
    return d, e
