"""One copy of the small values thousands of compiled objects hold alike: the zones, sources,
applications and tags of 20,000 rules are a few distinct tuples, each made anew per rule (at
10,000 Services the compile cache held ~23 MB of tuples equal to another it held).

Equality decides which copy is returned, and equal is not always the same (1 == True == 1.0):
only values whose every element is text (or, for ports, an int that is not a bool) are shared.
One table, bounded (least recently used forgotten): values that never repeat cost a lookup,
never memory, and nothing one namespace writes can change a value another one holds."""

from __future__ import annotations

from functools import lru_cache
from typing import TypeVar

T = TypeVar("T")


@lru_cache(maxsize=1 << 16)
def _one(value: T) -> T:
    return value


def strings(values: tuple[str, ...]) -> tuple[str, ...]:
    """`values`, or the equal tuple of strings handed out before."""
    for v in values:
        if type(v) is not str:
            return values
    return _one(values)


def names(values: frozenset[str]) -> frozenset[str]:
    """A set of text (the namespaces a fragment names), or the equal one handed out before."""
    for v in values:
        if type(v) is not str:
            return values
    return _one(values)


def ports(pairs: frozenset[tuple[str, int]]) -> frozenset[tuple[str, int]]:
    """`pairs` of (protocol, port), or the equal set handed out before (only when every protocol is
    text and every port an int, not a bool)."""
    for protocol, port in pairs:
        if type(protocol) is not str or type(port) is not int:
            return pairs
    return _one(pairs)


def protocol_port(protocol: str, port: int) -> tuple[str, int]:
    """One (protocol, port) pair per value (port 1 and port True are told apart)."""
    pair = (protocol, port)
    return _one(pair) if type(protocol) is str and type(port) is int else pair


def named(items: tuple[tuple[str, tuple[str, int]], ...]) -> tuple[tuple[str, tuple[str, int]], ...]:
    """One copy of a fragment's (service object name, (protocol, port)) items: each name is rendered
    from its own (protocol, port) (controller/core/naming.py), so equal names carry the same value."""
    return _one(items)


def textual(value: T) -> T:
    """A hashable value made only of text, bools and None (by its declared types: a validated
    model's), or the equal one handed out before."""
    return _one(value)
