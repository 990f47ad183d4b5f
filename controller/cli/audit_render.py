"""An AuditReport as a terminal table, JSON, or one self-contained HTML page (templates/audit.html.j2)."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import jinja2

from controller.core import exposure
from controller.core.audit import AuditReport, Row
from controller.core.render import columns, plain
from controller.core.resources import templates
from firewall.model import Owner

SECTIONS = ("objects", "orphans", "drift", "any_source", "nat_mismatches", "effect", "placements", "exposure",
            "routes")


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
        "rulebaseRead": report.rulebase_read,
        "effect": [{**plain(f), "overridden": f.overridden, "text": str(f)} for f in report.effect],
        "placements": plain(report.placements),
        "exposure": {ns: [{**plain(r), "namespace": ns} for r in rows]
                     for ns, rows in exposure.by_namespace(report.exposure).items()},
        "routes": plain(report.routes),
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
    out += _text_rulebase(report)
    return "\n".join(out) + "\n"


def _reach_row(r: exposure.Reach) -> list[str]:
    rule = r.rule if not r.position else f"{r.rule} (#{r.position}{', foreign' if r.foreign else ''})"
    apps = "" if r.applications == ("any",) else f" [{','.join(r.applications)}]"
    host = f"[{r.address}]" if ":" in r.address else r.address
    return [r.service, r.source_zone, ", ".join(r.sources), f"{host}:{r.port}/{r.protocol}{apps}",
            r.via + (f" ({r.nat})" if r.nat else ""), r.vip, rule]


def _text_rulebase(report: AuditReport) -> list[str]:
    out: list[str] = []
    if report.effect:
        out += ["", "RULES AN EARLIER RULE TAKES ALL OR PART OF", columns(
            ["RULE", "POS", "ACTION", "EFFECT", "BY", "BY POS", "BY ACTION", "FOREIGN"],
            [[f.rule, str(f.position), f.action, f.effect.value, f.by, str(f.by_position), f.by_action,
              "yes" if f.by_foreign else "no"] for f in report.effect])]
    if report.placements:
        out += ["", "RULE POSITIONS", columns(["RULE", "POS", "FOREIGN ABOVE", "FOREIGN BELOW", "OF"],
                                              [[p.rule, str(p.position), str(p.foreign_above), str(p.foreign_below),
                                                str(p.total)] for p in report.placements])]
    if report.exposure:
        out += ["", "EXPOSURE", columns(["SERVICE", "FROM ZONE", "SOURCES", "REACHES", "VIA", "VIP", "ALLOWED BY"],
                                        [_reach_row(r) for r in report.exposure])]
    if report.routes:
        out += ["", "STATIC ROUTES", columns(["DESTINATION", "NEXT HOP", "SERVES", "NODE", "HEALTHY"],
                                             [[r.destination, r.nexthop, r.serves, r.node or "-",
                                               "yes" if r.healthy else f"no: {r.why}"] for r in report.routes])]
    return out


def markdown(report: AuditReport) -> str:
    """For a ticket: the verdict, the findings and the exposure as Markdown tables."""
    s = report.summary()
    verdict = "Clean" if report.clean() else "Findings"
    if report.shadowed:
        verdict += f" ({len(report.shadowed)} bmlb rules never take effect)"
    out = [f"## bmlb audit of firewall `{_md(report.firewall or '-')}`: {verdict}", "",
           " · ".join(f"{k}: `{_md(v)}`" for k, v in report.source) or "", "",
           "| " + " | ".join(k.replace("_", " ") for k in s) + " |", "|" + "---|" * len(s),
           "| " + " | ".join(str(v) for v in s.values()) + " |"]

    def table(title: str, head: list[str], rows: list[list[str]]) -> None:
        if rows:
            out.extend(["", f"### {title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)])
            out.extend("| " + " | ".join(_md(c) for c in r) + " |" for r in rows)

    table("Orphans", ["kind", "name", "owner"], [[r.kind, r.name, owner_text(r.owner)] for r in report.orphans])
    table("Drift", ["kind", "name", "attribute", "expected", "actual", "owner"],
          [[d.kind, d.name, d.attribute, _cut(d.expected), _cut(d.actual), owner_text(d.owner)] for d in report.drift])
    table("NAT mismatches", ["NAT rule", "Service", "reason"],
          [[m.name, m.service or "-", m.reason] for m in report.nat_mismatches])
    table("Rules an earlier rule takes all (shadowed, redundant) or part (narrowed) of",
          ["rule", "position", "effect", "by", "by position", "foreign"],
          [[f.rule, str(f.position), f.effect.value, f"{f.by} ({f.by_action})", str(f.by_position),
            "yes" if f.by_foreign else "no"] for f in report.effect])
    table("Allow rules open to any source", ["rule", "from", "exposes", "owner"],
          [[a.name, ",".join(a.from_zones), ",".join(a.exposed) or "-", owner_text(a.owner)]
           for a in report.any_source])
    table("Exposure", ["Service", "from zone", "sources", "reaches", "via", "VIP", "allowed by"],
          [_reach_row(r) for r in report.exposure])
    table("Static routes", ["destination", "next hop", "serves", "node", "healthy"],
          [[r.destination, r.nexthop, r.serves, r.node or "-", "yes" if r.healthy else f"no: {r.why}"]
           for r in report.routes])
    return "\n".join(out) + "\n"


def _md(value: object) -> str:
    """A table cell: pipes escaped, no line breaks, no HTML."""
    text = str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")
    return text.replace("<", "&lt;").replace(">", "&gt;")


def _cut(value: str, width: int = 48) -> str:
    """Terminal cells stay short (descriptions are long); JSON and HTML carry the full values."""
    return value if len(value) <= width else value[: width - 3] + "..."


@cache
def _environment() -> jinja2.Environment:
    return templates(html=True, trim_blocks=True, lstrip_blocks=True)


def html(report: AuditReport) -> str:
    template = _environment().get_template("audit.html.j2")
    return template.render(report=report, summary=report.summary(), clean=report.clean(), owner_text=owner_text,
                           owner_row=_owner_row, by_namespace=exposure.by_namespace(report.exposure))
