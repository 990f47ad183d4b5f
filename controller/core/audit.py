"""The audit a security team reads: what bmlb owns on a firewall, who asked for it, and what is wrong.

audit(actual=..., desired=..., snapshot=...) -> AuditReport is pure. `actual` is what the device
holds that carries bmlb's ownership (as read by firewall.reader.read_owned: owners unknown, so
they are parsed back from each object's description, controller/core/audit_inputs.py), `desired`
what compiling the cluster gives now, `snapshot` the cluster objects. Findings:
- owner status: the owner named in the description is present, gone (orphan), recreated under the
  same name (stale uid) or has moved on to a newer generation (generation behind);
- drift: per attribute, desired vs actual; "missing" and "unexpected" for whole objects;
- any-source: allow rules open to every source address;
- NAT mismatch: a NAT rule whose translated address is not the Service's current VIP
  (these two: controller/core/audit_findings.py).
With `policy` (the whole rulebase as read from the device, controller/core/audit_rulebase.py) also:
- effect: managed rules shadowed or made redundant by an earlier rule (controller/core/shadowing.py),
  and where each managed rule sits among foreign ones;
- exposure: who reaches each Service at its VIP and public addresses (controller/core/exposure.py);
- routes: bmlb's static routes, the VIP or pool each serves, the node behind the next hop and
  whether that node is healthy (Ready, and its agent Lease fresh when Leases are judged;
  controller/core/audit_routes.py).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from controller.core import exposure as exp
from controller.core import intervals, kinds, shadowing
from controller.core.audit_findings import AnySource, NatMismatch, any_source, nat_mismatches
from controller.core.audit_inputs import ingress, ip_of, items, mapping, meta_of, parse_owner
from controller.core.audit_routes import RouteRow, pool_ranges, routes
from controller.core.audit_rulebase import Policy
from controller.core.snapshot import Body, Snapshot
from firewall import diff, elements
from firewall.config import SyncConfig
from firewall.elements import Kind, Obj
from firewall.model import AddressObject, DesiredFirewall, NatRule, Owner, SecurityRule


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


@dataclass(frozen=True)
class AuditReport:
    firewall: str
    ownership_tag: str
    rows: tuple[Row, ...] = ()
    drift: tuple[DriftItem, ...] = ()
    any_source: tuple[AnySource, ...] = ()
    nat_mismatches: tuple[NatMismatch, ...] = ()
    source: tuple[tuple[str, str], ...] = ()  # where the data came from, for the reader (shell-supplied)
    effect: tuple[shadowing.Finding, ...] = ()
    placements: tuple[shadowing.Placement, ...] = ()
    exposure: tuple[exp.Reach, ...] = ()
    routes: tuple[RouteRow, ...] = ()
    rulebase_read: bool = False  # effect, placements and exposure were computed

    @property
    def shadowed(self) -> tuple[shadowing.Finding, ...]:
        return tuple(f for f in self.effect if f.effect is shadowing.Effect.SHADOWED)

    @property
    def overridden(self) -> tuple[shadowing.Finding, ...]:
        return tuple(f for f in self.effect if f.overridden)

    @property
    def unhealthy_routes(self) -> tuple[RouteRow, ...]:
        return tuple(r for r in self.routes if not r.healthy)

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
            "shadowed": len(self.shadowed),
            "redundant": sum(1 for f in self.effect if f.effect is shadowing.Effect.REDUNDANT),
            "narrowed": sum(1 for f in self.effect if f.effect is shadowing.Effect.NARROWED),
            "overridden": len(self.overridden),
            "exposure": len(self.exposure),
            "routes": len(self.routes),
            "unhealthy_routes": len(self.unhealthy_routes),
        }

    def clean(self, *, strict: bool = False) -> bool:
        """No orphans, stale owners, drift or NAT mismatches (strict: and no any-source rule, no
        shadowed rule, no route to an unhealthy node)."""
        bad = bool(self.owner_findings or self.drift or self.nat_mismatches)
        return not (bad or (strict and (self.any_source or self.shadowed or self.unhealthy_routes)))


_OWNER_KINDS = {k.kind: k.field for k in kinds.ALL if k is not kinds.LEASE}


def _index(snapshot: Snapshot) -> dict[tuple[str, str, str], Body]:
    out: dict[tuple[str, str, str], Body] = {}
    for kind, attr in _OWNER_KINDS.items():
        for body in getattr(snapshot, attr):
            meta = meta_of(body)
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
    meta = meta_of(body)
    raw = meta.get("generation")
    uid, generation = str(meta.get("uid") or ""), raw if isinstance(raw, int) and not isinstance(raw, bool) else 0
    if owner.uid and uid and owner.uid != uid:
        return OwnerStatus.STALE_UID, uid, generation
    if owner.generation < generation:
        return OwnerStatus.GENERATION_BEHIND, uid, generation
    return OwnerStatus.PRESENT, uid, generation


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
          source: tuple[tuple[str, str], ...] = (), policy: Policy | None = None,
          service: str | None = None) -> AuditReport:
    """`service` ("ns/name"): the exposure of that Service alone."""
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
        any_source=tuple(any_source(actual, addresses, snapshot, owners)),
        nat_mismatches=tuple(nat_mismatches(actual, addresses, index, owners)),
        source=source,
        effect=tuple(shadowing.findings(policy)) if policy else (),
        placements=tuple(shadowing.placements(policy)) if policy else (),
        exposure=tuple(exp.matrix(policy, _targets(snapshot, actual, service), _pool_zone(snapshot)))
        if policy else (),
        routes=tuple(routes(actual, snapshot)),
        rulebase_read=policy is not None,
    )


def _targets(snapshot: Snapshot, actual: DesiredFirewall, only: str | None) -> list[exp.Target]:
    """Each Service with its VIPs (status, and the address objects the device holds for it) and ports."""
    vips: dict[str, set[str]] = {}
    for a in actual.addresses:
        owner = parse_owner(a.description)
        if owner is not None and owner.kind == "Service" and (ip := ip_of(a)):
            vips.setdefault(f"{owner.namespace}/{owner.name}", set()).add(ip)
    out = []
    for svc in snapshot.services:
        meta, spec = meta_of(svc), mapping(svc.get("spec"))
        key = f"{meta.get('namespace')}/{meta.get('name')}"
        if only is not None and key != only:
            continue
        ips = set(ingress(svc)) | vips.get(key, set())
        ports = []
        for p in items(spec.get("ports")):
            if isinstance(p, Mapping) and isinstance(p.get("port"), int):
                ports.append(exp.Port(str(p.get("protocol") or "TCP").lower(), int(p["port"])))
        if ips and ports:
            out.append(exp.Target(key, tuple(sorted(ips)), tuple(ports)))
    return out


def _pool_zone(snapshot: Snapshot) -> Any:
    """Where the device's config does not place a VIP in a zone: the zone its VIPPool names."""
    ranges = pool_ranges(snapshot)

    def zone(ip: str) -> str | None:
        iv = intervals.ip_interval(ip)
        return next((z for _, z, (lo, hi) in ranges if iv and z and lo <= iv[0] <= hi), None)
    return zone
