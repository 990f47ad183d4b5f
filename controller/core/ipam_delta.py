"""IPAM in O(changes) for a compile with a cache: the same result as controller/core/ipam.py's
`allocate` over every request, from a run over the changed requests only.

A request is settled when the last run's rules gave it exactly the addresses it already held, all
of them, in pools, with no problem, no sharing key and nothing requested besides them. While the
pools are equal, such a request that did not change gets the same addresses again, and nothing
else can take them: the first rule (keep what you hold) runs before every other, and an address
no other request holds on entry can only be taken in it by an earlier request holding it too.
So when no changed or new request holds an address a settled one holds, the settled requests
keep their assignments and the rules run over the rest, with the settled addresses already
taken. Otherwise (or when the pools changed) everything is allocated again.

A request given new addresses would be settled once they are recorded (the echo of the status
bmlb writes): when it comes back changed in nothing but that, it is settled as it stands."""

from __future__ import annotations

import bisect
import dataclasses
import operator
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from controller.core import ipam
from controller.core.ipam import Assignment, Request, Result
from controller.core.pools import IPAddress, Pool
from controller.core.problems import ObjectRef


@dataclass(frozen=True)
class Last:
    """What the last run leaves for the next."""

    pools: tuple[Pool, ...]
    assign_new: bool
    requests: dict[ObjectRef, Request]
    assignments: tuple[Assignment, ...]  # sorted by ref
    settled: dict[ObjectRef, Assignment]
    by_ip: dict[IPAddress, Request]  # the settled requests' addresses
    pending: dict[ObjectRef, Assignment]  # would be settled once their addresses are recorded


class _Without(Mapping[IPAddress, Request]):
    """`by_ip` less the addresses of the requests in `out` (changed or gone since)."""

    def __init__(self, by_ip: dict[IPAddress, Request], out: set[ObjectRef]) -> None:
        self.by_ip, self.out = by_ip, out

    def get(self, ip: IPAddress, default: Request | None = None) -> Request | None:  # type: ignore[override]
        r = self.by_ip.get(ip)
        return r if r is not None and r.ref not in self.out else default

    def __getitem__(self, ip: IPAddress) -> Request:
        r = self.get(ip)
        if r is None:
            raise KeyError(ip)
        return r

    def __iter__(self) -> Iterator[IPAddress]:
        return (ip for ip, r in self.by_ip.items() if r.ref not in self.out)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def allocate(pools: Iterable[Pool], requests: Iterable[Request], *, assign_new: bool,
             pool_of: dict[IPAddress, Pool | None] | None, last: Last | None) -> tuple[Result, Last]:
    """`ipam.allocate(pools, requests, ...)`, reusing `last` (the previous run's) where it may."""
    pools, requests = tuple(pools), list(requests)
    by_ref = {r.ref: r for r in requests}
    if last is None or last.assign_new != assign_new or last.pools != pools or len(by_ref) != len(requests):
        return _run(pools, requests, by_ref, assign_new, pool_of, None, set())
    last = _recorded(last, requests)
    settled, old = last.settled, last.requests
    changed = [r for r in requests if r.ref not in settled or ((o := old.get(r.ref)) is not r and o != r)]
    out = {r.ref for r in changed} | (last.requests.keys() - by_ref.keys())
    for r in changed:
        for ip in r.current:
            holder = last.by_ip.get(ip)
            if holder is not None and holder.ref not in out:
                return _run(pools, requests, by_ref, assign_new, pool_of, None, set())  # contested
    return _run(pools, changed, by_ref, assign_new, pool_of, last, out)


_but_current = operator.attrgetter(*(f.name for f in dataclasses.fields(Request) if f.name != "current"))


def _recorded(last: Last, requests: list[Request]) -> Last:
    """`last` with the pending requests that came back with their addresses recorded, and changed
    in nothing else, settled."""
    echoed = {}
    for r in requests:
        a = last.pending.get(r.ref)
        if a is not None and r.current == a.addresses and (o := last.requests.get(r.ref)) is not None \
                and _but_current(o) == _but_current(r):
            echoed[r.ref] = (r, a)
    if not echoed:
        return last
    by_ip = last.by_ip.copy()
    for r, a in echoed.values():
        by_ip.update(dict.fromkeys(a.addresses, r))
    return dataclasses.replace(
        last, requests={**last.requests, **{ref: r for ref, (r, _) in echoed.items()}},
        settled={**last.settled, **{ref: a for ref, (_, a) in echoed.items()}}, by_ip=by_ip,
        pending={ref: a for ref, a in last.pending.items() if ref not in echoed})


def _run(pools: tuple[Pool, ...], requests: list[Request], by_ref: dict[ObjectRef, Request], assign_new: bool,
         pool_of: dict[IPAddress, Pool | None] | None, last: Last | None, out: set[ObjectRef]
         ) -> tuple[Result, Last]:
    """Run the rules over `requests`; with `last`, the settled requests outside `out` keep theirs."""
    settled_ips = _Without(last.by_ip, out) if last is not None else None
    alloc = ipam._Allocator(pools, pool_of, settled_ips)
    made = ipam.run(alloc, sorted(requests, key=lambda r: (r.order, r.ref)), assign_new)
    flagged = {p.ref for p in alloc.problems}
    settled = {a.ref: a for a in made if _settles(by_ref[a.ref], a, flagged, alloc.kept_in)}
    pending = {a.ref: a for a in made if a.ref not in settled and a.addresses and _settles(
        dataclasses.replace(by_ref[a.ref], current=a.addresses), a, flagged, alloc.kept_in)}
    if last is None:
        return Result(tuple(made), tuple(alloc.problems)), Last(
            pools, assign_new, by_ref, tuple(made), settled,
            {ip: by_ref[ref] for ref, a in settled.items() for ip in a.addresses}, pending)
    assignments = [a for a in last.assignments if a.ref not in out]
    for a in made:
        bisect.insort(assignments, a, key=lambda x: x.ref)
    kept, by_ip = last.settled.copy(), last.by_ip.copy()
    for ref in out:
        for ip in getattr(kept.pop(ref, None), "addresses", ()):
            by_ip.pop(ip, None)
    for ref, a in settled.items():
        kept[ref] = a
        by_ip.update(dict.fromkeys(a.addresses, by_ref[ref]))
    waiting = {ref: a for ref, a in last.pending.items() if ref not in out} | pending
    return Result(tuple(assignments), tuple(alloc.problems)), Last(
        pools, assign_new, by_ref, tuple(assignments), kept, by_ip, waiting)


def _settles(r: Request, a: Assignment, flagged: set[ObjectRef], kept_in: Mapping[IPAddress, str]) -> bool:
    """The rules gave `r` exactly what it held: nothing it does elsewhere can change that."""
    ips = a.addresses
    return (not r.sharing_key and r.ref not in flagged and all(ip in r.current for ip in ips)
            and {ip.version for ip in ips} == set(r.families) and set(r.requested) <= set(ips)
            and all(a.pools) and not any(ip in kept_in for ip in ips))
