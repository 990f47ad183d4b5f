"""An element as XML text, as ElementTree's `tostring(encoding="unicode")` writes it, ~5x faster.

A burst of 10,000 Services is 50,000 entries to send: ElementTree's serialiser (a namespace pass
and a writer per call) cost seconds of the sync. Elements with a non-string tag (comments,
processing instructions) or a namespaced tag are left to ElementTree.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET


class _Unusual(Exception):
    pass


def to_text(element: ET.Element) -> str:
    out: list[str] = []
    try:
        _write(element, out)
    except _Unusual:
        return ET.tostring(element, encoding="unicode")
    return "".join(out)


def _write(e: ET.Element, out: list[str]) -> None:
    tag = e.tag
    if not isinstance(tag, str) or "{" in tag:
        raise _Unusual
    head = "<" + tag
    if e.attrib:
        for k, v in e.attrib.items():
            if not isinstance(k, str) or not isinstance(v, str) or "{" in k:
                raise _Unusual
            head += f' {k}="{_attrib(v)}"'
    text = e.text
    if text is not None and not isinstance(text, str):
        raise _Unusual
    if text or len(e):
        out.append(head + ">")
        if text:
            out.append(_cdata(text))
        for child in e:
            _write(child, out)
        out.append(f"</{tag}>")
    else:
        out.append(head + " />")
    tail = e.tail
    if tail:
        if not isinstance(tail, str):
            raise _Unusual
        out.append(_cdata(tail))


def _cdata(text: str) -> str:
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    return text


def _attrib(text: str) -> str:
    text = _cdata(text)
    if '"' in text:
        text = text.replace('"', "&quot;")
    if "\r" in text:
        text = text.replace("\r", "&#13;")
    if "\n" in text:
        text = text.replace("\n", "&#10;")
    if "\t" in text:
        text = text.replace("\t", "&#09;")
    return text
