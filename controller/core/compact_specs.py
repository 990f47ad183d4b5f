"""Validated specs made light for keeping: the compile holds one per object (30,000 at 10,000
Services), and a pydantic instance keeps a dict and a set of its own."""

from __future__ import annotations

import dataclasses
import sys
from typing import Any, TypeVar, cast

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)
_MIRRORS: dict[type[BaseModel], type] = {}


def _mirror_class(cls: type[BaseModel]) -> type:
    """A frozen slotted class with the model's fields, in its order, and its properties."""
    mirror = _MIRRORS.get(cls)
    if mirror is None:
        mirror = dataclasses.make_dataclass(cls.__name__, tuple(cls.model_fields), frozen=True, slots=True)
        mirror.__module__ = __name__
        for name, attr in vars(cls).items():
            if isinstance(attr, property):
                setattr(mirror, name, attr)
        mirror.__doc__ = f"The values of a validated {cls.__name__} (compact_specs.compact)."
        mirror = _MIRRORS.setdefault(cls, mirror)
    return mirror


def compact(model: M) -> M:
    """The validated model's values, lighter: each model (nested ones too) becomes a frozen
    slotted object with the same fields and properties (a pydantic instance keeps a dict and a
    set of its own: ~400 bytes, ten per SecurityPolicy), lists are tuples (every empty one the
    same object) and short strings are the process's one copy of that text. Read as the model is
    read (attributes, equality); what pydantic adds (model_dump, model_copy) is not there: the
    compile never needs it. At 10,000 Services the parsed specs the compile keeps were ~50 MB."""
    return cast(M, _lite(model))


def _lite(value: Any) -> Any:
    if isinstance(value, BaseModel):
        cls = type(value)
        return _mirror_class(cls)(*(_lite(getattr(value, name)) for name in cls.model_fields))
    if isinstance(value, str):
        return sys.intern(value) if len(value) <= 64 else value
    if isinstance(value, list):  # a tuple: no spare room, and every empty one is the same object
        return tuple(_lite(item) for item in value)
    if isinstance(value, dict):
        return {_lite(k): _lite(v) for k, v in value.items()}
    return value
