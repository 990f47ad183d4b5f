"""What the audit reads from raw bodies and device objects: the owner a firewall object's
description names (the one place provenance is parsed), an object's metadata, a Service's recorded
VIPs, an address object's single IP."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any

from controller.core.services import ingress_addresses
from controller.core.snapshot import Body
from firewall.model import AddressObject, Owner

# the owner_text macro of templates/firewall.j2.
OWNER_RE = re.compile(r"owner: (?P<kind>[A-Za-z]+) (?:(?P<namespace>[^\s/]+)/)?(?P<name>[^\s/]+)"
                      r" uid=(?P<uid>\S+) gen=(?P<generation>\d+)")


def parse_owner(description: str) -> Owner | None:
    m = OWNER_RE.search(description)
    if m is None:
        return None
    uid = m["uid"]
    return Owner(m["kind"], m["namespace"] or "", m["name"], "" if uid == "-" else uid, int(m["generation"]))



def field(body: object, *path: str) -> Any:
    """body[path[0]][path[1]]..., None where a step is not a map: the cluster's objects hold
    whatever a tenant or a broken client wrote, and the audit reports on them all the same."""
    for key in path:
        if not isinstance(body, Mapping):
            return None
        body = body.get(key)
    return body


def mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def items(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def meta_of(body: Body) -> Mapping[str, Any]:
    return mapping(field(body, "metadata"))


def ip_of(addr: AddressObject | None) -> str:
    if addr is None or addr.kind != "ip-netmask":
        return ""
    host = addr.value.split("/", 1)[0]
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return ""


def ingress(service: Body | None) -> tuple[str, ...]:
    return tuple(str(ip) for ip in ingress_addresses(service or {}))
