"""The audit a security team reads: what bmlb owns on a firewall, who asked for it, and what is wrong.

audit(actual=..., desired=..., snapshot=...) -> AuditReport is pure. `actual` is what the device
holds that carries bmlb's ownership (as read by firewall.reader.read_owned: owners unknown, so
they are parsed back from each object's description), `desired` what compiling the cluster gives
now, `snapshot` the cluster objects. Findings:
- owner status: the owner named in the description is present, gone (orphan), recreated under the
  same name (stale uid) or has moved on to a newer generation (generation behind);
- drift: per attribute, desired vs actual; "missing" and "unexpected" for whole objects;
- any-source: allow rules open to every source address;
- NAT mismatch: a NAT rule whose translated address is not the Service's current VIP.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from controller.snapshot import Body, Snapshot
from firewall import diff, elements
from firewall.config import SyncConfig
from firewall.elements import Kind, Obj
from firewall.model import Action, AddressObject, DesiredFirewall, NatRule, Owner, SecurityRule

# The one place provenance is parsed: the owner_text macro of templates/firewall.j2.
OWNER_RE = re.compile(r"owner: (?P<kind>[A-Za-z]+) (?:(?P<namespace>[^\s/]+)/)?(?P<name>[^\s/]+)"
                      r" uid=(?P<uid>\S+) gen=(?P<generation>\d+)")


def parse_owner(description: str) -> Owner | None:
    m = OWNER_RE.search(description)
    if m is None:
        return None
    uid = m["uid"]
    return Owner(m["kind"], m["namespace"] or "", m["name"], "" if uid == "-" else uid, int(m["generation"]))


class OwnerStatus(enum.Enum):
    PRESENT = "present"
    ORPHAN = "orphan"  # no such object in the cluster
    STALE_UID = "stale-uid"  # an object of that name exists, but it was recreated (another uid)
    GENERATION_BEHIND = "generation-behind"  # the owner changed since the firewall object was written
    SHARED = "shared"  # no single owner: tags and service objects shared by rules
    UNKNOWN = "unknown"  # the description names no owner (edited by hand?)

    @property
    def finding(self) -> bool:
        return self in (OwnerStatus.ORPHAN, OwnerStatus.STALE_UID, OwnerStatus.GENERATION_BEHIND,
                        OwnerStatus.UNKNOWN)


@dataclass(frozen=True, slots=True)
class Row:
    """One managed object on the firewall and its Kubernetes owner."""

    kind: str  # tag | address | service | security | nat
    name: str
    summary: str  # the object's value in a few words
    owner: Owner | None
    status: OwnerStatus
    cluster_uid: str = ""  # the owner's uid / generation in the cluster now, when it exists
    cluster_generation: int | None = None
    desired: bool = True  # compiling the cluster still asks for this object


@dataclass(frozen=True, slots=True)
class DriftItem:
    kind: str
    name: str
    attribute: str  # a model attribute, "missing" (desired, absent) or "unexpected" (present, not desired)
    expected: str
    actual: str
    owner: Owner | None = None


@dataclass(frozen=True, slots=True)
class AnySource:
    name: str
    from_zones: tuple[str, ...]
    to_zones: tuple[str, ...]
    destinations: tuple[str, ...]  # address object names, with their IPs where known: "name (ip)"
    services: tuple[str, ...]
    exposed: tuple[str, ...]  # Services ("ns/name") whose VIP or public address is a destination
    owner: Owner | None = None


@dataclass(frozen=True, slots=True)
class NatMismatch:
    name: str
    translated_address: str  # the address object's name
    translated_ip: str  # what it resolves to on the firewall ("" when it does not resolve)
    service: str  # "ns/name", "" when unknown
    vips: tuple[str, ...]  # the Service's status.loadBalancer.ingress IPs
    reason: str
    owner: Owner | None = None


@dataclass(frozen=True)
class AuditReport:
    firewall: str
    ownership_tag: str
    rows: tuple[Row, ...] = ()
    drift: tuple[DriftItem, ...] = ()
    any_source: tuple[AnySource, ...] = ()
    nat_mismatches: tuple[NatMismatch, ...] = ()
    source: tuple[tuple[str, str], ...] = ()  # where the data came from, for the reader (shell-supplied)

    @property
    def orphans(self) -> tuple[Row, ...]:
        return tuple(r for r in self.rows if r.status is OwnerStatus.ORPHAN)

    @property
    def owner_findings(self) -> tuple[Row, ...]:
        return tuple(r for r in self.rows if r.status.finding)

    def summary(self) -> dict[str, int]:
        return {
            "objects": len(self.rows),
            "orphans": len(self.orphans),
            "stale_owners": sum(1 for r in self.rows if r.status in (OwnerStatus.STALE_UID,
                                                                     OwnerStatus.GENERATION_BEHIND,
                                                                     OwnerStatus.UNKNOWN)),
            "drift": len(self.drift),
            "drifted_objects": len({(d.kind, d.name) for d in self.drift}),
            "any_source": len(self.any_source),
            "nat_mismatches": len(self.nat_mismatches),
        }

    def clean(self, *, strict: bool = False) -> bool:
        """No orphans, stale owners, drift or NAT mismatches (strict: and no any-source rule)."""
        bad = bool(self.owner_findings or self.drift or self.nat_mismatches)
        return not (bad or (strict and self.any_source))


_OWNER_KINDS = {"Service": "services", "NATRule": "nat_rules", "SecurityPolicy": "policies",
                "VIPPool": "pools", "Firewall": "firewalls", "Node": "nodes", "EndpointSlice": "endpoint_slices"}


def _meta(body: Body) -> Mapping[str, Any]:
    return body.get("metadata") or {}


def _index(snapshot: Snapshot) -> dict[tuple[str, str, str], Body]:
    out: dict[tuple[str, str, str], Body] = {}
    for kind, attr in _OWNER_KINDS.items():
        for body in getattr(snapshot, attr):
            meta = _meta(body)
            out[(kind, str(meta.get("namespace") or ""), str(meta.get("name") or ""))] = body
    return out


def _owner_status(owner: Owner | None, obj: Obj, index: Mapping[tuple[str, str, str], Body]
                  ) -> tuple[OwnerStatus, str, int | None]:
    if owner is None:
        shared = elements.kind_of(obj) in (Kind.TAG, Kind.SERVICE)
        return (OwnerStatus.SHARED if shared else OwnerStatus.UNKNOWN), "", None
    body = index.get((owner.kind, owner.namespace, owner.name))
    if body is None:
        return OwnerStatus.ORPHAN, "", None
    meta = _meta(body)
    uid, generation = str(meta.get("uid") or ""), int(meta.get("generation") or 0)
    if owner.uid and uid and owner.uid != uid:
        return OwnerStatus.STALE_UID, uid, generation
    if owner.generation < generation:
        return OwnerStatus.GENERATION_BEHIND, uid, generation
    return OwnerStatus.PRESENT, uid, generation


def _ip_of(addr: AddressObject | None) -> str:
    if addr is None or addr.kind != "ip-netmask":
        return ""
    host = addr.value.split("/", 1)[0]
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return ""


def _ingress(service: Body | None) -> tuple[str, ...]:
    lb = ((service or {}).get("status") or {}).get("loadBalancer") or {}
    out = []
    for item in lb.get("ingress") or []:
        try:
            out.append(str(ipaddress.ip_address(str(item.get("ip") or ""))))
        except ValueError:
            continue
    return tuple(out)


def _summary(obj: Obj) -> str:
    if isinstance(obj, AddressObject):
        return obj.value
    if isinstance(obj, NatRule):
        port = f":{obj.translated_port}" if obj.translated_port else ""
        return f"{','.join(obj.destination)} {obj.service} -> {obj.translated_address}{port}"
    if isinstance(obj, SecurityRule):
        return (f"{','.join(obj.from_zones)} -> {','.join(obj.to_zones)} {','.join(obj.sources)} -> "
                f"{','.join(obj.destinations)} {','.join(obj.services)} {obj.action.value}")
    protocol = getattr(obj, "protocol", None)
    if protocol is not None:
        return f"{protocol.value}/{getattr(obj, 'port', '')}"
    return getattr(obj, "comments", "") or ""


def _objects(fw: DesiredFirewall) -> Iterable[Obj]:
    yield from fw.tags
    yield from fw.addresses
    yield from fw.services
    yield from fw.security_rules
    yield from fw.nat_rules


def audit(*, actual: DesiredFirewall, desired: DesiredFirewall, snapshot: Snapshot, firewall: str = "",
          source: tuple[tuple[str, str], ...] = ()) -> AuditReport:
    index = _index(snapshot)
    want = diff.wanted(desired, SyncConfig(ownership_tag=desired.ownership_tag))
    have: dict[tuple[Kind, str], Obj] = {(elements.kind_of(o), o.name): elements.canonical(o)
                                         for o in _objects(actual)}
    owners: dict[tuple[Kind, str], Owner | None] = {}
    rows: list[Row] = []
    for key, obj in sorted(have.items(), key=lambda kv: (kv[0][0].rank, kv[0][1])):
        owner = parse_owner(str(getattr(obj, "description", "") or ""))
        owners[key] = owner
        status, uid, generation = _owner_status(owner, obj, index)
        rows.append(Row(key[0].value, key[1], _summary(obj), owner, status, uid, generation, key in want))

    drift: list[DriftItem] = []
    for key in sorted(set(want) | set(have), key=lambda k: (k[0].rank, k[1])):
        kind, name = key
        w, h = want.get(key), have.get(key)
        if h is None:
            drift.append(DriftItem(kind.value, name, "missing", "present", "absent",
                                   parse_owner(str(getattr(w, "description", "") or ""))))
        elif w is None:
            drift.append(DriftItem(kind.value, name, "unexpected", "absent", "present", owners.get(key)))
        elif w != h:
            drift += [DriftItem(kind.value, name, c.field, c.desired, c.actual, owners.get(key))
                      for c in diff.changes(h, w)]

    addresses = {a.name: a for a in actual.addresses}
    return AuditReport(
        firewall=firewall, ownership_tag=desired.ownership_tag, rows=tuple(rows), drift=tuple(drift),
        any_source=tuple(_any_source(actual, addresses, snapshot, owners)),
        nat_mismatches=tuple(_nat_mismatches(actual, addresses, index, owners)),
        source=source,
    )


def _exposed_by_ip(snapshot: Snapshot, actual: DesiredFirewall, addresses: Mapping[str, AddressObject]
                   ) -> dict[str, set[str]]:
    """IP -> Services reachable at it: their VIPs, and the public addresses NAT rules translate to them."""
    out: dict[str, set[str]] = {}
    for svc in snapshot.services:
        meta = _meta(svc)
        for ip in _ingress(svc):
            out.setdefault(ip, set()).add(f"{meta.get('namespace')}/{meta.get('name')}")
    for nat in snapshot.nat_rules:
        meta, spec = _meta(nat), nat.get("spec") or {}
        public = str((nat.get("status") or {}).get("public") or "")
        explicit = str((spec.get("public") or {}).get("address") or "")
        hosts = {public.rsplit(":", 1)[0].strip("[]") if public else "", explicit}
        svc = (spec.get("service") or {}).get("name")
        for host in hosts - {""}:
            if svc:
                out.setdefault(host, set()).add(f"{meta.get('namespace')}/{svc}")
    for rule in actual.nat_rules:  # what the firewall itself publishes
        behind = set(out.get(_ip_of(addresses.get(rule.translated_address)), ()))
        for d in rule.destination:
            if (ip := _ip_of(addresses.get(d))) and behind:
                out.setdefault(ip, set()).update(behind)
    return out


def _any_source(actual: DesiredFirewall, addresses: Mapping[str, AddressObject], snapshot: Snapshot,
                owners: Mapping[tuple[Kind, str], Owner | None]) -> list[AnySource]:
    by_ip = _exposed_by_ip(snapshot, actual, addresses)
    out = []
    for rule in actual.security_rules:
        if rule.action is not Action.ALLOW or rule.disabled or "any" not in rule.sources:
            continue
        dests, exposed = [], set()
        for d in rule.destinations:
            ip = _ip_of(addresses.get(d))
            dests.append(f"{d} ({ip})" if ip else d)
            exposed |= by_ip.get(ip, set())
        out.append(AnySource(rule.name, rule.from_zones, rule.to_zones, tuple(dests), rule.services,
                             tuple(sorted(exposed)), owners.get((Kind.SECURITY, rule.name))))
    return sorted(out, key=lambda a: a.name)


def _nat_mismatches(actual: DesiredFirewall, addresses: Mapping[str, AddressObject],
                    index: Mapping[tuple[str, str, str], Body], owners: Mapping[tuple[Kind, str], Owner | None]
                    ) -> list[NatMismatch]:
    out = []
    for rule in actual.nat_rules:
        owner = owners.get((Kind.NAT, rule.name))
        if owner is None or owner.kind != "NATRule":
            continue  # an orphan or unowned rule is reported as such; without an owner there is no Service
        natrule = index.get(("NATRule", owner.namespace, owner.name))
        if natrule is None:
            continue
        svc_name = str(((natrule.get("spec") or {}).get("service") or {}).get("name") or "")
        service = index.get(("Service", owner.namespace, svc_name))
        svc = f"{owner.namespace}/{svc_name}"
        vips = _ingress(service)
        ip = _ip_of(addresses.get(rule.translated_address))

        if service is None:
            reason = f"Service {svc} does not exist"
        elif not ip:
            reason = f"translated address {rule.translated_address} is not a bmlb address object with one IP"
        elif not vips:
            reason = f"Service {svc} has no VIP in status.loadBalancer.ingress"
        elif ip not in vips:
            reason = f"translates to {ip}, but the VIP of Service {svc} is {', '.join(vips)}"
        else:
            continue
        out.append(NatMismatch(rule.name, rule.translated_address, ip, svc, vips, reason, owner))
    return sorted(out, key=lambda m: m.name)
