"""The index's copy of a watched body: only what bmlb reads, and one shared, read-only copy of
every nested value that many objects hold alike.

At 10,000 Services most of the index was the same small values again and again in every body: the
conditions bmlb wrote (three per object, alike but for the object they sit in), `ports` entries,
`from: {zones: [untrust]}`, the finalizer list, label maps. Below a body's `spec`, `metadata` and
`status` each dict or list is made once and shared by every body that holds the same JSON, types
and key order included (1, 1.0 and true stay apart, as `index._identical` keeps them). A shared
value is a `FrozenDict` / `FrozenList`: a dict or list to every reader (`isinstance`, `==`, JSON,
`repr`), but writing into one raises, since that would write into other objects' bodies. A copy of
one (`copy`, `deepcopy`, pickle) is a plain, writable dict or list. The bodies themselves and their
`spec` / `metadata` / `status` stay each object's own.

Values no body holds any more are let go: the table is swept whenever it doubled since the last
sweep, so it stays within about twice what the bodies hold.

Each object's own dicts (the body, its `spec`, `metadata`, `status`) are plain dicts whose keys
table is shared by every body of the same shape (`compact`): CPython keeps an instance's
attribute dict as a values array beside its class's one keys table, and such a dict is an
ordinary `dict` to every reader. A dict of a shape already seen costs about half as much.
"""

from __future__ import annotations

import copy
import operator
import sys
from collections.abc import Mapping
from typing import Any, NoReturn

from pydantic import BaseModel

from controller.core import specs

_INTERNED = 256  # longer text (certificates, long messages) is rarely repeated
_SMALL, _PORTS = 256, 65536  # CPython keeps one object of each int up to 256; ports and counts: one here
_SHARED_FROM = 2  # depth in the body: 1 is spec / metadata / status, each object's own
_SCALARS = (str, int, float, bool, type(None))
_MIN_SWEEP = 4096
_SHAPE_KEYS = 20  # CPython 3.11 shares a keys table of at most 30 entries, less what its first instance took
# Measured on CPython 3.11 (Debian 12's python3); other versions keep a dict as it came.
_SHARED_KEYS = sys.implementation.name == "cpython" and sys.version_info[:2] == (3, 11)
_MAX_SHAPES = 1024  # past that, a new shape is a dict of its own (a tenant's odd specs cost only themselves)

# kubectl's copy of the last applied object, and kopf's copy of the last handled spec: whole specs again.
DROPPED_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration", "bmlb.io/last-handled")
# What the compiler, status writer, finalizer keeper and webhook read of an object's metadata
# (controller/core/parse.py); the rest (managedFields, owner references) only costs memory.
META = ("name", "namespace", "uid", "generation", "creationTimestamp", "deletionTimestamp", "resourceVersion",
        "finalizers", "labels", "annotations")
# Node status carries images and capacity; bmlb reads only its addresses and conditions.
NODE_STATUS = ("addresses", "conditions")


def _declared(model: type[BaseModel]) -> frozenset[str]:
    return frozenset(f.alias or name for name, f in model.model_fields.items())


# Of a Service's spec, what bmlb reads (the fields specs.ServiceSpec and specs.ServicePort declare):
# the cluster IPs, node ports and policies the API server fills in are most of a Service body, and
# a port's nodePort made every `ports` entry unique to its Service (never shared).
SERVICE_SPEC = _declared(specs.ServiceSpec)
SERVICE_PORT = _declared(specs.ServicePort)


def _read_only(self: object, *args: object, **kwargs: object) -> NoReturn:
    raise TypeError(f"a {type(self).__name__} is shared by indexed bodies and cannot be changed: copy it first")


class FrozenDict(dict):  # type: ignore[type-arg]
    __slots__ = ()
    __setitem__ = __delitem__ = __ior__ = clear = pop = popitem = setdefault = update = _read_only  # type: ignore[assignment]

    def __copy__(self) -> dict[Any, Any]:
        return dict(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[Any, Any]:
        return {k: copy.deepcopy(v, memo) for k, v in self.items()}

    def __reduce__(self) -> tuple[Any, ...]:
        return (dict, (dict(self),))


class FrozenList(list):  # type: ignore[type-arg]
    __slots__ = ()
    __setitem__ = __delitem__ = __iadd__ = __imul__ = append = clear = extend = insert = pop = remove = \
        reverse = sort = _read_only  # type: ignore[assignment]

    def __copy__(self) -> list[Any]:
        return list(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> list[Any]:
        return [copy.deepcopy(v, memo) for v in self]

    def __reduce__(self) -> tuple[Any, ...]:
        return (list, (list(self),))


_shapes: dict[tuple[str, ...], type] = {}


def compact(d: dict[str, Any]) -> dict[str, Any]:
    """An equal dict (same keys, same order, the very same values) whose keys table is shared with
    every other dict of this shape made here: the attribute dict of an instance of the shape's
    class, filled through the dict itself (a key such as `__class__` is only a key). The instance
    is let go; its dict lives on as a plain `dict`. Writing a new key into one later is allowed:
    that dict alone then gets a table of its own."""
    keys = tuple(d)
    if len(keys) > _SHAPE_KEYS or not all(type(k) is str for k in keys):
        return d
    shape = _shapes.get(keys)
    if shape is None:
        if not _SHARED_KEYS or len(_shapes) >= _MAX_SHAPES:
            return d
        shape = _shapes[keys] = _shape(keys)
    out: dict[str, Any] = shape().__dict__
    for k, v in d.items():
        out[k] = v
    return out


def _shape(keys: tuple[str, ...]) -> type:
    """A class whose instances' dicts share one keys table holding `keys` in order. CPython 3.11
    sizes each new instance's values for what its class's table may still grow to, and lowers that
    with each instance made: a first instance enters the keys, and a few more bring every later
    dict of this shape down to its keys' size."""
    shape = type("BodyShape", (), {"__module__": __name__})
    first = shape().__dict__
    for k in keys:
        first[k] = None
    for _ in range(32):  # the table's spare room (at most 30) down to one
        shape()
    return shape


class Leaner:
    """Makes the index's bodies (`strip`), sharing nested values between them.

    Every text up to `_INTERNED` characters and every int of a port's size is the process's one
    object for that value, and nested values are shared bottom-up, so two nested values hold the
    same JSON (types and key order included) exactly when they hold the very same objects: the
    table finds a value by a hash of the identities of what it holds, and shares it only if it
    holds those very objects.
    """

    def __init__(self) -> None:
        # By the hash of what a value holds (identities, in order): a found value is shared only if it
        # holds the very same objects (a hash met by another value leaves the new one unshared).
        # The hash alone, not the identities: most values are held by one body, and their keys were
        # ~12 MB at 10,000 Services.
        self._table: dict[int, FrozenDict | FrozenList] = {}
        self._ints: dict[int, int] = {}
        self._sweep_at = _MIN_SWEEP

    def __len__(self) -> int:
        return len(self._table)

    def strip(self, body: Mapping[str, Any], kind: str) -> dict[str, Any]:
        """A lean copy with the kind set (kopf bodies lack it on some paths): only what bmlb reads.
        A malformed field is kept as it is, so parse can name it."""
        out = {sys.intern(k) if type(k) is str else k: self.lean(v, 1) for k, v in body.items()
               if k not in ("metadata", "status", "spec")}
        out["kind"] = kind
        if "spec" in body:
            spec = body["spec"]
            out["spec"] = self.lean(_service_spec(spec) if kind == "Service" else spec, 1)
        raw = body.get("metadata")
        if isinstance(raw, Mapping):
            meta = {k: raw[k] for k in META if k in raw}
            ann = meta.get("annotations")
            if isinstance(ann, Mapping) and any(k in ann for k in DROPPED_ANNOTATIONS):
                meta["annotations"] = {k: v for k, v in ann.items() if k not in DROPPED_ANNOTATIONS}
            out["metadata"] = self.lean(meta, 1)
        else:
            out["metadata"] = self.lean(raw, 1) if raw is not None else {}
        status = body.get("status")
        if status is not None:
            if kind == "Node" and isinstance(status, Mapping):
                status = {k: status[k] for k in NODE_STATUS if k in status}
            out["status"] = self.lean(status, 1)
        if len(self._table) > self._sweep_at:
            self.sweep()
        return compact(out)

    def lean(self, value: Any, depth: int) -> Any:
        """A copy whose keys and short strings are the process's one copy of that text, and whose
        dicts and lists from `_SHARED_FROM` down are shared ones."""
        t = type(value)
        if t is str:
            return sys.intern(value) if len(value) <= _INTERNED else value
        if t is int:
            return self._ints.setdefault(value, value) if _SMALL < value < _PORTS else value
        if t is bool or t is float or value is None:
            return value
        if t is dict or isinstance(value, Mapping):
            d = {sys.intern(k) if type(k) is str else k: self.lean(v, depth + 1) for k, v in value.items()}
            if depth < _SHARED_FROM:
                return compact(d)
            key = hash((0, *map(id, d), *map(id, d.values())))
            found = self._table.get(key)
            if type(found) is FrozenDict and len(found) == len(d) and all(map(operator.is_, found, d)) \
                    and all(map(operator.is_, found.values(), d.values())):
                return found
            made = FrozenDict(d)
            if found is None:
                self._table[key] = made
            return made
        if t is list or isinstance(value, list):
            items = [self.lean(v, depth + 1) for v in value]
            if depth < _SHARED_FROM:
                return items
            key = hash((1, *map(id, items)))
            found = self._table.get(key)
            if type(found) is FrozenList and len(found) == len(items) and all(map(operator.is_, found, items)):
                return found
            made = FrozenList(items)
            if found is None:
                self._table[key] = made
            return made
        if isinstance(value, str):
            return str(value)
        return copy.deepcopy(value)

    def sweep(self) -> None:
        """Let go of the values no body holds (the newest first, so that a value only a dropped one
        held is dropped in the same pass), then of the ints nothing holds."""
        table = self._table
        for key in reversed(list(table)):
            if sys.getrefcount(table[key]) <= 2:  # the table's own reference and the call's
                del table[key]
        ints = self._ints
        for n in list(ints):
            if sys.getrefcount(n) <= 5:  # the dict's key and value, the list's, `n` and the call's
                del ints[n]
        self._sweep_at = max(2 * len(table), _MIN_SWEEP)


def _service_spec(spec: Any) -> Any:
    """The fields of a Service's spec that bmlb reads; anything malformed kept as it is (parse names it)."""
    if not isinstance(spec, Mapping):
        return spec
    out = {k: v for k, v in spec.items() if k in SERVICE_SPEC}
    ports = out.get("ports")
    if isinstance(ports, list):
        out["ports"] = [{k: v for k, v in p.items() if k in SERVICE_PORT} if isinstance(p, Mapping) else p
                        for p in ports]
    return out
