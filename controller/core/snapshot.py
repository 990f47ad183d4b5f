"""A snapshot of the cluster objects the compiler reads: plain dicts, as the API returns them.

The shell (operator, agent, `bmlb plan`) fills one; the compiler never fetches anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from controller.core import kinds
from controller.core.problems import ObjectRef, interned

Body = Mapping[str, Any]

KINDS = kinds.NAMES
LEASE_PREFIX = "bmlb-node-"  # each agent renews the coordination.k8s.io Lease bmlb-node-<node>
# Agent Leases count only in this namespace (the controller's and agents' --lease-namespace):
# any tenant may create Leases in its own namespace, so a Lease elsewhere proves nothing.
DEFAULT_LEASE_NAMESPACE = "bmlb-system"


def lease_node(name: object) -> str | None:
    """The node an agent Lease stands for (bmlb-node-<node>); None for every other Lease name. The
    one rule for which Leases are agents': the controller's watch, its snapshot and the L2 election."""
    if isinstance(name, str) and name.startswith(LEASE_PREFIX) and len(name) > len(LEASE_PREFIX):
        return name.removeprefix(LEASE_PREFIX)
    return None


def ref_of(body: Body) -> ObjectRef:
    """Who an object is, whatever its shape: a field of the wrong type reads as its text."""
    meta = body.get("metadata")
    if not isinstance(meta, Mapping):
        meta = {}
    return interned(ObjectRef(_text(body.get("kind")), _text(meta.get("namespace")), _text(meta.get("name"))))


def _text(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None or value is False else str(value)


def name_of(body: object) -> str | None:
    """metadata.name when it is a non-empty string (a Node's name is the node's name)."""
    meta = body.get("metadata") if isinstance(body, Mapping) else None
    name = meta.get("name") if isinstance(meta, Mapping) else None
    return name if isinstance(name, str) and name else None


def _sorted(bodies: Iterable[Body]) -> tuple[Body, ...]:
    return tuple(sorted(bodies, key=ref_of))


@dataclass(frozen=True)
class Snapshot:
    services: tuple[Body, ...] = ()
    endpoint_slices: tuple[Body, ...] = ()
    nodes: tuple[Body, ...] = ()
    pools: tuple[Body, ...] = ()
    policies: tuple[Body, ...] = ()
    nat_rules: tuple[Body, ...] = ()
    firewalls: tuple[Body, ...] = ()
    leases: tuple[Body, ...] = ()
    # Wall-clock time (epoch seconds) the Leases are judged at; None: Leases are not judged.
    now: float | None = None
    # The nodes each VIP was last routed to, so a flapping Lease never withdraws the last route.
    last_routes: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # The only namespace whose bmlb-node-* Leases are trusted as agent Leases.
    lease_namespace: str = DEFAULT_LEASE_NAMESPACE

    @classmethod
    def of(cls, bodies: Iterable[Body], *, lease_namespace: str = DEFAULT_LEASE_NAMESPACE) -> Snapshot:
        """Sort objects by kind; unknown kinds are ignored (the caller validates kinds)."""
        groups: dict[str, list[Body]] = {k: [] for k in KINDS}
        for b in bodies:
            kind = b.get("kind") if isinstance(b, Mapping) else None
            if isinstance(kind, str) and kind in groups:
                groups[kind].append(b)
        fields = {k.field: _sorted(groups[k.kind]) for k in kinds.ALL if k is not kinds.LEASE}
        return cls(
            **fields,
            leases=_sorted(b for b in groups[kinds.LEASE.kind] if ref_of(b).name.startswith(LEASE_PREFIX)),
            lease_namespace=lease_namespace,
        )

    def node_leases(self, *, known_only: bool = False) -> dict[str, Body]:
        """The agent Leases bmlb trusts, by node name: bmlb-node-<node> in `lease_namespace` only;
        known_only: and only for existing Nodes (unless there are no Node objects at all:
        lease-only mode)."""
        known = {name_of(b) for b in self.nodes} if known_only and self.nodes else None
        out: dict[str, Body] = {}
        for b in self.leases:
            meta = b.get("metadata") if isinstance(b, Mapping) else None
            if not isinstance(meta, Mapping):
                continue
            node = lease_node(meta.get("name"))
            if node is not None and meta.get("namespace") == self.lease_namespace and (known is None or node in known):
                out[node] = b
        return out

    def all(self) -> tuple[Body, ...]:
        return tuple(b for k in kinds.ALL for b in getattr(self, k.field))
