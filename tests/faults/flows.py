"""A small PAN-OS packet-flow evaluator over a running config: what happens to one packet.

Written from PAN-OS's documented policy semantics (/work/shared/reference/panos-xml-api.md §7),
not from bmlb's code: both rulebases are first match, top to bottom, disabled rules skipped.
  NAT       matched on the PRE-NAT packet: source zone, the zone the original destination routes
            to, source, destination, service; its destination translation gives the new
            destination address (and port, else the original port).
  Security  matched on the source zone, the POST-NAT destination zone, source, the PRE-NAT
            destination address and the original service; no rule matching: the predefined
            intrazone-default (allow) and interzone-default (deny).
Not modelled (the fault suite's configs do not use them): application identification beyond a
packet's declared `application` (a rule naming applications, or service application-default,
matches only a packet declaring one of them), source NAT, schedules, users, HIP, tags, FQDN
and dynamic address groups, dynamic destination translation.
"""

from __future__ import annotations

import ipaddress
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass

VSYS = "devices/entry/vsys/entry[@name='vsys1']"


@dataclass(frozen=True)
class Packet:
    from_zone: str
    source: str
    destination: str
    port: int
    protocol: str = "tcp"
    application: str | None = None


@dataclass(frozen=True)
class Verdict:
    action: str  # allow, deny, drop, reset-client, ...
    rule: str  # the security rule that decided (or intrazone-default / interzone-default)
    nat_rule: str | None  # the NAT rule that matched, if any
    destination: str  # after destination NAT
    port: int  # after destination NAT

    @property
    def allowed(self) -> bool:
        return self.action == "allow"


def _members(e: ET.Element, path: str) -> list[str]:
    return [(m.text or "").strip() for m in e.findall(f"{path}/member")]


class Config:
    def __init__(self, running_xml: str) -> None:
        vsys = ET.fromstring(running_xml).find(VSYS)
        assert vsys is not None, "no vsys1 in the config"
        self.vsys = vsys
        shared = ET.fromstring(running_xml).find("shared")
        scopes = [vsys] + ([shared] if shared is not None else [])
        self.addresses = {e.get("name", ""): e for s in scopes for e in s.findall("address/entry")}
        self.address_groups = {e.get("name", ""): _members(e, "static") for s in scopes
                               for e in s.findall("address-group/entry")}
        self.services = {e.get("name", ""): e for s in scopes for e in s.findall("service/entry")}
        self.service_groups = {e.get("name", ""): _members(e, "members") for s in scopes
                               for e in s.findall("service-group/entry")}

    # ------------------------------------------------------------------ matching one field

    def address_matches(self, member: str, ip: str, depth: int = 0) -> bool:
        if member == "any":
            return True
        if depth > 8:
            return False
        if member in self.address_groups:
            return any(self.address_matches(m, ip, depth + 1) for m in self.address_groups[member])
        obj = self.addresses.get(member)
        value = member
        if obj is not None:
            value = obj.findtext("ip-netmask") or obj.findtext("ip-range") or ""
        return _in(ip, value)

    def addresses_match(self, rule: ET.Element, path: str, ip: str) -> bool:
        hit = any(self.address_matches(m, ip) for m in _members(rule, path))
        return hit != ((rule.findtext(f"negate-{path}") or "no") == "yes")

    def service_matches(self, member: str, packet: Packet, apps: list[str], depth: int = 0) -> bool:
        if member == "any":
            return True
        if member == "application-default":
            return packet.application is not None and packet.application in apps
        if member in self.service_groups and depth < 8:
            return any(self.service_matches(m, packet, apps, depth + 1) for m in self.service_groups[member])
        obj = self.services.get(member)
        if obj is None:
            return False
        ports = obj.findtext(f"protocol/{packet.protocol}/port")
        return ports is not None and _port_in(packet.port, ports)

    # ------------------------------------------------------------------ the two rulebases

    def nat(self, packet: Packet, zone_of: Callable[[str], str]) -> ET.Element | None:
        to_zone = zone_of(packet.destination)
        for rule in self.vsys.findall("rulebase/nat/rules/entry"):
            if (rule.findtext("disabled") or "no") == "yes":
                continue
            if not _zone(_members(rule, "from"), packet.from_zone) or not _zone(_members(rule, "to"), to_zone):
                continue
            if not self.addresses_match(rule, "source", packet.source) or \
                    not self.addresses_match(rule, "destination", packet.destination):
                continue
            if not self.service_matches(rule.findtext("service") or "any", packet, []):
                continue
            return rule
        return None

    def evaluate(self, packet: Packet, zone_of: Callable[[str], str]) -> Verdict:
        nat = self.nat(packet, zone_of)
        dst, port = packet.destination, packet.port
        if nat is not None and nat.find("destination-translation") is not None:
            to = nat.findtext("destination-translation/translated-address") or ""
            obj = self.addresses.get(to)
            value = (obj.findtext("ip-netmask") or "") if obj is not None else to
            dst = value.split("/")[0] if value else dst
            port = int(nat.findtext("destination-translation/translated-port") or port)
        post_zone = zone_of(dst)
        nat_name = nat.get("name") if nat is not None else None
        for rule in self.vsys.findall("rulebase/security/rules/entry"):
            if (rule.findtext("disabled") or "no") == "yes":
                continue
            if not _zone(_members(rule, "from"), packet.from_zone) or not _zone(_members(rule, "to"), post_zone):
                continue
            if not self.addresses_match(rule, "source", packet.source) or \
                    not self.addresses_match(rule, "destination", packet.destination):  # PRE-NAT address
                continue
            apps = _members(rule, "application")
            if "any" not in apps and packet.application not in apps:
                continue
            if not any(self.service_matches(m, packet, apps) for m in _members(rule, "service")):  # original port
                continue
            return Verdict(rule.findtext("action") or "", rule.get("name") or "", nat_name, dst, port)
        if packet.from_zone == post_zone:
            return Verdict("allow", "intrazone-default", nat_name, dst, port)
        return Verdict("deny", "interzone-default", nat_name, dst, port)


def evaluate(running_xml: str, packet: Packet, zone_of: Callable[[str], str]) -> Verdict:
    return Config(running_xml).evaluate(packet, zone_of)


def _zone(members: list[str], zone: str) -> bool:
    return "any" in members or zone in members


def _in(ip: str, value: str) -> bool:
    try:
        addr = ipaddress.ip_address(ip)
        if "-" in value:
            lo, hi = (ipaddress.ip_address(x.strip()) for x in value.split("-", 1))
            return lo.version == addr.version and lo <= addr <= hi  # type: ignore[operator]
        return addr in ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False


def _port_in(port: int, spec: str) -> bool:
    for part in spec.split(","):
        lo, _, hi = part.strip().partition("-")
        if lo and int(lo) <= port <= int(hi or lo):
            return True
    return False
