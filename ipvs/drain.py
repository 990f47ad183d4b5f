"""Graceful drain of real servers that leave a service (pure; `now` is a parameter).

A leaving real server is first set to weight 0 so that it gets no new connections, then
deleted once its active + inactive connections reach 0 or `timeout` seconds have passed since
this agent first saw it leave. UDP servers are deleted at once: UDP "connections" are only
IPVS entries that expire on their own, so waiting for them buys nothing (kube-proxy does the
same in graceful_termination.go).

No local file holds this state: after a restart the agent finds the drains again in the
kernel (a bmlb-owned real server that the desired table no longer has, typically at weight 0,
is leaving) and restarts their timeout from when it first sees them. A desired server found
at weight 0 is simply restored by the diff, so nothing is left stuck at weight 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ipvs.diff import ServerRef
from ipvs.model import Protocol


@dataclass(frozen=True, slots=True)
class Connections:
    active: int = 0
    inactive: int = 0

    @property
    def total(self) -> int:
        return self.active + self.inactive


@dataclass(frozen=True, slots=True)
class Decision:
    since: Mapping[ServerRef, float] = field(default_factory=dict)  # drains still running
    keep: frozenset[ServerRef] = frozenset()  # hold at weight 0
    release: frozenset[ServerRef] = frozenset()  # delete now


def step(
    since: Mapping[ServerRef, float],
    leaving: Mapping[ServerRef, Connections],
    *,
    now: float,
    timeout: float,
) -> Decision:
    """Decide, for each leaving server, to keep draining it or to delete it now.

    `since` is the previous Decision's (when each drain was first seen); drains no longer
    leaving (deleted, or desired again) are forgotten.
    """
    started: dict[ServerRef, float] = {}
    keep: set[ServerRef] = set()
    release: set[ServerRef] = set()
    for ref, conns in leaving.items():
        first = since.get(ref, now)
        if ref.service[0] == Protocol.UDP.value or conns.total == 0 or now - first >= timeout:
            release.add(ref)
        else:
            keep.add(ref)
            started[ref] = first
    return Decision(started, frozenset(keep), frozenset(release))
