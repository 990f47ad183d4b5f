"""An AuditReport as a terminal table, JSON, or one self-contained HTML page (templates/audit.html.j2)."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import jinja2

from controller.audit import AuditReport, Row
from controller.render import columns, plain
from controller.resources import template_loader
from firewall.model import Owner

SECTIONS = ("objects", "orphans", "drift", "any_source", "nat_mismatches")


def owner_text(owner: Owner | None) -> str:
    if owner is None:
        return "-"
    where = f"{owner.namespace}/{owner.name}" if owner.namespace else owner.name
    return f"{owner.kind} {where}"


def _owner_row(row: Row) -> list[str]:
    o = row.owner
    now = ""
    if row.cluster_uid and o is not None and (row.cluster_uid != o.uid or row.cluster_generation != o.generation):
        now = f"now uid={row.cluster_uid} gen={row.cluster_generation}"
    return [row.kind, row.name, owner_text(o), o.uid if o and o.uid else "-",
            str(o.generation) if o else "-", row.status.value, now]


def as_dict(report: AuditReport) -> dict[str, Any]:
    return {
        "firewall": report.firewall,
        "ownershipTag": report.ownership_tag,
        "source": dict(report.source),
        "summary": report.summary(),
        "clean": report.clean(),
        "objects": [{**plain(r), "owner": plain(r.owner)} for r in report.rows],
        "orphans": [r.name for r in report.orphans],
        "drift": plain(report.drift),
        "anySource": plain(report.any_source),
        "natMismatches": plain(report.nat_mismatches),
    }


def as_json(report: AuditReport) -> str:
    return json.dumps(as_dict(report), indent=2, sort_keys=False) + "\n"


def text(report: AuditReport) -> str:
    s = report.summary()
    out = [f"Firewall {report.firewall or '-'} (ownership tag {report.ownership_tag}): {s['objects']} objects, "
           f"{s['orphans']} orphans, {s['stale_owners']} stale owners, {s['drift']} drifted attributes on "
           f"{s['drifted_objects']} objects, {s['any_source']} any-source rules, {s['nat_mismatches']} NAT mismatches"]
    out += ["", "OBJECTS", columns(["KIND", "NAME", "OWNER", "UID", "GEN", "STATUS", "CLUSTER"],
                                   [_owner_row(r) for r in report.rows]) if report.rows else "(none)"]
    if report.drift:
        out += ["", "DRIFT", columns(["KIND", "NAME", "ATTRIBUTE", "EXPECTED", "ACTUAL", "OWNER"],
                                     [[d.kind, d.name, d.attribute, _cut(d.expected) or '""', _cut(d.actual) or '""',
                                       owner_text(d.owner)] for d in report.drift])]
    if report.any_source:
        out += ["", "ANY-SOURCE ALLOW RULES", columns(
            ["RULE", "FROM", "TO", "DESTINATION", "SERVICE", "EXPOSES", "OWNER"],
            [[a.name, ",".join(a.from_zones), ",".join(a.to_zones), ",".join(a.destinations), ",".join(a.services),
              ",".join(a.exposed) or "-", owner_text(a.owner)] for a in report.any_source])]
    if report.nat_mismatches:
        out += ["", "NAT MISMATCHES", columns(
            ["RULE", "TRANSLATED", "IP", "SERVICE", "VIP", "REASON"],
            [[m.name, m.translated_address, m.translated_ip or "-", m.service or "-", ",".join(m.vips) or "-",
              m.reason] for m in report.nat_mismatches])]
    return "\n".join(out) + "\n"


def _cut(value: str, width: int = 48) -> str:
    """Terminal cells stay short (descriptions are long); JSON and HTML carry the full values."""
    return value if len(value) <= width else value[: width - 3] + "..."


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=template_loader(), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def html(report: AuditReport) -> str:
    template = _environment().get_template("audit.html.j2")
    return template.render(report=report, summary=report.summary(), clean=report.clean(), owner_text=owner_text,
                           owner_row=_owner_row)
