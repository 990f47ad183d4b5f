"""A config `get` whose answer is parsed as it arrives: the entries of one container handed over
one at a time, each let go before the next is parsed.

pan-os-python's xapi reads an answer whole and parses it into one tree: at 10,000 Services the
device's answer for one container (20,000 address objects, a rulebase of 10,000 rules) held ~120 MB
at once, the peak of the controller's memory. This request is the one `xapi.get` sends (same
address, form fields, key, TLS context and timeout), and whatever goes wrong raises what the xapi
raises for it (`PanXapiError` with its wording, or the socket's error), so that firewall/device.py
maps and retries it alike.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any, BinaryIO
from urllib.error import URLError
from urllib.parse import urlencode
from urllib.request import Request, urlopen

from pan.xapi import PanXapiError

_CHUNK = 1 << 16
_CONTAINER_DEPTH = 3  # <response><result><address>: the entries are its children


def entries(xapi: Any, xpath: str) -> Iterator[ET.Element]:
    """Every `entry` child of the container at `xpath` in the candidate config; none when the
    device has nothing there. An entry is emptied of nothing: read it before asking for the next."""
    query = {"type": "config", "action": "get", "xpath": xpath}
    if getattr(xapi, "serial", None):
        query["target"] = xapi.serial
    data = urlencode(query) + "&key=" + str(xapi.api_key)  # the key as the xapi sends it (not re-encoded)
    try:
        response = urlopen(Request(xapi.uri, data.encode()), context=xapi.ssl_context, timeout=xapi.timeout)
    except URLError as err:
        raise PanXapiError(_url_error(err)) from None
    with response:
        ctype = response.headers.get("content-type") or ""
        if not ctype:
            raise PanXapiError("no content-type response header")
        if "application/xml" not in ctype:
            raise PanXapiError(f"no handler for content-type: {ctype}")
        yield from _parse(response)


def _parse(body: BinaryIO) -> Iterator[ET.Element]:
    parser = ET.XMLPullParser(events=("start", "end"))
    depth, container, root, failed = 0, None, None, False
    try:
        while not failed and (chunk := body.read(_CHUNK)):
            parser.feed(chunk)
            for event, elem in parser.read_events():
                if event == "start":
                    depth += 1
                    if depth == 1:
                        root, failed = elem, elem.get("status", "success") != "success"
                        if failed:  # an error answer is small: read whole, raised below
                            parser.feed(body.read())
                            break
                    elif depth == _CONTAINER_DEPTH:
                        container = elem
                    continue
                depth -= 1
                if depth == _CONTAINER_DEPTH and elem.tag == "entry" and container is not None:
                    yield elem
                    container.remove(elem)
        parser.close()
    except ET.ParseError as exc:
        raise PanXapiError(f"ElementTree.fromstring ParseError: {exc}") from None
    if root is None:
        raise PanXapiError("ElementTree.fromstring ParseError: empty answer")
    if failed:
        raise PanXapiError(_message(root) or f"status {root.get('status')} code {root.get('code', '')}".strip())


def _message(root: ET.Element) -> str:
    """The error's text, as the xapi reads it from an answer (msg/line, result/msg, msg)."""
    lines = [(line.text or line.findtext("line") or "") for line in root.findall("msg/line")]
    lines += [line.text or "" for line in root.findall("result/msg/line")]
    if not lines:
        lines = [root.findtext("result/msg") or root.findtext("msg") or ""]
    return "\n".join(x for x in lines if x)


def _url_error(err: URLError) -> str:
    """The xapi's wording: "URLError: code: 403 reason: Forbidden" (firewall/device.py reads it)."""
    msg = "URLError:"
    if hasattr(err, "code"):
        msg += f" code: {err.code}"
    if hasattr(err, "reason"):
        msg += f" reason: {err.reason}"
    return msg
