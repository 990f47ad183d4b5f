"""Persistence: running and candidate config plus the pending-change journal, as one XML file."""

from __future__ import annotations

import copy
import os
import xml.etree.ElementTree as ET
from pathlib import Path

from firewall.sim import tree
from firewall.sim.changes import Change
from firewall.sim.device import Device


def save(device: Device, path: Path) -> None:
    with device.lock:
        root = ET.Element("panos-sim-state", {"version": "1"})
        ET.SubElement(root, "running").append(copy.deepcopy(tree.config_of(device.running)))
        ET.SubElement(root, "candidate").append(copy.deepcopy(tree.config_of(device.candidate)))
        journal = ET.SubElement(root, "journal")
        for change in device.changes:
            attrs = {"id": str(change.id), "admin": change.admin, "action": change.action,
                     "xpath": change.xpath, "where": change.where, "newname": change.newname}
            if change.dst is not None:
                attrs["dst"] = change.dst
            ET.SubElement(journal, "change", attrs).extend(copy.deepcopy(e) for e in change.elements)
        text = tree.to_string(root)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def load(device: Device, path: Path) -> None:
    root = ET.parse(path).getroot()
    running, candidate = root.find("running/config"), root.find("candidate/config")
    if running is None or candidate is None:
        raise ValueError(f"{path} is not a simulator state file")
    with device.lock:
        device.running = tree.new_tree(tree.to_string(running))
        device.candidate = tree.new_tree(tree.to_string(candidate))
        device.changes = [
            Change(admin=c.get("admin", ""), action=c.get("action", ""), xpath=c.get("xpath", ""),
                   elements=list(c), where=c.get("where", ""), dst=c.get("dst"),
                   newname=c.get("newname", ""), id=int(c.get("id", "0")))
            for c in root.findall("journal/change")
        ]
        device.restore_ids(max((c.id for c in device.changes), default=0) + 1)
        device.recheck()
