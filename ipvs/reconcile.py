"""Reconcile a desired IPVS table with a backend: diff against what was last applied, apply,
bind/unbind VIPs; verify against the kernel now and then.

    r = Reconciler(backend, link="bmlb0", drain_timeout=300.0, verify_every=60.0)
    result = r.sync(desired, now=time.monotonic())   # -> Result (result.verified: a full read)
    r.sync(desired, now, verify=True)                # force a full read of the kernel first
    r.plan(desired, now)                             # dry run: the Plan, nothing written

O(changes): the Reconciler remembers the owned part of the table and the VIPs bound as they
stand after its last successful sync, and diffs the next desired table against that memory:
a sync that changes nothing writes nothing and reads only the real servers that are leaving
(their connection counts decide the drain). It reads the whole owned table from the kernel
(verifies) on the first sync, every `verify_every` seconds, on request, and on the sync after
any error, so that a change made behind its back is repaired within `verify_every`.

Masquerade (ipvs.masquerade): the table's `masquerade` set is kept in bmlb's own nftables table,
read on the syncs that verify and written (one atomic replace) only when it differs; a failure
there (no nft, a refusal) is reported in Result.masquerade_error without stopping the IPVS part,
and retried on the next sync.

Ownership: bmlb's VIPs are those bound on `link` plus the desired ones. Services on any
other VIP (kube-proxy's, a user's) are never read into the diff, hence never touched.
VIPs are bound on `link` before the services appear and unbound after they are deleted.
The drain memory (when each leaving server was first seen) lives in this object only; a new
Reconciler rebuilds it from the kernel (see ipvs.drain). A second sync of the same table
applies zero operations.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass

from ipvs import drain, sysctls
from ipvs.backend import Backend, Observed
from ipvs.diff import Plan, ServerRef, diff, leaving, ownership
from ipvs.drain import Connections
from ipvs.errors import IpvsError
from ipvs.model import IPAddress, Masquerade, Table, VirtualService


@dataclass(frozen=True, slots=True)
class Result:
    plan: Plan
    applied: int
    bound: frozenset[IPAddress]
    unbound: frozenset[IPAddress]
    draining: frozenset[ServerRef]
    sysctls: tuple[str, ...]
    verified: bool = False  # this sync read the whole owned table from the backend
    masquerade: bool = False  # the masquerade table was rewritten
    masquerade_error: str | None = None

    @property
    def changed(self) -> bool:
        return bool(self.applied or self.bound or self.unbound or self.sysctls or self.masquerade)


class _Unknown:
    """The masquerade table's state after a failed read or write: read it again."""


UNKNOWN = _Unknown()


@dataclass(frozen=True, slots=True)
class _Known:
    """The backend's owned table and bound VIPs as this Reconciler left them."""

    table: Table
    bound: frozenset[IPAddress]
    sysctls: Mapping[str, str]
    masquerade: frozenset[Masquerade] | _Unknown | None


class Reconciler:
    def __init__(
        self,
        backend: Backend,
        *,
        link: str = "bmlb0",
        drain_timeout: float = 300.0,
        manage_sysctls: bool = True,
        verify_every: float = 60.0,
    ) -> None:
        self.backend = backend
        self.link = link
        self.drain_timeout = drain_timeout
        self.manage_sysctls = manage_sysctls
        self.verify_every = verify_every
        self._since: Mapping[ServerRef, float] = {}
        self._known: _Known | None = None
        self._verified_at = -math.inf

    @property
    def draining(self) -> Mapping[ServerRef, float]:
        """Servers being drained, with when this agent first saw each leave."""
        return dict(self._since)

    def forget(self) -> None:
        """Drop the memory of the applied table: the next sync reads the kernel in full."""
        self._known = None

    def plan(self, desired: Table, now: float) -> Plan:
        bound = self.backend.addresses(self.link)
        return self._plan(desired, bound, self.backend.read(ownership(bound, desired)), now)[0]

    def sync(self, desired: Table, now: float, *, verify: bool = False) -> Result:
        try:
            return self._sync(desired, now, verify)
        except BaseException:
            self._known = None  # after any error the kernel is the truth again
            raise

    def _sync(self, desired: Table, now: float, verify: bool) -> Result:
        known = self._known
        full = verify or known is None or now - self._verified_at >= self.verify_every
        masq: frozenset[Masquerade] | _Unknown | None = UNKNOWN
        if full or known is None:
            bound = self.backend.addresses(self.link)
            observed = self.backend.read(ownership(bound, desired))
            done: Mapping[str, str] = {}
        else:
            bound, done, masq = known.bound, known.sysctls, known.masquerade
            observed = self._refresh_leaving(desired, known.table)
        plan, decision = self._plan(desired, bound, observed, now)
        self._since = decision.since
        want = sysctls.required(desired) if self.manage_sysctls else {}
        changed = self.backend.ensure_sysctls(want) if want and dict(want) != dict(done) else ()
        to_bind = desired.vips - bound
        if to_bind:
            self.backend.ensure_link(self.link)
            self.backend.bind(self.link, sorted(to_bind, key=_vip_order))
        masq, rewrote, masq_error = self._masquerade(desired.masquerade or None, masq)
        applied = self.backend.apply(plan) if plan else 0
        to_unbind = bound - desired.vips
        if to_unbind:
            self.backend.unbind(self.link, sorted(to_unbind, key=_vip_order))
        self._known = _Known(_after(desired, observed.table, decision.keep), desired.vips, dict(want), masq)
        if full:
            self._verified_at = now
        return Result(plan, applied, frozenset(to_bind), frozenset(to_unbind), decision.keep, changed, full,
                      rewrote, masq_error)

    def _masquerade(self, want: frozenset[Masquerade] | None, have: frozenset[Masquerade] | _Unknown | None
                    ) -> tuple[frozenset[Masquerade] | _Unknown | None, bool, str | None]:
        """Bring the masquerade table to `want` (None: no table); returns what it now holds,
        whether it was written, and the error that left it unknown."""
        try:
            if isinstance(have, _Unknown):
                have = self.backend.masquerade()
            if have == want:
                return have, False, None
            self.backend.set_masquerade(want or ())
            return want, True, None
        except IpvsError as err:
            return UNKNOWN, False, str(err)

    def _refresh_leaving(self, desired: Table, known: Table) -> Observed:
        """The remembered table, with the services that lose real servers read afresh (their
        connection counts decide the drain)."""
        services = list({s.key: s for s, _ in leaving(desired, known)}.values())
        if not services:
            return Observed(known)
        fresh = self.backend.read_servers(services)
        new = {s.key: s for s in fresh.table.services}
        table = Table(tuple(new.get(s.key, s) for s in known.services))
        return Observed(table, fresh.connections)

    def _plan(self, desired: Table, bound: frozenset[IPAddress], observed: Observed, now: float
              ) -> tuple[Plan, drain.Decision]:
        actual = observed.table
        refs = (ServerRef(s.key, r.key) for s, r in leaving(desired, actual))
        leave = {ref: observed.connections.get(ref, Connections()) for ref in refs}
        decision = drain.step(self._since, leave, now=now, timeout=self.drain_timeout)
        return diff(desired, actual, owned=ownership(bound, desired), draining=decision.keep), decision


def _after(desired: Table, actual: Table, keep: frozenset[ServerRef]) -> Table:
    """The owned table once a plan built with `keep` draining is applied: desired, plus the
    drained servers at weight 0."""
    if not keep:
        return desired
    have = actual.by_key()
    held: dict[tuple[str, int, str, int], list[ServerRef]] = {}
    for ref in keep:
        held.setdefault(ref.service, []).append(ref)
    out: list[VirtualService] = []
    for svc in desired.services:
        refs = held.get(svc.key)
        if refs and svc.key in have:
            old = {r.key: r for r in have[svc.key].real_servers}
            extra = tuple(dataclasses.replace(old[ref.server], weight=0) for ref in refs if ref.server in old)
            svc = dataclasses.replace(svc, real_servers=svc.real_servers + extra)
        out.append(svc)
    return Table(tuple(out))


def _vip_order(vip: IPAddress) -> tuple[int, int]:
    return (vip.version, int(vip))
