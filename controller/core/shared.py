"""One copy of the small tuples thousands of compiled objects hold alike: the zones, sources,
applications and tags of 20,000 rules are a few distinct tuples, each made anew per rule (at
10,000 Services the compile cache held ~23 MB of tuples equal to another it held).

Only tuples of `str` are shared: equality decides which copy is returned, and among other
values equal is not the same (1 == True == 1.0). The tables are bounded (least recently used
forgotten), so names that never repeat cost a lookup, never memory."""

from __future__ import annotations

from functools import lru_cache
from typing import TypeVar

T = TypeVar("T")

_SIZE = 1 << 14


def strings(values: tuple[str, ...]) -> tuple[str, ...]:
    """`values`, or the equal tuple of strings handed out before."""
    for v in values:
        if type(v) is not str:
            return values
    return _strings(values)


@lru_cache(maxsize=_SIZE)
def _strings(values: tuple[str, ...]) -> tuple[str, ...]:
    return values


@lru_cache(maxsize=_SIZE, typed=True)
def protocol_port(protocol: str, port: int) -> tuple[str, int]:
    """One (protocol, port) pair per value (typed: port 1 and port True are told apart)."""
    return (protocol, port)


@lru_cache(maxsize=_SIZE)
def named(items: tuple[tuple[str, tuple[str, int]], ...]) -> tuple[tuple[str, tuple[str, int]], ...]:
    """One copy of a fragment's (service object name, (protocol, port)) items: each name is rendered
    from its own (protocol, port) (controller/core/naming.py), so equal names carry the same value."""
    return items


def names(values: frozenset[str]) -> frozenset[str]:
    """A set of text (the namespaces a fragment names), or the equal one handed out before."""
    for v in values:
        if type(v) is not str:
            return values
    return _names(values)


@lru_cache(maxsize=_SIZE)
def _names(values: frozenset[str]) -> frozenset[str]:
    return values


def ports(pairs: frozenset[tuple[str, int]]) -> frozenset[tuple[str, int]]:
    """`pairs` of (protocol, port), or the equal set handed out before (only when every protocol is
    text and every port an int, not a bool)."""
    for protocol, port in pairs:
        if type(protocol) is not str or type(port) is not int:
            return pairs
    return _ports(pairs)


@lru_cache(maxsize=_SIZE)
def _ports(pairs: frozenset[tuple[str, int]]) -> frozenset[tuple[str, int]]:
    return pairs


def textual(value: T) -> T:
    """A hashable value made only of text, bools and None (by its declared types: a validated
    model's), or the equal one handed out before."""
    return _textual(value)


@lru_cache(maxsize=_SIZE)
def _textual(value: T) -> T:
    return value
