"""A port reference (a SecurityPolicy rule's `ports` entry, a NATRule's `service.port`): which
port of a Service it names, and the words for one that names no port of the Services it applies
to, with the protocol hint when the name or number exists with another protocol (a `dns` port
that is UDP, asked for as the default TCP)."""

from __future__ import annotations

from collections.abc import Sequence

from controller.core import specs
from controller.core.services import LBService

SHOWN = 5  # Services named, and ports listed, in one message at most


def find(svc: LBService, ref: int | str | None, protocol: str) -> specs.ServicePort | None:
    """The Service's port `ref` (a number or a name) of `protocol`, or None."""
    if isinstance(ref, int):
        return svc.port(number=ref, protocol=protocol)
    if isinstance(ref, str):
        return svc.port(name=ref, protocol=protocol)
    return None  # an entry with neither (the CRD refuses it; offline input may have one)


def offered(services: Sequence[LBService]) -> set[tuple[int | str, str]]:
    """Every (number, protocol) and (name, protocol) the Services offer: what `find` would find
    on one of them."""
    return {key for s in services for p in s.spec.ports for key in ((p.port, p.protocol), (p.name, p.protocol))}


def _named(svc: LBService, ref: int | str | None) -> list[specs.ServicePort]:
    """The Service's ports `ref` names, of any protocol."""
    return [p for p in svc.spec.ports if (p.port == ref if isinstance(ref, int) else p.name == ref)]


def _text(p: specs.ServicePort) -> str:
    return f"{p.name} ({p.port}/{p.protocol})" if p.name else f"{p.port}/{p.protocol}"


def _some(items: Sequence[str], total: int) -> str:
    """The first SHOWN of `total` items (only those need formatting: a selector may match
    thousands of Services)."""
    shown = ", ".join(items[:SHOWN])
    return shown if total <= SHOWN else f"{shown} and {total - SHOWN} more"


def _want(ref: int | str | None, protocol: str) -> str:
    if ref is None:
        return "a port entry with neither port nor name"
    return f"port {ref} ({protocol})" if isinstance(ref, int) else f"port {ref!r} ({protocol})"


def unmatched(ref: int | str | None, protocol: str, services: Sequence[LBService]) -> str:
    """Why `ref`/`protocol` names no port of any of `services` (none of which has it)."""
    one = len(services) == 1
    names = [f"{s.namespace}/{s.name}" for s in services[:SHOWN]]
    where = f"Service {names[0]}" if one else \
        f"any of the {len(services)} Services it applies to ({_some(names, len(services))})"
    head = f"{_want(ref, protocol)} matches no port of {where}"
    other = [(s, p) for s in services for p in _named(s, ref)]
    if other:
        protocols = " or ".join(sorted({p.protocol for _, p in other}))
        has = [_text(p) if one else f"{s.namespace}/{s.name} has {_text(p)}" for s, p in other[:SHOWN]]
        return f"{head}; {'it has ' if one else ''}{_some(has, len(other))}: set protocol: {protocols}"
    have = list(dict.fromkeys((p.name, p.port, p.protocol) for s in services for p in s.spec.ports))
    texts = [_text(specs.ServicePort(name=n, port=p, protocol=proto)) for n, p, proto in have[:SHOWN]]
    return f"{head}; {'it has' if one else 'they have'} {_some(texts, len(have)) or 'no ports'}"
