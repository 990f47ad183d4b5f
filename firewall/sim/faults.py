"""Fault injection: a thread-safe registry the request path consults.

A fault has a kind, an optional count (`times`; None = until cleared) and an optional list of
request kinds it applies to (`only`, e.g. ["commit"] or ["config.set", "op"]; empty = all).
Request kinds are "keygen", "op", "commit", "commit-all" and "config.<action>"; "config"
matches every config action.

Kinds that shape the HTTP exchange:
  latency(seconds)   sleep before answering
  reset              close the connection with a TCP RST, no response
  timeout(seconds)   hang (default 60 s, i.e. past the client's timeout), then close
  http_error(status) answer with that HTTP status (default 500) and a non-XML body
  commit_in_progress answer commits with "Another commit/validate is in progress..."
  commit_fail(lines) the next commit job(s) finish with result FAIL and these details lines
  refuse_write(pattern)  a config write whose entry's XML matches the regex is refused (code 12),
                     in a single request or as one multi-config sub-request (persistent by default)
  refuse_commit(pattern) a commit job FAILs while the config it would commit holds an entry whose
                     XML matches, its details naming that entry (persistent by default)
Kinds that act on device state at once (see `device.Device.inject`), not counted:
  expire_keys, config_lock(admin, scope), commit_lock(admin, scope), pending_changes(admin, xpath)
"""

from __future__ import annotations

import re
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

REFUSALS = frozenset({"refuse_write", "refuse_commit"})
REQUEST_FAULTS = frozenset({"latency", "reset", "timeout", "http_error", "commit_in_progress",
                            "commit_fail"}) | REFUSALS
STATE_FAULTS = frozenset({"expire_keys", "config_lock", "commit_lock", "pending_changes"})
KINDS = REQUEST_FAULTS | STATE_FAULTS


@dataclass(slots=True)
class Fault:
    kind: str
    times: int | None = 1
    only: tuple[str, ...] = ()
    seconds: float = 0.0
    status: int = 500
    lines: tuple[str, ...] = ()
    admin: str = "alice"
    scope: str = "shared"
    xpath: str = ""
    pattern: str = ""
    fired: int = field(default=0)

    def applies_to(self, request_kind: str) -> bool:
        if not self.only:
            return True
        return any(request_kind == o or request_kind.startswith(o + ".") for o in self.only)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "times": self.times,
            "only": list(self.only),
            "seconds": self.seconds,
            "status": self.status,
            "lines": list(self.lines),
            "admin": self.admin,
            "scope": self.scope,
            "xpath": self.xpath,
            "pattern": self.pattern,
            "fired": self.fired,
        }


def from_dict(data: dict[str, Any]) -> Fault:
    kind = str(data.get("kind", ""))
    if kind not in KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; known: {sorted(KINDS)}")
    unknown = set(data) - {"kind", "times", "only", "seconds", "status", "lines", "admin", "scope", "xpath", "pattern"}
    if unknown:
        raise ValueError(f"unknown fault fields: {sorted(unknown)}")
    only = data.get("only") or ()
    times = data.get("times", None if kind in REFUSALS else 1)
    pattern = str(data.get("pattern", ""))
    if kind in REFUSALS:
        if not pattern:
            raise ValueError(f"{kind} needs a pattern")
        re.compile(pattern)
    return Fault(
        kind=kind,
        times=None if times is None else int(times),
        only=(only,) if isinstance(only, str) else tuple(str(o) for o in only),
        seconds=float(data.get("seconds", 60.0 if kind == "timeout" else 0.0)),
        status=int(data.get("status", 500)),
        lines=tuple(str(line) for line in data.get("lines", ())),
        admin=str(data.get("admin", "alice")),
        scope=str(data.get("scope", "shared")),
        xpath=str(data.get("xpath", "")),
        pattern=pattern,
    )


class Faults:
    """The active request faults. State faults are applied by the device and not kept here."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self.fired_total = 0

    def add(self, fault: Fault) -> Fault:
        if fault.kind not in REQUEST_FAULTS:
            raise ValueError(f"{fault.kind} acts on device state; use Simulator.inject / POST /sim/faults")
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self, kind: str | None = None) -> None:
        with self._lock:
            self._faults = [f for f in self._faults if kind is not None and f.kind != kind]

    def active(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def take(self, kind: str, request_kind: str) -> Fault | None:
        """The first matching fault of `kind`, counted as fired (and dropped when used up)."""
        with self._lock:
            for f in self._faults:
                if f.kind == kind and f.applies_to(request_kind):
                    f.fired += 1
                    self.fired_total += 1
                    if f.times is not None:
                        f.times -= 1
                        if f.times <= 0:
                            self._faults.remove(f)
                    return f
        return None

    def refusal(self, kind: str, elements: list[ET.Element], *, count: bool = True) -> tuple[str, str] | None:
        """(entry name, matched text) of the innermost entry under `elements` that an active
        refusal of `kind` matches; counted as fired unless `count` is False. None: no match."""
        faults = [f for f in self.active() if f.kind == kind]
        if not faults:
            return None
        for fault in faults:
            pattern = re.compile(fault.pattern)
            hit: tuple[str, str] | None = None
            for root in elements:
                for entry in root.iter("entry"):
                    found = pattern.search(ET.tostring(entry, encoding="unicode"))
                    if found:
                        hit = (entry.get("name", ""), found.group(0))  # later (deeper) entries win
                if hit:
                    break
            if hit and not count:
                return hit
            if hit:
                with self._lock:
                    fault.fired += 1
                    self.fired_total += 1
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0 and fault in self._faults:
                            self._faults.remove(fault)
                return hit
        return None
