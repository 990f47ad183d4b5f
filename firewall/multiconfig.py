"""`action=multi-config`: many config writes in one request (what pango sends; pan-os-python
has no such call). Only the request element and the reply are ours; pan-python's xapi carries
them (`ad_hoc`), so TLS, timeouts and key handling stay in one place.

Request:  <multi-configure-request><set id="1" xpath="..">ENTRY</set><edit ..><delete ../>
          <move id=".." xpath=".." where="after" dst="x"/></multi-configure-request>
Reply:    <response status="success|error" code=".."><response id="1" status=".." code="..">
          <msg>..</msg></response>..</response>; without strict-transactional the device stops
          at the first failing sub-request, and those before it stay applied.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

from firewall.writes import Write

MIN_VERSION = (9, 0, 0)  # unverified: pango uses it on 9.0+; older devices get one request per write


@dataclass(frozen=True, slots=True)
class Result:
    index: int
    ok: bool
    code: str
    message: str


def request(writes: Sequence[Write]) -> str:
    """The request element, from each write's serialised body (what ElementTree would write)."""
    parts = ["<multi-configure-request>"]
    for i, w in enumerate(writes):
        attrs = [("id", str(i + 1)), ("xpath", w.xpath)]
        attrs += [(k, v) for k, v in (("where", w.where), ("dst", w.dst)) if v is not None]
        head = w.action + "".join(f' {k}="{_attr(v)}"' for k, v in attrs)
        parts.append(f"<{head}>{w.body}</{w.action}>" if w.body else f"<{head} />")
    parts.append("</multi-configure-request>")
    return "".join(parts)


def _attr(value: str) -> str:
    return escape(value, {'"': "&quot;", "\n": "&#10;", "\r": "&#13;", "\t": "&#09;"})


def message(node: ET.Element) -> str:
    lines = [(line.text or "").strip() for line in node.iter("line")]
    if not lines and node.find("msg") is not None:
        lines = [(node.findtext("msg") or "").strip()]
    return "\n".join(x for x in lines if x)


def results(reply: ET.Element, count: int) -> list[Result]:
    """One Result per sub-request answered (those after a failure are missing)."""
    out = []
    for sub in reply.findall("response"):
        sid = sub.get("id", "")
        if not sid.isdigit() or not 1 <= int(sid) <= count:
            continue
        out.append(Result(int(sid) - 1, sub.get("status") == "success", sub.get("code", ""), message(sub)))
    return sorted(out, key=lambda r: r.index)
