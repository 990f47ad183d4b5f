"""Human and machine renderings of a compiled plan: text tables, JSON/YAML, PAN-OS set commands."""

from __future__ import annotations

import dataclasses
import enum
import ipaddress
import json
import re
from functools import cache
from typing import Any

import jinja2
import yaml

from controller.core.compiler import Compiled
from controller.core.problems import ObjectRef
from controller.core.resources import templates
from firewall.model import DesiredFirewall
from ipvs.model import Table


def plain(value: Any) -> Any:
    """Dataclasses, enums and addresses as JSON-ready values, in a stable order."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return str(value)
    if isinstance(value, ObjectRef):  # a named tuple, shown as the dataclass it was
        return {"kind": value.kind, "namespace": value.namespace, "name": value.name}
    if isinstance(value, tuple | list):
        return [plain(v) for v in value]
    if isinstance(value, frozenset | set):
        return sorted(plain(v) for v in value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return value


def as_dict(c: Compiled) -> dict[str, Any]:
    return {
        "allocations": [{"object": str(a.ref), "addresses": [str(ip) for ip in a.addresses], "pools": list(a.pools)}
                        for a in c.allocations],
        "firewalls": [{"name": f.name, "configured": f.spec is not None, "desired": plain(f.desired)}
                      for f in c.firewalls],
        "ipvs": {node: plain(t) for node, t in c.tables},
        "problems": [{"object": str(p.ref), "path": p.path, "code": str(p.code), "message": p.message,
                      "severity": p.severity.value} for p in c.problems],
    }


def as_json(c: Compiled) -> str:
    return json.dumps(as_dict(c), indent=2, sort_keys=False) + "\n"


def as_yaml(c: Compiled) -> str:
    return yaml.safe_dump(as_dict(c), sort_keys=False, width=120)


class UnsafeValue(ValueError):
    """A value that cannot be printed as one PAN-OS CLI token (a control character, a quote)."""


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_BARE = re.compile(r"[A-Za-z0-9._/:-]+")


def _checked(value: object) -> str:
    s = str(value)
    if _CONTROL.search(s):
        raise UnsafeValue(f"{s!r} holds a control character: it could start a new command")
    return s


def _q(value: object) -> str:
    """One CLI token: bare when it is plain, else in double quotes (which PAN-OS cannot escape)."""
    s = _checked(value)
    if _BARE.fullmatch(s):
        return s
    if '"' in s:
        raise UnsafeValue(f"{s!r} holds a double quote, which a PAN-OS CLI token cannot carry")
    return f'"{s}"'


def _members(values: tuple[str, ...] | list[str]) -> str:
    vals = [_q(v) for v in values]
    return vals[0] if len(vals) == 1 else "[ " + " ".join(vals) + " ]"


@cache
def _set_environment() -> jinja2.Environment:
    """The `set` renderer's own environment: every printed value is checked (finalize), so no
    template line can carry a control character even where a filter was forgotten."""
    env = templates(keep_trailing_newline=True, finalize=_checked)
    env.filters.update(q=_q, members=_members)
    return env


def panos_set(fw: DesiredFirewall, *, target: str, panorama_group: str | None = None,
              rulebase: str = "pre") -> str:
    """PAN-OS `set` commands for `fw`; raises UnsafeValue rather than print an unsafe token."""
    prefix = f"device-group {_q(panorama_group)} " if panorama_group else ""
    base = f"{rulebase}-rulebase" if panorama_group else "rulebase"
    return _set_environment().get_template("panos-set.j2").render(fw=fw, target=target, prefix=prefix,
                                                                   rulebase=base)


def plan_panos_set(c: Compiled) -> str:
    out = []
    for f in c.firewalls:
        group = f.spec.device_group if f.spec and f.spec.type == "panorama" else None
        out.append(panos_set(f.desired, target=f"Firewall {f.name}", panorama_group=group,
                             rulebase=f.spec.rulebase if f.spec else "pre"))
    return "\n".join(out)


def columns(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    for r in rows:
        lines.append("  ".join(str(x).ljust(w) for x, w in zip(r, widths, strict=True)).rstrip())
    return "\n".join(lines)


def ipvsadm(table: Table) -> str:
    """A table in the layout of `ipvsadm -Ln`."""
    lines = ["Prot LocalAddress:Port Scheduler Flags", "  -> RemoteAddress:Port           Forward Weight"]
    fwd = {"nat": "Masq", "dr": "Route", "tun": "Tunnel"}
    for vs in table.services:
        host = f"[{vs.address}]" if vs.address.version == 6 else str(vs.address)
        flags = f" persistent {vs.persistence_timeout}" if vs.persistence_timeout else ""
        lines.append(f"{vs.protocol.value.upper():<4} {host}:{vs.port} {vs.scheduler.value}{flags}")
        for rs in vs.real_servers:
            rh = f"[{rs.address}]" if rs.address.version == 6 else str(rs.address)
            lines.append(f"  -> {rh + ':' + str(rs.port):<28} {fwd[rs.forwarding.value]:<7} {rs.weight}")
    return "\n".join(lines)


def _join(values: tuple[str, ...]) -> str:
    return ",".join(values)


def text(c: Compiled) -> str:
    out: list[str] = []
    rows = [[str(a.ref), ", ".join(map(str, a.addresses)), ", ".join(p or "(none)" for p in a.pools)]
            for a in c.allocations]
    out += ["ADDRESSES", columns(["OBJECT", "ADDRESS", "POOL"], rows) if rows else "(none)", ""]
    for f in c.firewalls:
        d = f.desired
        state = "" if f.spec else " (no Firewall object: planned only)"
        out.append(f"FIREWALL {f.name}{state}: ownership tag {d.ownership_tag}")
        if d.nat_rules:
            out.append(columns(
                ["NAT RULE", "FROM", "TO", "DESTINATION", "SERVICE", "TRANSLATED"],
                [[r.name, _join(r.from_zones), _join(r.to_zones), _join(r.destination), r.service,
                  r.translated_address + (f":{r.translated_port}" if r.translated_port else "")]
                 for r in d.nat_rules]))
            out.append("")
        if d.security_rules:
            out.append(columns(
                ["SECURITY RULE", "FROM", "SOURCE", "TO", "DESTINATION", "SERVICE", "APPLICATION", "ACTION"],
                [[r.name, _join(r.from_zones), _join(r.sources), _join(r.to_zones), _join(r.destinations),
                  _join(r.services), _join(r.applications), r.action.value] for r in d.security_rules]))
            out.append("")
        if d.addresses:
            out.append(columns(["ADDRESS OBJECT", "VALUE"], [[a.name, a.value] for a in d.addresses]))
            out.append("")
    for node, table in c.tables:
        out += [f"IPVS on node {node}", ipvsadm(table), ""]
    if c.problems:
        out.append("PROBLEMS")
        out += [f"{p.severity.value}: {p}" for p in c.problems]
    return "\n".join(out).rstrip() + "\n"
