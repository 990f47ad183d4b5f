"""A Firewall's desired state assembled from one Part per namespace, so that a compile after a
change in one namespace replays the others' parts whole instead of looking up each of their
NATRules and SecurityPolicies (at 10,000 Services, ~40% of a one-Service compile).

A namespace's part depends on nothing outside it: a NATRule publishes only a Service of its own
namespace, a SecurityPolicy selects only its own namespace's Services
(controller/core/rules.py `_publication`, controller/core/security_rules.py `select_services`).
Its memo inputs are therefore its publications, policies and Services with their VIPs, plus the
ownership tag and the pools' zones. A VIP's address object is made afterwards from the whole
estate (it may name Services of several namespaces), never inside a part.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from controller.core.compile_cache import KeyedMemo
from controller.core.ipam import Assignment
from controller.core.problems import ObjectRef, Problem
from controller.core.rule_builder import Fragment
from controller.core.services import LBService

Entry = tuple[tuple[object, ...], Any]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Part:
    """The NATRules' and SecurityPolicies' fragments of a set of objects, in order, and what the
    firewall takes from them."""

    nat_frags: tuple[Fragment, ...]
    policy_frags: tuple[Fragment, ...]
    nat: tuple[Entry, ...]
    security: tuple[Entry, ...]
    owned: Mapping[ObjectRef, tuple[str, ...]]
    problems: tuple[Problem, ...]
    selections: Mapping[ObjectRef, list[LBService]]
    # Each of the two fragment lists as one fragment (the first to name an object wins), for
    # Builder.merge; None where the firewall is built by applying every fragment in order.
    merged: tuple[Fragment, Fragment] | None
    carried: tuple[tuple[ObjectRef, ...], tuple[ObjectRef, ...]]  # its NATRules, its SecurityPolicies


def combine(frags: Sequence[Fragment]) -> Fragment:
    """The fragments as one, as Builder.merge reads them: each name's first value, in any order of
    merging whole runs; rules, namespaces and problems are not merged here."""
    addresses: dict[str, Any] = {}
    services: dict[str, Any] = {}
    vips: dict[str, Any] = {}
    for frag in reversed(frags):
        addresses.update(frag.addresses)
        services.update(frag.services)
        vips.update(frag.vips)
    return Fragment((), tuple(addresses.items()), tuple(services.items()), tuple(vips.items()),
                    frozenset().union(*(f.namespaces for f in frags)), ())


def _runs(items: Sequence[T], ns: Callable[[T], str]) -> dict[str, list[T]] | None:
    """The items by namespace, each namespace one contiguous run; None if one is split."""
    out: dict[str, list[T]] = {}
    last = None
    for item in items:
        n = ns(item)
        if n != last:
            if n in out:
                return None
            out[n] = []
            last = n
        out[n].append(item)
    return out


def by_namespace(memo: KeyedMemo[Part], name: tuple[object, ...], common: tuple[object, ...],
                 publications: Sequence[Any], policies: Sequence[Any],
                 services: Mapping[tuple[str, str], LBService], vips: Mapping[ObjectRef, Assignment],
                 make: Callable[[list[Any], list[Any]], Part]) -> list[Part] | None:
    """One Part per namespace, in namespace order, reused while its inputs compare equal; None
    where the publications or policies are not grouped by namespace (then: one part, unmemoized)."""
    pubs = _runs(publications, lambda p: p.nat.ref.namespace)
    pols = _runs(policies, lambda p: p.ref.namespace)
    if pubs is None or pols is None or list(pubs) != sorted(pubs) or list(pols) != sorted(pols):
        return None
    in_ns: dict[str, list[tuple[LBService, Assignment | None]]] = {}
    for (ns, _), svc in services.items():
        in_ns.setdefault(ns, []).append((svc, vips.get(svc.ref)))
    parts = []
    for ns in sorted(pubs.keys() | pols.keys()):
        p, q = pubs.get(ns, []), pols.get(ns, [])
        inputs = (common, tuple(p), tuple(q), tuple(in_ns.get(ns, ())))
        parts.append(memo.get((*name, ns), inputs, lambda p=p, q=q: make(p, q)))
    return parts
