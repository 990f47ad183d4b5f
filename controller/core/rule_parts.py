"""A Firewall's desired state assembled from parts: per namespace, runs of its NATRules and runs
of its SecurityPolicies, so that a compile after a change remakes only the runs it touches instead
of looking up every NATRule and SecurityPolicy (at 10,000 Services, ~40% of a one-Service compile).

A namespace depends on nothing outside it: a NATRule publishes only a Service of its own
namespace, a SecurityPolicy selects only its own namespace's Services
(controller/core/rules.py `_publication`, controller/core/security_rules.py `select_services`).
A namespace whose publications, policies and Services (with their VIPs) are the same as at the
last compile, under the same ownership tag and zones, is reused whole. In one that changed, a run
of NATRules is remade unless its publications are the very same; a run of policies unless its
policies are the very same and none of them could select a Service that changed (names it, or
selects by label). A VIP's address object is made afterwards from the whole estate (it may name
Services of several namespaces), never in a part.
"""

from __future__ import annotations

import operator
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from controller.core.compile_cache import StateMemo
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


RUN = 64  # objects per run on average: a run ends after an object whose name hashes to 0 mod RUN


def _cut(items: Sequence[T], name: Callable[[T], str]) -> list[tuple[T, ...]]:
    """Consecutive runs whose ends depend on the names alone: an object added or removed moves
    the ends of its own run only, not of every run after it."""
    runs, run = [], []
    for item in items:
        run.append(item)
        if zlib.crc32(name(item).encode()) % RUN == 0:
            runs.append(tuple(run))
            run = []
    if run:
        runs.append(tuple(run))
    return runs


@dataclass(frozen=True, slots=True)
class _Namespace:
    """What the last compile made of one namespace: its inputs, its Services as its rules saw them,
    and its runs of NATRules and of SecurityPolicies with their parts."""

    inputs: tuple[Any, ...]  # (ownership tag and zones, publications, policies, (Service, VIPs) pairs)
    nat_runs: dict[ObjectRef, tuple[tuple[Any, ...], Part]]  # by first NATRule
    policy_runs: dict[ObjectRef, tuple[tuple[Any, ...], frozenset[str], bool, Part]]  # by first policy
    parts: list[Part]


def _same(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    return len(a) == len(b) and all(map(operator.is_, a, b))


def by_namespace(memo: StateMemo[_Namespace], name: tuple[object, ...], common: tuple[object, ...],
                 publications: Sequence[Any], policies: Sequence[Any],
                 services: Mapping[tuple[str, str], LBService], vips: Mapping[ObjectRef, Assignment],
                 make: Callable[[list[Any], list[Any]], Part]) -> list[Part] | None:
    """The parts of every namespace, in namespace order; None where the publications or policies
    are not grouped by namespace (then: one part, unmemoized)."""
    pubs = _runs(publications, lambda p: p.nat.ref.namespace)
    pols = _runs(policies, lambda p: p.ref.namespace)
    if pubs is None or pols is None or list(pubs) != sorted(pubs) or list(pols) != sorted(pols):
        return None
    in_ns: dict[str, list[tuple[LBService, Assignment | None]]] = {}
    for (ns, _), svc in services.items():
        in_ns.setdefault(ns, []).append((svc, vips.get(svc.ref)))
    parts: list[Part] = []
    for ns in sorted(pubs.keys() | pols.keys()):
        p, q, s = tuple(pubs.get(ns, ())), tuple(pols.get(ns, ())), tuple(in_ns.get(ns, ()))
        key, inputs = (*name, ns), (common, p, q, s)
        old = memo.peek(key)
        if old is not None and old.inputs == inputs:
            memo.hits += len(old.parts)
            made = old
        else:
            made = _remake(memo, old if old is not None and old.inputs[0] == common else None, inputs, make)
        memo.put(key, made)
        parts += made.parts
    return parts


def _remake(memo: StateMemo[_Namespace], old: _Namespace | None, inputs: tuple[Any, ...],
            make: Callable[[list[Any], list[Any]], Part]) -> _Namespace:
    """A namespace that changed: a run of NATRules is made again unless its publications are the
    same; a run of policies unless they are the same and none could select a Service that changed
    (one it names, or any, for a policy with a label selector: controller/core/security_rules.py)."""
    _, pubs, pols, _ = inputs
    moved = _moved(old.inputs, inputs) if old is not None else set()
    nat_runs: dict[ObjectRef, tuple[tuple[Any, ...], Part]] = {}
    for run in _cut(pubs, lambda p: p.nat.ref.name):
        o = old.nat_runs.get(run[0].nat.ref) if old is not None else None
        if o is not None and _same(o[0], run):
            memo.hits += 1
            nat_runs[run[0].nat.ref] = o
        else:
            memo.misses += 1
            nat_runs[run[0].nat.ref] = (run, make(list(run), []))
    policy_runs: dict[ObjectRef, tuple[tuple[Any, ...], frozenset[str], bool, Part]] = {}
    for run in _cut(pols, lambda p: p.ref.name):
        q = old.policy_runs.get(run[0].ref) if old is not None else None
        if q is not None and _same(q[0], run) and not (moved and (q[2] or q[1] & moved)):
            memo.hits += 1
            policy_runs[run[0].ref] = q
        else:
            memo.misses += 1
            names = frozenset(n for pol in run for n in pol.spec.services.names)
            selector = any(pol.spec.services.selector is not None and pol.spec.services.selector.match_labels
                           for pol in run)
            policy_runs[run[0].ref] = (run, names, selector, make([], list(run)))
    parts = [r[1] for r in nat_runs.values()] + [r[3] for r in policy_runs.values()]
    return _Namespace(inputs, nat_runs, policy_runs, parts)


def _moved(was: tuple[Any, ...], now: tuple[Any, ...]) -> set[str]:
    """The names of the Services whose policies' rules could differ: replaced, given other VIPs
    or publications, come or gone. By position while both lists keep their lengths (a change),
    else by name."""
    _, was_pubs, _, was_svcs = was
    _, pubs, _, svcs = now
    if len(was_svcs) != len(svcs) or len(was_pubs) != len(pubs):
        a, b = _by_name(now), _by_name(was)
        return {n for n in a.keys() | b.keys()
                if (x := a.get(n)) is None or (y := b.get(n)) is None or x[0] is not y[0] or x[1:] != y[1:]}
    moved = {n for x, y in zip(svcs, was_svcs, strict=True)
             if x[0] is not y[0] or (x[1] is not y[1] and x[1] != y[1]) for n in (x[0].name, y[0].name)}
    moved.update(n for x, y in zip(pubs, was_pubs, strict=True) if x is not y for n in (x.service.name, y.service.name))
    return moved


def _by_name(inputs: tuple[Any, ...]) -> dict[str, tuple[Any, ...]]:
    """Each Service's name -> (Service, its VIPs, its publications)."""
    _, pubs, _, svcs = inputs
    published: dict[str, list[Any]] = {}
    for pub in pubs:
        published.setdefault(pub.service.name, []).append(pub)
    return {svc.name: (svc, vip, tuple(published.get(svc.name, ()))) for svc, vip in svcs}
