"""IP address management: a pure, deterministic allocator over the pools (controller/core/pools.py).

Rules, in the order they are applied (each request sorted by creation time, then identity):
1. An address a requester already holds is kept while it is still valid: in the requested
   pool/addresses, in a pool that admits the namespace, not taken by an earlier holder. An address
   left outside every pool by a pool edit is kept too (with a warning): a pool edit never re-IPs.
2. Explicitly requested addresses (`bmlb.io/ip`, NATRule public.address) are checked and taken.
3. Everything else draws the lowest free address of the requested pool, or of the
   auto-assign pools that admit the namespace, by pool name.
Sharing: requesters in one namespace with the same sharing key may hold one address if their
ports do not overlap.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from controller.core.pools import IPAddress, Pool
from controller.core.problems import ObjectRef, Problem, Severity
from controller.core.reasons import Code
from ipvs.model import address_text

PortKey = tuple[str, int]  # (protocol, port)


@dataclass(frozen=True, slots=True)
class Request:
    """One requester of addresses: a Service (purpose Service) or a NATRule (purpose Public)."""

    ref: ObjectRef
    namespace: str
    purpose: str = "Service"
    families: tuple[int, ...] = (4,)
    require_all_families: bool = True
    pool: str | None = None
    requested: tuple[IPAddress, ...] = ()
    sharing_key: str | None = None
    ports: frozenset[PortKey] = frozenset()
    current: tuple[IPAddress, ...] = ()
    order: str = ""  # creation timestamp; "" sorts first
    path_pool: str = "metadata.annotations[bmlb.io/pool]"
    path_ip: str = "metadata.annotations[bmlb.io/ip]"


@dataclass(frozen=True, slots=True)
class Assignment:
    ref: ObjectRef
    addresses: tuple[IPAddress, ...]
    pools: tuple[str, ...]  # the pool of each address ("" when outside every pool)
    # The addresses as a Service's status reports them: written once, not by every compile that
    # reuses the assignment (controller/core/ipam_delta.py).
    text: str = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", ",".join(map(address_text, self.addresses)))


@dataclass
class _Holding:
    namespace: str
    sharing_key: str | None
    ports: set[PortKey] = field(default_factory=set)
    holders: list[ObjectRef] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Result:
    assignments: tuple[Assignment, ...]
    problems: tuple[Problem, ...]

    def addresses_of(self, ref: ObjectRef) -> tuple[IPAddress, ...]:
        for a in self.assignments:
            if a.ref == ref:
                return a.addresses
        return ()


_UNSEEN = object()


class _Allocator:
    def __init__(self, pools: Iterable[Pool], pool_of: dict[IPAddress, Pool | None] | None = None,
                 settled: Mapping[IPAddress, Request] | None = None) -> None:
        self.pools = sorted(pools, key=lambda p: p.name)
        # Addresses held by requests not run here, whose holding is the same whatever this run does
        # (controller/core/ipam_delta.py); each becomes a holding when first looked at.
        self.settled: Mapping[IPAddress, Request] = {} if settled is None else settled
        self.by_name = {p.name: p for p in self.pools}
        self.used: dict[IPAddress, _Holding] = {}
        self.problems: list[Problem] = []
        self._cursors: dict[tuple[str, int], Iterator[IPAddress]] = {}
        self.kept_in: dict[IPAddress, str] = {}  # kept addresses outside every pool -> their home pool
        self._pool_of: dict[IPAddress, Pool | None] = {} if pool_of is None else pool_of

    def pool_of(self, ip: IPAddress) -> Pool | None:
        if (found := self._pool_of.get(ip, _UNSEEN)) is _UNSEEN:  # None is an answer: in no pool
            found = self._pool_of[ip] = next((p for p in self.pools if p.contains(ip)), None)
        return found  # type: ignore[return-value]

    def held(self, ip: IPAddress) -> _Holding | None:
        holding = self.used.get(ip)
        if holding is None and (u := self.settled.get(ip)) is not None:
            holding = self.used[ip] = _Holding(u.namespace, u.sharing_key, set(u.ports), [u.ref])
        return holding

    def can_hold(self, req: Request, ip: IPAddress) -> str | None:
        """None when `req` may take `ip` now; else the reason it may not."""
        holding = self.held(ip)
        if holding is None:
            return None
        if holding.namespace != req.namespace:
            return f"{ip} is already held in another namespace"  # never name another tenant's objects
        who = ", ".join(str(h) for h in holding.holders)
        if not (req.sharing_key and holding.sharing_key == req.sharing_key):
            return f"{ip} is already held by {who}"
        clash = holding.ports & req.ports
        if clash:
            ports = ", ".join(f"{p}/{proto}" for proto, p in sorted(clash))
            return f"{ip} is shared with {who}, which already uses port {ports}"
        return None

    def take(self, req: Request, ip: IPAddress) -> None:
        holding = self.held(ip)
        if holding is None:
            holding = self.used[ip] = _Holding(req.namespace, req.sharing_key)
        holding.ports |= req.ports
        holding.holders.append(req.ref)

    def problem(self, req: Request, path: str, code: Code, msg: str, *, warn: bool = False) -> None:
        sev = Severity.WARNING if warn else Severity.ERROR
        self.problems.append(Problem(req.ref, path, code, msg, sev))

    def denies(self, req: Request, path: str, ip: IPAddress, pool: Pool, why: str) -> bool:
        """True, and the problem said, when `pool` does not admit the request's namespace."""
        if pool.admits(req.namespace):
            return False
        self.problem(req, path, Code.PoolDeniesNamespace, f"{ip} belongs to VIPPool {pool.name!r}, which {why}")
        return True

    def candidate_pools(self, req: Request) -> list[Pool]:
        if req.pool:
            p = self.by_name.get(req.pool)
            return [p] if p and p.purpose == req.purpose and p.admits(req.namespace) else []
        return [p for p in self.pools if p.purpose == req.purpose and p.auto_assign and p.admits(req.namespace)]

    def check_pool_request(self, req: Request) -> bool:
        if not req.pool:
            return True
        p = self.by_name.get(req.pool)
        if p is None:
            self.problem(req, req.path_pool, Code.PoolNotFound, f"no VIPPool named {req.pool!r}")
        elif p.purpose != req.purpose:
            self.problem(req, req.path_pool, Code.PoolPurposeMismatch,
                         f"VIPPool {req.pool!r} has purpose {p.purpose}, this needs a {req.purpose} pool")
        elif not p.admits(req.namespace):
            self.problem(req, req.path_pool, Code.PoolDeniesNamespace,
                         f"VIPPool {req.pool!r} does not admit namespace {req.namespace!r}")
        else:
            return True
        return False

    def keep_current(self, req: Request, want: dict[int, IPAddress]) -> None:
        for ip in req.current:
            if ip.version not in req.families or ip.version in want:
                continue
            if req.requested and ip not in req.requested:
                continue
            pool = self.pool_of(ip)
            if pool is not None:
                if pool.purpose != req.purpose or (req.pool and pool.name != req.pool):
                    continue
                if not pool.admits(req.namespace) and self.denies(
                        req, req.path_pool, ip, pool, f"no longer admits namespace {req.namespace!r}; it was released"):
                    continue
            if self.can_hold(req, ip) is not None:
                continue
            if pool is None:
                # Outside every pool after a pool edit: it keeps the zone of the pool it would draw from.
                home = next((p for p in self.candidate_pools(req) if ip.version in p.families()), None)
                if home is not None:
                    self.kept_in[ip] = home.name
                self.problem(req, "status.loadBalancer.ingress", Code.OutOfPool,
                             f"{ip} is no longer in any VIPPool; it is kept so the Service keeps "
                             "its address. Change or delete the Service to release it", warn=True)
            self.take(req, ip)
            want[ip.version] = ip

    def take_requested(self, req: Request, want: dict[int, IPAddress]) -> None:
        for ip in req.requested:
            if ip in want.values():
                continue
            if ip.version not in req.families:
                self.problem(req, req.path_ip, Code.FamilyMismatch,
                             f"{ip} is IPv{ip.version}, the Service asks for IPv"
                             f"{'/IPv'.join(str(f) for f in req.families)}")
                continue
            if ip.version in want:
                self.problem(req, req.path_ip, Code.TooManyAddresses,
                             f"more than one IPv{ip.version} address requested")
                continue
            pool = self.pool_of(ip)
            if pool is None or pool.purpose != req.purpose:
                self.problem(req, req.path_ip, Code.IPNotInPool,
                             f"{ip} is not in any VIPPool of purpose {req.purpose}")
                continue
            if req.pool and pool.name != req.pool:
                self.problem(req, req.path_ip, Code.IPNotInPool,
                             f"{ip} is in VIPPool {pool.name!r}, not in the requested pool {req.pool!r}")
                continue
            if self.denies(req, req.path_ip, ip, pool, f"does not admit namespace {req.namespace!r}"):
                continue
            if not pool.usable(ip):
                self.problem(req, req.path_ip, Code.IPAvoided,
                             f"{ip} ends in .0 or .255, which VIPPool {pool.name!r} avoids (avoidBuggyIPs)")
                continue
            reason = self.can_hold(req, ip)
            if reason is not None:
                self.problem(req, req.path_ip, Code.IPInUse, reason)
                continue
            self.take(req, ip)
            want[ip.version] = ip

    def draw(self, req: Request, want: dict[int, IPAddress]) -> None:
        pools = self.candidate_pools(req)
        for version in req.families:
            if version in want:
                continue
            family_pools = [p for p in pools if version in p.families()]
            ip = self._shared_candidate(req, family_pools, version) or self._free(family_pools, version)
            if ip is not None:
                self.take(req, ip)
                want[version] = ip
            elif req.require_all_families or not want:
                if not family_pools:
                    msg = (f"VIPPool {req.pool!r} has no IPv{version} addresses" if req.pool else
                           f"no auto-assign VIPPool of purpose {req.purpose} offers IPv{version} "
                           f"addresses to namespace {req.namespace!r}")
                    self.problem(req, req.path_pool, Code.NoPool, msg)
                else:
                    names = ", ".join(p.name for p in family_pools)
                    self.problem(req, req.path_pool, Code.PoolExhausted,
                                 f"no free IPv{version} address left in VIPPool {names}")

    def _shared_candidate(self, req: Request, pools: list[Pool], version: int) -> IPAddress | None:
        if not req.sharing_key:
            return None
        for ip in sorted((ip for ip in {*self.used, *self.settled} if ip.version == version), key=int):
            if self.can_hold(req, ip) is None and any(p.usable(ip) for p in pools):
                return ip
        return None

    def _free(self, pools: list[Pool], version: int) -> IPAddress | None:
        for p in pools:
            # One cursor per pool and family: addresses before it are taken for this compile.
            cursor = self._cursors.setdefault((p.name, version), p.candidates(version))
            for ip in cursor:
                if ip not in self.used and self.settled.get(ip) is None:
                    return ip
        return None


def allocate(pools: Iterable[Pool], requests: Iterable[Request], *, assign_new: bool = True,
             pool_of: dict[IPAddress, Pool | None] | None = None) -> Result:
    """Allocate addresses. With assign_new=False only addresses already held are confirmed (a node
    agent uses what the controller recorded, and never draws one itself). pool_of: the pool each
    address is in, as found by an earlier allocation over these very pools (filled in as found)."""
    alloc = _Allocator(pools, pool_of)
    ordered = sorted(requests, key=lambda r: (r.order, r.ref))
    return Result(tuple(run(alloc, ordered, assign_new)), tuple(alloc.problems))


def run(alloc: _Allocator, ordered: list[Request], assign_new: bool) -> list[Assignment]:
    """The rules above over `ordered` (sorted by creation, then identity): their assignments, by ref."""
    wants: dict[ObjectRef, dict[int, IPAddress]] = {r.ref: {} for r in ordered}
    valid = {r.ref: alloc.check_pool_request(r) for r in ordered}
    for r in ordered:
        if valid[r.ref]:
            alloc.keep_current(r, wants[r.ref])
    for r in ordered:
        if valid[r.ref] and assign_new:
            alloc.take_requested(r, wants[r.ref])
    for r in ordered:
        if valid[r.ref] and assign_new and not r.requested:
            alloc.draw(r, wants[r.ref])
    assignments = []
    for r in ordered:
        want = wants[r.ref]
        if not want:
            continue
        ips = tuple(want[v] for v in sorted(want))
        pools_of = tuple(getattr(alloc.pool_of(ip), "name", "") or alloc.kept_in.get(ip, "") for ip in ips)
        assignments.append(Assignment(r.ref, ips, pools_of))
    assignments.sort(key=lambda a: a.ref)
    return assignments
