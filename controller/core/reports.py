"""Each object's Report (what its status says), and which of them moved since the last compile."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from controller.core.compile_cache import CompileCache
from controller.core.problems import ObjectRef

T = TypeVar("T")
Fields = tuple[tuple[str, str], ...]  # sorted by field


@dataclass(frozen=True, slots=True)
class Report:
    """What the shell writes into one object's status."""

    ref: ObjectRef
    fields: tuple[tuple[str, str], ...] = ()
    firewall_objects: tuple[str, ...] = ()


def reports_of(reports: Mapping[ObjectRef, Fields], owned: Mapping[ObjectRef, Sequence[str]],
               cache: CompileCache | None) -> tuple[tuple[Report, ...], frozenset[ObjectRef] | None]:
    """Every object's report, by ref (`reports`: its fields as sorted (field, value) pairs; `owned`:
    its firewall objects' names); with a cache, the last compile's Report where it is the same, and
    the objects whose Report is not (None: no cache, or nothing to compare with)."""
    refs = reports.keys() | owned.keys()
    if cache is None:
        return tuple(_report(r, reports.get(r, ()), owned.get(r, ())) for r in sorted(refs)), None
    order = cache.sorted_refs(refs)
    last, made = cache.reports, {}
    changed = set(last.keys() - refs)
    fields_of, names_of, last_of = reports.get, owned.get, last.get  # 30,000 rounds: no lookups in them
    for r in order:
        fields, names, old = fields_of(r, ()), names_of(r, ()), last_of(r)
        if old is not None and _same(old, fields, names):
            made[r] = old
        else:
            made[r] = _report(r, fields, names)
            changed.add(r)
    cache.reports = made
    return tuple(made.values()), frozenset(changed) if last else None


def _same(old: Report, fields: Fields, names: Sequence[str]) -> bool:
    """`old` is the Report these fields and names make (only the Report is kept: the inputs it was
    made from, held beside it, were ~8 MB at 10,000 Services)."""
    if len(old.firewall_objects) != len(names):
        return False
    if len(names) == 1:
        if old.firewall_objects[0] != names[0]:
            return False
    elif names and old.firewall_objects != tuple(sorted(names)):
        return False
    return old.fields == fields


@functools.lru_cache(maxsize=4096)
def _shared(pairs: T) -> T:
    """One copy of a (field, value) pair, or of a report's fields, that many reports hold alike
    (("firewall", "edge")); fields and values are text, so equal is the same."""
    return pairs


def _report(ref: ObjectRef, fields: Fields, names: Sequence[str]) -> Report:
    return Report(ref, _shared(tuple(map(_shared, fields))), tuple(sorted(names)))
