"""Render a config tree as PAN-OS `set` commands, one per line, in document order.

  set address web-1 ip-netmask 10.0.0.5/32
  set address web-1 tag [ k8s-managed prod ]
  set rulebase security rules "allow web" from untrust

A single-vsys firewall's vsys1 objects are written without the `vsys vsys1` prefix, as the
device's own `show config running` in set format does; other vsys get `vsys NAME`.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

# Empty elements with these tags are containers with nothing in them: no command.
CONTAINERS = frozenset({
    "address", "address-group", "service", "service-group", "tag", "zone", "rules", "rulebase",
    "pre-rulebase", "post-rulebase", "security", "nat", "static-route", "shared", "vsys",
    "device-group", "template", "devices", "details", "description", "comments", "application",
    "profiles", "import", "interface", "ethernet", "users", "entry",
})
SAFE = re.compile(r"[A-Za-z0-9._/:@=+-]+")


def quote(token: str) -> str:
    if SAFE.fullmatch(token):
        return token
    return '"' + token.replace("\\", "\\\\").replace('"', '\\"') + '"'


def set_commands(config: ET.Element, *, multi_vsys: bool = False) -> list[str]:
    lines: list[str] = []
    for child in config:
        if child.tag == "devices":
            for device in child.findall("entry"):
                _device(device, lines, multi_vsys=multi_vsys)
        else:
            _walk(child, [child.tag], lines)
    return lines


def _device(device: ET.Element, lines: list[str], *, multi_vsys: bool) -> None:
    for child in device:
        if child.tag == "vsys":
            entries = child.findall("entry")
            for vsys in entries:
                prefix = [] if not multi_vsys and len(entries) == 1 else ["vsys", quote(vsys.get("name", ""))]
                for part in vsys:
                    _walk(part, [*prefix, part.tag], lines)
        elif child.tag in ("device-group", "template", "template-stack"):
            for entry in child.findall("entry"):
                path = [child.tag, quote(entry.get("name", ""))]
                if len(entry) == 0:
                    lines.append("set " + " ".join(path))
                for part in entry:
                    _walk(part, [*path, part.tag], lines)
        else:
            _walk(child, [child.tag], lines)


def _walk(node: ET.Element, path: list[str], lines: list[str]) -> None:
    children = list(node)
    text = (node.text or "").strip()
    if not children:
        if text:
            lines.append("set " + " ".join([*path, quote(text)]))
        elif node.tag not in CONTAINERS or node.tag == "entry":
            lines.append("set " + " ".join(path))
        return
    if all(c.tag == "member" for c in children):
        values = [quote((c.text or "").strip()) for c in children]
        value = values[0] if len(values) == 1 else "[ " + " ".join(values) + " ]"
        lines.append("set " + " ".join([*path, value]))
        return
    for child in children:
        if child.tag == "entry":
            entry_path = [*path, quote(child.get("name", ""))]
            if len(child) == 0 and not (child.text or "").strip():
                lines.append("set " + " ".join(entry_path))
            else:
                _walk_entry(child, entry_path, lines)
        else:
            _walk(child, [*path, child.tag], lines)


def _walk_entry(entry: ET.Element, path: list[str], lines: list[str]) -> None:
    for child in entry:
        _walk(child, [*path, child.tag], lines)
    text = (entry.text or "").strip()
    if text:
        lines.append("set " + " ".join([*path, quote(text)]))
