"""Operational commands (`type=op`), matched on the parsed command, never on its text.

Supported: show system info; show jobs id N | all | processed | pending; check pending-changes;
request config-lock / commit-lock add|remove; show config-locks / commit-locks;
load config from running-config.xml; revert config; show config running | candidate;
and the two documented views of uncommitted changes:
  show config list changes
      -> <result><journal><entry><sequence-number/><owner/><action/><xpath/></entry>..</journal></result>
  show config list change-summary [partial admin <member>NAME</member>..]
      -> <result><summary><entry><owner/><action/><xpath/></entry>..</summary></result>

The commands are documented (PAN-OS XML API; reference section 11). Their reply shapes are
UNVERIFIED beyond what that documentation and public client code say: the journal carries
entries with owner (admin), xpath and action; the element names `journal`, `sequence-number`,
`summary` and the lower-case action words are the simulator's guess. Clients must read only
`.//entry/owner` (and xpath/action), never rely on the wrapper names.
"""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET
from collections.abc import Callable

from firewall.sim import responses, tree
from firewall.sim.changes import Change
from firewall.sim.device import Device
from firewall.sim.tree import ConfigError

Handler = Callable[[Device, str, ET.Element, str], ET.Element]


def _path(cmd: ET.Element) -> list[ET.Element]:
    """The chain of first children from the command root down."""
    chain = [cmd]
    while len(chain[-1]):
        chain.append(chain[-1][0])
    return chain


def handle(device: Device, admin: str, cmd_text: str, scope: str) -> ET.Element:
    try:
        cmd = ET.fromstring(cmd_text)
    except ET.ParseError as exc:
        raise ConfigError(18, f"Malformed Request: {exc}") from exc
    chain = _path(cmd)
    tags = tuple(e.tag for e in chain)
    for length in range(len(tags), 0, -1):
        handler = HANDLERS.get(tags[:length])
        if handler:
            return handler(device, admin, chain[length - 1], scope)
    raise ConfigError(17, f"{' -> '.join(tags)} is unexpected")


def _system_info(device: Device, admin: str, node: ET.Element, scope: str) -> ET.Element:
    system = ET.Element("system")
    for tag, text in device.system.fields():
        ET.SubElement(system, tag).text = text
    return responses.result(system)


def _job_by_id(device: Device, admin: str, node: ET.Element, scope: str) -> ET.Element:
    text = (node.text or "").strip().strip('"')
    job = device.jobs.get(int(text)) if text.isdigit() else None
    if job is None:
        raise ConfigError(0, f"job {text} not found")
    return responses.result(job.element())


def _jobs(which: str) -> Handler:
    def show(device: Device, admin: str, node: ET.Element, scope: str) -> ET.Element:
        jobs = device.jobs.all()
        if which == "processed":
            jobs = [j for j in jobs if j.status == "FIN"]
        elif which == "pending":
            jobs = [j for j in jobs if j.status != "FIN"]
        return responses.result(*(j.element() for j in jobs))

    return show


def _pending(device: Device, admin: str, node: ET.Element, scope: str) -> ET.Element:
    return responses.result(text="yes" if device.pending_admins() else "no")


def _config_lock_add(device: Device, admin: str, node: ET.Element, scope: str) -> ET.Element:
    device.add_config_lock(admin, scope, node.findtext("comment") or "")
    return responses.result(text="Successfully acquired lock. Other administrators will not be able to "
                            f"modify configuration for scope {scope} until lock is released")


def _config_lock_remove(device: Device, admin: str, node: ET.Element, scope: str) -> ET.Element:
    device.remove_config_lock(admin, scope)
    return responses.result(text=f"Config lock released for scope {scope}")


def _commit_lock_add(device: Device, admin: str, node: ET.Element, scope: str) -> ET.Element:
    device.add_commit_lock(admin, scope, node.findtext("comment") or "")
    return responses.result(text="Successfully acquired commit lock")


def _commit_lock_remove(device: Device, admin: str, node: ET.Element, scope: str) -> ET.Element:
    device.remove_commit_lock(node.findtext("admin") or admin, scope)
    return responses.result(text="Successfully released commit lock")


def _locks(kind: str) -> Handler:
    def show(device: Device, admin: str, node: ET.Element, scope: str) -> ET.Element:
        with device.lock:
            locks = dict(device.config_locks if kind == "config" else device.commit_locks)
        holder = ET.Element(f"{kind}-locks")
        for lock_scope, lock in locks.items():
            entry = ET.SubElement(holder, "entry", {"name": lock.admin})
            ET.SubElement(entry, "name").text = lock_scope
            ET.SubElement(entry, "type").text = kind
            ET.SubElement(entry, "comment").text = lock.comment or None
        return responses.result(holder)

    return show


def _load(device: Device, admin: str, node: ET.Element, scope: str) -> ET.Element:
    source = (node.text or "").strip()
    if source != "running-config.xml":
        raise ConfigError(17, f"cannot load {source!r}: only running-config.xml is simulated")
    device.revert()
    return responses.result(text="Config loaded from running-config.xml")


def _revert(device: Device, admin: str, node: ET.Element, scope: str) -> ET.Element:
    device.revert()
    return responses.result(text="Candidate configuration reverted to the running configuration")


def _show_config(which: str) -> Handler:
    def show(device: Device, admin: str, node: ET.Element, scope: str) -> ET.Element:
        with device.lock:
            config = copy.deepcopy(tree.config_of(device.running if which == "running" else device.candidate))
        return responses.result(config)

    return show


def _entry(parent: ET.Element, change: Change, *, numbered: bool) -> None:
    entry = ET.SubElement(parent, "entry")
    if numbered:
        ET.SubElement(entry, "sequence-number").text = str(change.id)
    ET.SubElement(entry, "owner").text = change.admin
    ET.SubElement(entry, "action").text = change.action
    ET.SubElement(entry, "xpath").text = change.xpath


def _changes(device: Device, admin: str, node: ET.Element, scope: str) -> ET.Element:
    journal = ET.Element("journal")
    for change in device.journal():
        _entry(journal, change, numbered=True)
    return responses.result(journal)


def _change_summary(device: Device, admin: str, node: ET.Element, scope: str) -> ET.Element:
    wanted = {(m.text or "").strip() for m in node.iterfind("partial/admin/member")}
    summary = ET.Element("summary")
    for change in device.journal():
        if not wanted or change.admin in wanted:
            _entry(summary, change, numbered=False)
    return responses.result(summary)


HANDLERS: dict[tuple[str, ...], Handler] = {
    ("show", "system", "info"): _system_info,
    ("show", "jobs", "id"): _job_by_id,
    ("show", "jobs", "all"): _jobs("all"),
    ("show", "jobs", "processed"): _jobs("processed"),
    ("show", "jobs", "pending"): _jobs("pending"),
    ("show", "jobs"): _jobs("all"),
    ("check", "pending-changes"): _pending,
    ("request", "config-lock", "add"): _config_lock_add,
    ("request", "config-lock", "remove"): _config_lock_remove,
    ("request", "commit-lock", "add"): _commit_lock_add,
    ("request", "commit-lock", "remove"): _commit_lock_remove,
    ("show", "config-locks"): _locks("config"),
    ("show", "commit-locks"): _locks("commit"),
    ("load", "config", "from"): _load,
    ("revert", "config"): _revert,
    ("show", "config", "running"): _show_config("running"),
    ("show", "config", "candidate"): _show_config("candidate"),
    ("show", "config", "list", "changes"): _changes,
    ("show", "config", "list", "change-summary"): _change_summary,
}
