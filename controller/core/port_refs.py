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


def _named(svc: LBService, ref: int | str | None) -> list[specs.ServicePort]:
    """The Service's ports `ref` names, of any protocol."""
    return [p for p in svc.spec.ports if (p.port == ref if isinstance(ref, int) else p.name == ref)]


def _text(p: specs.ServicePort) -> str:
    return f"{p.name} ({p.port}/{p.protocol})" if p.name else f"{p.port}/{p.protocol}"


def _some(items: Sequence[str]) -> str:
    shown = ", ".join(items[:SHOWN])
    return shown if len(items) <= SHOWN else f"{shown} and {len(items) - SHOWN} more"


def _want(ref: int | str | None, protocol: str) -> str:
    if ref is None:
        return "a port entry with neither port nor name"
    return f"port {ref} ({protocol})" if isinstance(ref, int) else f"port {ref!r} ({protocol})"


def unmatched(ref: int | str | None, protocol: str, services: Sequence[LBService]) -> str:
    """Why `ref`/`protocol` names no port of any of `services` (none of which has it)."""
    names = [f"{s.namespace}/{s.name}" for s in services]
    one = len(services) == 1
    where = f"Service {names[0]}" if one else f"any of the {len(services)} Services it applies to ({_some(names)})"
    head = f"{_want(ref, protocol)} matches no port of {where}"
    other_protocol = [(n, p) for n, s in zip(names, services, strict=True) for p in _named(s, ref)]
    if other_protocol:
        protocols = " or ".join(sorted({p.protocol for _, p in other_protocol}))
        has = f"it has {_some([_text(p) for _, p in other_protocol])}" if one else \
            _some([f"{n} has {_text(p)}" for n, p in other_protocol])
        return f"{head}; {has}: set protocol: {protocols}"
    have = list(dict.fromkeys(_text(p) for s in services for p in s.spec.ports))
    return f"{head}; {'it has' if one else 'they have'} {_some(have) or 'no ports'}"
