"""Exceptions of the ipvs package. Backends translate library errors into these.

IpvsError
├── UnavailableError   the kernel has no IPVS (module missing) or we lack the rights
└── ApplyError         the kernel refused some operations of a plan (errno per operation)
"""

from __future__ import annotations

import errno as _errno
import os
from dataclasses import dataclass

from ipvs.diff import Op


class IpvsError(Exception):
    pass


class UnavailableError(IpvsError):
    pass


@dataclass(frozen=True, slots=True)
class Failure:
    op: Op
    errno: int

    def __str__(self) -> str:
        name = _errno.errorcode.get(self.errno, str(self.errno))
        return f"{type(self.op).__name__} {self.op.service}: {name} ({os.strerror(self.errno)})"


class ApplyError(IpvsError):
    """Some operations failed; the others were applied. A re-read and re-sync repairs."""

    def __init__(self, failures: tuple[Failure, ...], applied: int) -> None:
        self.failures = failures
        self.applied = applied
        more = f" (+{len(failures) - 3} more)" if len(failures) > 3 else ""
        super().__init__("; ".join(str(f) for f in failures[:3]) + more)
