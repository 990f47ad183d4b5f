"""An object's metadata, typed: name, namespace, uid, generation, creation time, labels and
annotations; a wrong type in any of them is a Problem naming the field (the first step of
controller/core/parse.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from controller.core.problems import ObjectRef, Problem
from controller.core.reasons import Code
from controller.core.snapshot import Body, ref_of
from controller.core.timefmt import rfc3339


@dataclass(frozen=True, slots=True)
class Meta:
    name: str
    namespace: str
    uid: str = ""
    generation: int = 0
    created: str = ""  # RFC 3339, "" when unknown (sorts first)
    labels: tuple[tuple[str, str], ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()

    def annotation(self, key: str, default: str = "") -> str:
        return next((v for k, v in self.annotations if k == key), default)


def timestamp(raw: Any) -> str | None:
    """An RFC 3339 timestamp as a string; YAML's unquoted timestamps arrive as datetimes."""
    if raw is None:
        return ""
    if isinstance(raw, dt.datetime):
        return rfc3339(raw)
    if isinstance(raw, dt.date):
        return f"{raw.isoformat()}T00:00:00Z"
    if isinstance(raw, str):
        return raw
    return None


def _string_map(raw: Any, ref: ObjectRef, path: str, problems: list[Problem]) -> tuple[tuple[str, str], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, Mapping):
        problems.append(Problem(ref, path, Code.InvalidType, f"must be a map of strings, not {type_name(raw)}"))
        return ()
    out = []
    for key, value in raw.items():
        if not isinstance(key, str):
            problems.append(Problem(ref, f"{path}[{key}]", Code.InvalidType,
                                    f"key must be a string, not {type_name(key)}"))
        elif not isinstance(value, str):
            problems.append(Problem(ref, f"{path}[{key}]", Code.InvalidType,
                                    f"value must be a string, not {type_name(value)} (quote it: \"{value}\")"))
        else:
            out.append((key, value))
    return tuple(sorted(out))


def type_name(value: Any) -> str:
    names = {dict: "a map", list: "a list", bool: "a boolean", int: "a number", float: "a number",
             type(None): "null", str: "a string", bytes: "binary data"}
    return names.get(type(value), type(value).__name__)


def parse_meta(body: Body) -> tuple[Meta | None, list[Problem]]:
    """The object's metadata, or None with the problems that make it unusable."""
    ref = ref_of(body)
    raw = body.get("metadata")
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        return None, [Problem(ref, "metadata", Code.InvalidType, f"must be a map, not {type_name(raw)}")]
    problems: list[Problem] = []
    fields: dict[str, str] = {}
    for key in ("name", "namespace", "uid"):
        value = raw.get(key)
        if value is None:
            fields[key] = ""
        elif isinstance(value, str):
            fields[key] = value
        else:
            problems.append(Problem(ref, f"metadata.{key}", Code.InvalidType,
                                    f"must be a string, not {type_name(value)} ({value!r})"))
    generation = raw.get("generation", 0)
    if generation is None:
        generation = 0
    if isinstance(generation, bool) or not isinstance(generation, int):
        problems.append(Problem(ref, "metadata.generation", Code.InvalidType,
                                f"must be an integer, not {type_name(generation)}"))
        generation = 0
    created = timestamp(raw.get("creationTimestamp"))
    if created is None:
        problems.append(Problem(ref, "metadata.creationTimestamp", Code.InvalidType,
                                f"must be a timestamp, not {type_name(raw.get('creationTimestamp'))}"))
    labels = _string_map(raw.get("labels"), ref, "metadata.labels", problems)
    annotations = _string_map(raw.get("annotations"), ref, "metadata.annotations", problems)
    if problems:
        return None, problems
    return Meta(fields["name"], fields["namespace"], fields["uid"], generation, created or "", labels,
                annotations), []
