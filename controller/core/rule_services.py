"""Which ports a security rule's services match: service objects, groups and predefined
services as protocol -> port intervals, known from both sides (`under` surely, `over` maybe; see
controller/core/shadowing.py)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from controller.core.audit_rulebase import PREDEFINED_SERVICES, Policy
from controller.core.intervals import Intervals, contains, intersect, normalize

PORTS = ((0, 65535),)
PROTOCOLS = ("tcp", "udp", "sctp")

# Services: protocol -> port intervals, plus "other" (any non-TCP/UDP/SCTP traffic, ICMP...)
Ports = tuple[tuple[str, Intervals], ...]
APP_DEFAULT = "application-default"


@dataclass(frozen=True, slots=True)
class ServiceSet:
    app_default: bool
    under: Ports
    over: Ports


def _ports(text: str) -> tuple[list[tuple[int, int]], bool]:
    out, bad = [], False
    for part in text.split(","):
        part = part.strip()
        try:
            if "-" in part:
                a, b = part.split("-", 1)
                out.append((int(a), int(b)))
            elif part:
                out.append((int(part), int(part)))
        except ValueError:
            bad = True
    return out, bad


ANY_PORTS: Ports = tuple((p, PORTS) for p in (*PROTOCOLS, "other"))


@functools.lru_cache(maxsize=1 << 16)
def services(policy: Policy, values: tuple[str, ...]) -> ServiceSet:
    if "any" in values:
        return ServiceSet(False, ANY_PORTS, ANY_PORTS)
    if APP_DEFAULT in values:
        return ServiceSet(True, (), ANY_PORTS)
    per: dict[str, list[tuple[int, int]]] = {}
    unknown = False
    for v in values:
        unknown |= _service(policy, v, per, set())
    known = tuple((p, normalize(per[p])) for p in sorted(per))
    return ServiceSet(False, known, ANY_PORTS if unknown else known)


def _service(policy: Policy, name: str, per: dict[str, list[tuple[int, int]]], seen: set[str]) -> bool:
    defined = policy.services.get(name, PREDEFINED_SERVICES.get(name))
    if defined is not None:
        unknown = False
        for proto, ports in defined:
            got, bad = _ports(ports)
            per.setdefault(proto, []).extend(got)
            unknown |= bad
        return unknown or not defined
    if name in policy.service_groups and name not in seen:
        return any([_service(policy, m, per, seen | {name}) for m in policy.service_groups[name]])
    return True


def ports_contain(big: Ports, small: Ports) -> bool:
    b = dict(big)
    return all(contains(b.get(p, ()), iv) for p, iv in small)


def ports_intersect(a: Ports, b: Ports) -> bool:
    bb = dict(b)
    return any(intersect(iv, bb.get(p, ())) for p, iv in a)


def port_matches(s: ServiceSet, proto: str, port: int, *, sure: bool) -> bool:
    if s.app_default:
        return not sure  # the application's default ports: not known from the config
    return any(p == proto and contains(iv, ((port, port),)) for p, iv in (s.under if sure else s.over))
