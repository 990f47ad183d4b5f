"""Loading manifests: multi-document YAML files and folders, each document with its origin.

The loader is as strict as the API server's decoder: a duplicate key is an error (not "last one
wins"), timestamps stay strings, and a file that is not UTF-8 text is reported, not decoded.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
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


def _mapping(loader: Any, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
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

    @property
    def origin(self) -> str:
        return f"{self.path}:{self.index}"


@dataclass(frozen=True, slots=True)
class LoadError:
    path: str
    index: int
    message: str
    where: str = "(root)"

    def __str__(self) -> str:
        return f"{self.path}:{self.index}: {self.message}"


def _files(paths: Iterable[str | Path], *, recursive: bool) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            pattern = "**/*" if recursive else "*"
            out += sorted(f for f in p.glob(pattern) if f.suffix in (".yaml", ".yml", ".json") and f.is_file())
        else:
            out.append(p)
    return out


def _text(data: bytes) -> str:
    """The file as text; ValueError saying why it is not YAML text."""
    nul = data.find(b"\x00")
    if nul >= 0:
        raise ValueError(f"binary data (NUL byte at offset {nul}), not a YAML manifest")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ValueError(f"not UTF-8 text (byte 0x{data[err.start]:02x} at offset {err.start})") from None


def parse(text: str, source: str) -> tuple[list[Document], list[LoadError]]:
    """Every document of one YAML stream; `source` names it in origins."""
    docs: list[Document] = []
    errors: list[LoadError] = []
    i = -1
    try:
        for i, body in enumerate(yaml.load_all(text, Loader=StrictLoader)):
            if body is None:
                continue
            if not isinstance(body, dict):
                errors.append(LoadError(source, i, f"a manifest must be a mapping, not {type(body).__name__}"))
            elif body.get("kind") == "List" and isinstance(body.get("items"), list):
                for item in body["items"]:
                    if isinstance(item, dict):
                        docs.append(Document(source, i, item))
                    else:
                        errors.append(LoadError(source, i, "a List item must be a mapping", "items"))
            else:
                docs.append(Document(source, i, body))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = getattr(err, "line", None) or (mark.line + 1 if mark else None)
        where = f" (line {line})" if line else ""
        problem = getattr(err, "problem", None) or str(err)
        errors.append(LoadError(source, i + 1, f"invalid YAML{where}: {problem}"))
    return docs, errors


def load(paths: Iterable[str | Path], *, recursive: bool = False) -> tuple[list[Document], list[LoadError]]:
    docs: list[Document] = []
    errors: list[LoadError] = []
    for f in _files(paths, recursive=recursive):
        try:
            text = _text(f.read_bytes())
        except OSError as err:
            errors.append(LoadError(str(f), 0, f"cannot read: {err.strerror}"))
            continue
        except ValueError as err:
            errors.append(LoadError(str(f), 0, str(err)))
            continue
        d, e = parse(text, str(f))
        if not d and not e:
            e = [LoadError(str(f), 0, "no Kubernetes objects in this file")]
        docs += d
        errors += e
    return docs, errors
