"""Loading manifests: multi-document YAML files and folders, each document with its origin."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


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


def load(paths: Iterable[str | Path], *, recursive: bool = False) -> tuple[list[Document], list[LoadError]]:
    docs: list[Document] = []
    errors: list[LoadError] = []
    for f in _files(paths, recursive=recursive):
        try:
            text = f.read_text()
        except OSError as err:
            errors.append(LoadError(str(f), 0, f"cannot read: {err.strerror}"))
            continue
        try:
            for i, body in enumerate(yaml.safe_load_all(text)):
                if body is None:
                    continue
                if not isinstance(body, dict):
                    errors.append(LoadError(str(f), i, "a manifest must be a mapping"))
                elif body.get("kind") == "List" and isinstance(body.get("items"), list):
                    docs += [Document(str(f), i, item) for item in body["items"] if isinstance(item, dict)]
                else:
                    docs.append(Document(str(f), i, body))
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f" (line {mark.line + 1})" if mark else ""
            errors.append(LoadError(str(f), 0, f"invalid YAML{where}: {getattr(err, 'problem', err)}"))
    return docs, errors
