"""In-process control of a running simulator: faults, and acting as another admin."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from firewall.sim import faults, jobs
from firewall.sim.changes import Change
from firewall.sim.device import INJECTED, Device, Lock
from firewall.sim.tree import parse_element, to_string


class FaultControl:
    """`sim.faults`: add request faults or apply state faults (see `faults` for the kinds).

        sim.faults.add("http_error", status=503, times=2)
        sim.faults.add("latency", seconds=0.5, times=None, only=["commit"])
        sim.faults.add("commit_fail", lines=[" rule1 -> destination 'web' is not a valid reference"])
        sim.faults.add("config_lock", admin="alice")      # held until clear()
        sim.faults.clear()
    """

    def __init__(self, device: Device) -> None:
        self._device = device

    def add(self, kind: str, **fields: Any) -> dict[str, Any]:
        return self.add_dict({"kind": kind, **fields})

    def add_dict(self, data: dict[str, Any]) -> dict[str, Any]:
        fault = faults.from_dict(data)
        dev = self._device
        if fault.kind in faults.REQUEST_FAULTS:
            return dev.faults.add(fault).as_dict()
        with dev.lock:
            if fault.kind == "expire_keys":
                dev.expire_keys()
            elif fault.kind == "config_lock":
                dev.config_locks[fault.scope] = Lock(fault.admin, INJECTED)
            elif fault.kind == "commit_lock":
                dev.commit_locks[fault.scope] = Lock(fault.admin, INJECTED)
            elif fault.kind == "pending_changes":
                dev.users.setdefault(fault.admin, fault.admin)
                dev.inject_change(fault.admin, fault.xpath or "/config/devices")
        return fault.as_dict()

    def clear(self) -> None:
        """Drop request faults, injected locks and injected pending changes."""
        dev = self._device
        dev.faults.clear()
        with dev.lock:
            for locks in (dev.config_locks, dev.commit_locks):
                for scope in [s for s, lock in locks.items() if lock.comment == INJECTED]:
                    del locks[scope]
            dev.changes = [c for c in dev.changes if c.action != "touch"]

    def active(self) -> list[dict[str, Any]]:
        return [f.as_dict() for f in self._device.faults.active()]


def _elements(element: str | ET.Element | list[ET.Element]) -> list[ET.Element]:
    if isinstance(element, ET.Element):
        return parse_element(to_string(element))
    if isinstance(element, list):
        return [e for item in element for e in _elements(item)]
    return parse_element(element)


class AdminSession:
    """Config changes and commits as `admin`, bypassing HTTP (e.g. to plant foreign objects)."""

    def __init__(self, device: Device, admin: str) -> None:
        self._device = device
        self.admin = admin

    def set(self, xpath: str, element: str | ET.Element | list[ET.Element]) -> None:
        self._device.write(Change(self.admin, "set", xpath, _elements(element)))

    def edit(self, xpath: str, element: str | ET.Element) -> None:
        self._device.write(Change(self.admin, "edit", xpath, _elements(element)))

    def delete(self, xpath: str) -> int:
        return self._device.write(Change(self.admin, "delete", xpath))

    def move(self, xpath: str, where: str, dst: str | None = None) -> None:
        self._device.write(Change(self.admin, "move", xpath, where=where, dst=dst))

    def rename(self, xpath: str, newname: str) -> None:
        self._device.write(Change(self.admin, "rename", xpath, newname=newname))

    def lock_config(self, scope: str = "shared", comment: str = "") -> None:
        self._device.add_config_lock(self.admin, scope, comment)

    def unlock_config(self, scope: str = "shared") -> None:
        self._device.remove_config_lock(self.admin, scope)

    def lock_commit(self, scope: str = "shared", comment: str = "") -> None:
        self._device.add_commit_lock(self.admin, scope, comment)

    def unlock_commit(self, scope: str = "shared") -> None:
        self._device.remove_commit_lock(self.admin, scope)

    def commit(self, *, partial: bool = False, wait: bool = True, timeout: float = 30.0) -> jobs.Job | None:
        """Commit everything (or only this admin's changes); by default wait for the job."""
        job = self._device.commit(self.admin, admins=[self.admin] if partial else None)
        if job is not None and wait:
            self._device.jobs.wait_idle(timeout)
        return job
