"""Problems: bad user input as data, never as exceptions (STYLE.md §4).

A Problem names the object and the field at fault; the shell turns problems into status
conditions and Events, `bmlb validate` prints them one per line.
"""

from __future__ import annotations

import enum
import sys
from dataclasses import dataclass
from typing import NamedTuple

from controller.core.reasons import Code


class ObjectRef(NamedTuple):
    """Who an object is. A named tuple, not a dataclass: a compile of 10,000 Services hashes and
    sorts these ~1.5 million times, and a tuple does both in C."""

    kind: str
    namespace: str  # "" for cluster-scoped objects
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"


_known: dict[ObjectRef, ObjectRef] = {}
_MIN_SWEEP = 4096
_sweep_at = _MIN_SWEEP


def interned(ref: ObjectRef) -> ObjectRef:
    """The process's one ObjectRef equal to `ref`: the index, the compile, the status memo and the
    finalizer keeper each held their own copy of every object's (five copies of 30,003 refs at
    10,000 Services). Refs nobody else holds are let go whenever the table doubled."""
    global _sweep_at
    found = _known.setdefault(ref, ref)
    if len(_known) > _sweep_at:
        for r in list(_known):
            if sys.getrefcount(r) <= 5:  # the dict's key and value, the list's, `r` and the call's
                del _known[r]
        _sweep_at = max(2 * len(_known), _MIN_SWEEP)
    return found


class Severity(enum.Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True, order=True)
class Problem:
    ref: ObjectRef
    path: str  # "spec.rules[0].from.zones", "metadata.annotations[bmlb.io/ip]"
    code: Code  # machine-readable CamelCase reason (controller/core/reasons.py), e.g. ForeignNamespace
    message: str
    severity: Severity = Severity.ERROR

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def __str__(self) -> str:
        return f"{self.ref}: {self.path}: {self.message}"


def sort_problems(problems: list[Problem] | tuple[Problem, ...]) -> tuple[Problem, ...]:
    return tuple(sorted(set(problems), key=lambda p: (p.ref, p.path, p.code, p.message, p.severity.value)))
