"""Validated specs made light for keeping: the compile holds one per object (30,000 at 10,000
Services), and a pydantic instance keeps a dict and a set of its own."""

from __future__ import annotations

import functools
import operator
import sys
import types
import typing
from typing import Any, TypeVar, cast

from pydantic import BaseModel

from controller.core import shared

M = TypeVar("M", bound=BaseModel)
_MIRRORS: dict[type[BaseModel], tuple[type, tuple[str, ...]]] = {}


def _eq(self: tuple[Any, ...], other: object) -> bool:
    return type(self) is type(other) and tuple.__eq__(self, other)  # type: ignore[arg-type]


def _ne(self: tuple[Any, ...], other: object) -> bool:
    return not _eq(self, other)


def _repr(self: tuple[Any, ...]) -> str:
    fields = ", ".join(f"{name}={value!r}" for name, value in zip(self._fields, self, strict=True))  # type: ignore[attr-defined]
    return f"{type(self).__name__}({fields})"


def _mirror_class(cls: type[BaseModel]) -> tuple[type, tuple[str, ...]]:
    """A tuple class with the model's fields as read-only attributes, in its order, and its
    properties; equal only to one of its own class (made in one C call: a compile makes ~300,000)."""
    found = _MIRRORS.get(cls)
    if found is None:
        names = tuple(cls.model_fields)
        space: dict[str, Any] = {"__slots__": (), "_fields": names, "__eq__": _eq, "__ne__": _ne,
                                 "__hash__": tuple.__hash__, "__repr__": _repr, "__module__": __name__,
                                 "__doc__": f"The values of a validated {cls.__name__} (compact_specs.compact)."}
        space.update((name, property(operator.itemgetter(i))) for i, name in enumerate(names))
        space.update((name, attr) for name, attr in vars(cls).items() if isinstance(attr, property))
        found = _MIRRORS.setdefault(cls, (type(cls.__name__, (tuple,), space), names))
    return found


def compact(model: M) -> M:
    """The validated model's values, lighter: each model (nested ones too) becomes a read-only
    object with the same fields and properties (a pydantic instance keeps a dict and a set of its
    own: ~400 bytes, ten per SecurityPolicy), lists are tuples (every empty one the same object)
    and short strings are the process's one copy of that text. Read as the model is read
    (attributes, equality); what pydantic adds (model_dump, model_copy) is not there: the compile
    never needs it. At 10,000 Services the parsed specs the compile keeps were ~50 MB."""
    return cast(M, _lite(model))


def _lite(value: Any) -> Any:
    kind = type(value)
    if kind is str:
        return sys.intern(value) if len(value) <= 64 else value
    if kind in _PLAIN:
        return value
    if kind is list:
        return shared.strings(tuple([_lite(item) for item in value]))
    if isinstance(value, BaseModel):
        mirror, names = _mirror_class(kind)
        values = value.__dict__
        made = tuple.__new__(mirror, [_lite(values[name]) for name in names])
        return shared.textual(made) if _textual_model(kind) else made
    if kind is dict:
        return {_lite(k): _lite(v) for k, v in value.items()}
    return value


_PLAIN = frozenset({int, bool, float, type(None)})


@functools.cache
def _textual_model(cls: type[BaseModel]) -> bool:
    """Every value such a model can hold is text, a bool, None, or a tuple or model of them (by its
    declared types, which validation enforces): two equal ones are the same, so one copy serves
    both. A number could be equal to a bool (1 == True) and is never shared."""
    return all(_textual(f.annotation) for f in cls.model_fields.values())


def _textual(tp: Any) -> bool:
    if tp in (str, bool, type(None)):
        return True
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Literal:
        return all(type(a) in (str, bool, type(None)) for a in args)
    if origin in (list, tuple) or origin in (typing.Union, types.UnionType):
        return bool(args) and all(a is Ellipsis or _textual(a) for a in args)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return _textual_model(tp)
    return False
