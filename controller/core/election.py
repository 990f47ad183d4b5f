"""L2 mode's election rule, pure: which node announces each VIP, decided per VIP over its Lease
as one node sees it (the rule's explanation: controller/runtime/l2.py, which runs it against a
Lease store and the kernel).

    decide(now, vip, me, candidates, view) -> Action
    ranking(vip, nodes) -> nodes in the order they should announce vip (rendezvous hashing)
    wake_time(now, view), lifetime_for(duration), lease_name(vip)
"""

from __future__ import annotations

import enum
import hashlib
import ipaddress
import math
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Protocol

from ipvs.model import IPAddress

PREFIX = "bmlb-vip-"
DEFAULT_DURATION = 3.0
RELEASED_BY = "bmlb.io/released-by"



class Action(enum.Enum):
    ACQUIRE = "acquire"  # write this node as holder over a free or expired Lease (or create it)
    RENEW = "renew"
    WAIT = "wait"


@dataclass(frozen=True, slots=True)
class Lease:
    name: str
    holder: str | None
    duration: float
    renew_time: float = 0.0  # wall clock, for people; the election judges by local observation
    acquire_time: float = 0.0
    transitions: int = 0
    released_by: str | None = None
    version: str = ""  # the store's version (resourceVersion); "" before it is stored


@dataclass(frozen=True, slots=True)
class LeaseView:
    """A Lease as one node sees it: `since` is when that node saw it change (its own clock), or
    for its own Lease when it sent its last write."""

    holder: str | None
    since: float
    duration: float
    released_by: str | None = None


class Conflict(Exception):
    """create() of an existing Lease, or update() of a version that is no longer current."""


class LeaseStore(Protocol):
    def get(self, name: str) -> Lease | None: ...
    def create(self, lease: Lease) -> Lease: ...
    def update(self, lease: Lease) -> Lease: ...


def lease_name(vip: str | IPAddress) -> str:
    ip = ipaddress.ip_address(vip)
    text = ip.exploded if ip.version == 6 else str(ip)  # exploded: never ends in "-"
    return PREFIX + text.replace(":", "-").replace(".", "-")


def _score(vip: str, node: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{vip}\0{node}".encode()).digest()[:8], "big")


def ranking(vip: str, nodes: Iterable[str]) -> list[str]:
    """The nodes in the order they should announce `vip` (rendezvous hashing: removing a node
    moves only that node's VIPs)."""
    return sorted(set(nodes), key=lambda n: (-_score(vip, n), n))


def decide(now: float, vip: str, me: str, candidates: Collection[str], lease: LeaseView | None) -> Action:
    """What `me` should do about `vip`'s Lease at local time `now` (None: never seen, absent)."""
    if lease is not None and lease.holder == me:
        return Action.RENEW
    expired = lease is not None and lease.holder is not None and now - lease.since >= lease.duration
    if lease is not None and lease.holder is not None and not expired:
        return Action.WAIT
    gone = (lease.holder if expired else lease.released_by) if lease is not None else None
    pool = [n for n in ranking(vip, {*candidates, me}) if n == me or n != gone]
    rank = pool.index(me)
    if lease is None:
        return Action.ACQUIRE if rank == 0 else Action.WAIT
    free_for = now - lease.since - (lease.duration if expired else 0.0)
    return Action.ACQUIRE if free_for >= rank * lease.duration else Action.WAIT


def wake_time(now: float, view: LeaseView) -> float:
    """When decide() may next change its mind about a Lease it said WAIT to: at whole multiples
    of the duration after `since` (1 ms late, so that float rounding cannot make it early)."""
    k = math.floor((now - view.since) / view.duration) + 1
    return view.since + k * view.duration + 0.001


def lifetime_for(duration: float) -> int:
    """The kernel lifetime of an announced address: renewed every duration/3, it lapses (if the
    process died) before another node may take the Lease over, one duration after the last
    renewal; the kernel counts whole seconds and checks about once a second."""
    return max(1, math.floor(duration - duration / 3))
