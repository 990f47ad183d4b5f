"""Reconcile a desired IPVS table with a backend: read, diff, apply, bind/unbind VIPs.

    r = Reconciler(backend, link="bmlb0", drain_timeout=300.0)
    result = r.sync(desired, now=time.monotonic())   # -> Result
    r.plan(desired, now)                             # dry run: the Plan, nothing written

Ownership: bmlb's VIPs are those bound on `link` plus the desired ones. Services on any
other VIP (kube-proxy's, a user's) are never read into the diff, hence never touched.
VIPs are bound on `link` before the services appear and unbound after they are deleted.
The drain memory (when each leaving server was first seen) lives in this object only; a new
Reconciler rebuilds it from the kernel (see ipvs.drain). A second sync of the same table
applies zero operations.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ipvs import drain, sysctls
from ipvs.backend import Backend
from ipvs.diff import Plan, ServerRef, diff, leaving, ownership
from ipvs.drain import Connections
from ipvs.model import IPAddress, Table


@dataclass(frozen=True, slots=True)
class Result:
    plan: Plan
    applied: int
    bound: frozenset[IPAddress]
    unbound: frozenset[IPAddress]
    draining: frozenset[ServerRef]
    sysctls: tuple[str, ...]

    @property
    def changed(self) -> bool:
        return bool(self.applied or self.bound or self.unbound or self.sysctls)


class Reconciler:
    def __init__(
        self,
        backend: Backend,
        *,
        link: str = "bmlb0",
        drain_timeout: float = 300.0,
        manage_sysctls: bool = True,
    ) -> None:
        self.backend = backend
        self.link = link
        self.drain_timeout = drain_timeout
        self.manage_sysctls = manage_sysctls
        self._since: Mapping[ServerRef, float] = {}

    @property
    def draining(self) -> Mapping[ServerRef, float]:
        """Servers being drained, with when this agent first saw each leave."""
        return dict(self._since)

    def plan(self, desired: Table, now: float) -> Plan:
        return self._plan(desired, self.backend.addresses(self.link), now)[0]

    def sync(self, desired: Table, now: float) -> Result:
        bound = self.backend.addresses(self.link)
        plan, decision = self._plan(desired, bound, now)
        self._since = decision.since
        changed = self.backend.ensure_sysctls(sysctls.required(desired)) if self.manage_sysctls else ()
        to_bind = desired.vips - bound
        if to_bind:
            self.backend.ensure_link(self.link)
            self.backend.bind(self.link, sorted(to_bind, key=_vip_order))
        applied = self.backend.apply(plan) if plan else 0
        to_unbind = bound - desired.vips
        if to_unbind:
            self.backend.unbind(self.link, sorted(to_unbind, key=_vip_order))
        return Result(plan, applied, frozenset(to_bind), frozenset(to_unbind), decision.keep, changed)

    def _plan(self, desired: Table, bound: frozenset[IPAddress], now: float) -> tuple[Plan, drain.Decision]:
        owned = ownership(bound, desired)
        observed = self.backend.read(owned)
        refs = (ServerRef(s.key, r.key) for s, r in leaving(desired, observed.table))
        leave = {ref: observed.connections.get(ref, Connections()) for ref in refs}
        decision = drain.step(self._since, leave, now=now, timeout=self.drain_timeout)
        return diff(desired, observed.table, owned=owned, draining=decision.keep), decision


def _vip_order(vip: IPAddress) -> tuple[int, int]:
    return (vip.version, int(vip))
