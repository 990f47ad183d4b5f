"""The XML envelopes PAN-OS answers with (reference section 3)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable


def _response(status: str, code: int | None) -> ET.Element:
    attrs = {"status": status}
    if code:
        attrs["code"] = str(code)
    return ET.Element("response", attrs)


def to_text(elem: ET.Element) -> str:
    return ET.tostring(elem, encoding="unicode")


def error(code: int, lines: Iterable[str]) -> ET.Element:
    resp = _response("error", code)
    msg = ET.SubElement(resp, "msg")
    for line in lines:
        ET.SubElement(msg, "line").text = line
    return resp


def command_succeeded() -> ET.Element:
    resp = _response("success", 20)
    ET.SubElement(resp, "msg").text = "command succeeded"
    return resp


def message(text: str, *, code: int | None = None, status: str = "success") -> ET.Element:
    resp = _response(status, code)
    ET.SubElement(resp, "msg").text = text
    return resp


def result(*children: ET.Element, text: str | None = None, code: int | None = None,
           counts: bool = False) -> ET.Element:
    resp = _response("success", code)
    res = ET.SubElement(resp, "result")
    if counts:
        res.set("total-count", str(len(children)))
        res.set("count", str(len(children)))
    res.text = text
    res.extend(children)
    return resp


def job_enqueued(job_id: int, *, commit_all: bool = False) -> ET.Element:
    resp = _response("success", 19)
    res = ET.SubElement(resp, "result")
    line = ET.SubElement(ET.SubElement(res, "msg"), "line")
    line.text = f"{'Job' if commit_all else 'Commit job'} enqueued with jobid {job_id}"
    ET.SubElement(res, "job").text = str(job_id)
    return resp


def forbidden() -> ET.Element:
    resp = _response("error", 403)
    ET.SubElement(ET.SubElement(resp, "result"), "msg").text = "Invalid Credential"
    return resp


def bad_request(text: str) -> ET.Element:
    resp = _response("error", 400)
    ET.SubElement(ET.SubElement(resp, "result"), "msg").text = text
    return resp
