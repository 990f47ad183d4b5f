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

_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class DuplicateKeyError(yaml.YAMLError):
    def __init__(self, key: object, line: int, first: int) -> None:
        super().__init__(f"duplicate key {key!r} (line {line}; first at line {first})")
        self.line = line


class StrictLoader(_Base):  # type: ignore[misc,valid-type]
    """Safe loading with duplicate keys refused and timestamps kept as strings."""


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
    docs: list[Document] = []
    errors: list[LoadError] = []
    i = -1
    loader = None
    try:
        loader = StrictLoader(text)  # the pure-Python reader may refuse the text already here
        while loader.check_node():
            node = loader.get_node()
            line = _start(node) if node is not None else 0
            body = loader.construct_document(node) if node is not None else None
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
