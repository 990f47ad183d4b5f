"""The one interface in front of the kernel's IPVS (and of the in-memory fake).

    class Backend(Protocol):
        def read(self, owned: Callable[[IPAddress], bool] | None = None) -> Observed
        def read_servers(self, services: Sequence[VirtualService]) -> Observed  # those services' servers
        def apply(self, plan: Sequence[Op]) -> int           # raises ApplyError
        def ensure_link(self, link: str) -> None             # a dummy link, up
        def addresses(self, link: str) -> frozenset[IPAddress]   # empty if no such link
        def bind(self, link: str, addresses: Collection[IPAddress]) -> None    # as /32, /128
        def unbind(self, link: str, addresses: Collection[IPAddress]) -> None
        def ensure_sysctls(self, values: Mapping[str, str]) -> tuple[str, ...]  # names changed
        def masquerade(self) -> frozenset[Masquerade] | None  # None: bmlb's nftables table absent
        def set_masquerade(self, entries: Collection[Masquerade]) -> None  # replace; empty: remove
        def close(self) -> None

Implementations: `ipvs.memory.MemoryBackend`, `ipvs.kernel.KernelBackend`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ipvs.diff import Op, ServerRef
from ipvs.drain import Connections
from ipvs.model import IPAddress, Masquerade, Table, VirtualService


@dataclass(frozen=True, slots=True)
class Observed:
    """What a backend read: the table and each real server's connection counts."""

    table: Table = field(default_factory=Table)
    connections: Mapping[ServerRef, Connections] = field(default_factory=dict)


class Backend(Protocol):
    def read(self, owned: Callable[[IPAddress], bool] | None = None) -> Observed:
        """The IPVS table; with `owned`, only services whose VIP it accepts."""
        ...

    def read_servers(self, services: Sequence[VirtualService]) -> Observed:
        """The real servers (and their connections) of these services as the backend has them,
        with the services' attributes taken from the arguments. Raises IpvsError if one is gone."""
        ...

    def apply(self, plan: Sequence[Op]) -> int:
        """Apply operations in order; return how many were applied. Raises ApplyError."""
        ...

    def ensure_link(self, link: str) -> None: ...

    def addresses(self, link: str) -> frozenset[IPAddress]: ...

    def bind(self, link: str, addresses: Collection[IPAddress]) -> None: ...

    def unbind(self, link: str, addresses: Collection[IPAddress]) -> None: ...

    def ensure_sysctls(self, values: Mapping[str, str]) -> tuple[str, ...]: ...

    def masquerade(self) -> frozenset[Masquerade] | None:
        """The masqueraded services as installed; None when bmlb's table is absent. Raises IpvsError."""
        ...

    def set_masquerade(self, entries: Collection[Masquerade]) -> None:
        """Replace the masqueraded services at once; with none, remove bmlb's table. Raises IpvsError."""
        ...

    def close(self) -> None: ...
