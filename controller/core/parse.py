"""Parse: the first stage of the compiler. Raw bodies in, typed values and problems out.

Every value the compiler reads from the cluster or a manifest passes through here once, so a
wrong type anywhere (a list where a mapping belongs, a number for a label value, `null` for a
timestamp, YAML's `no` for a namespace) becomes a Problem naming the object and the field, and the
object is set aside. Nothing here raises on input; later stages see only typed values.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from controller.core import specs
from controller.core.compile_cache import CompileCache
from controller.core.cr_parse import parse_cr, parse_inputs, parse_owners, spec_of
from controller.core.ipam import Request
from controller.core.leases import MAX_DURATION
from controller.core.metadata import parse_meta, type_name
from controller.core.pools import AddressRange, Pool, PoolSyntaxError, parse_range, pool_overlaps
from controller.core.problems import ObjectRef, Problem
from controller.core.reasons import Code
from controller.core.rules import ParsedNat, ParsedPolicy
from controller.core.services import LBService, ServiceMap, ingress_addresses, parse_service, pydantic_problems
from controller.core.slices import Slice, parse_slices
from controller.core.snapshot import Body, Snapshot, ref_of


@dataclass(frozen=True)
class Parsed:
    """What the later stages read: typed, each object once, the unusable ones set aside."""

    pools: tuple[Pool, ...]
    services: ServiceMap  # (namespace, name) -> LBService, with the requests whose recorded addresses moved
    firewalls: Mapping[str, specs.FirewallSpec]
    nat_rules: tuple[tuple[ParsedNat, Body], ...]  # the body for its status (current public address)
    policies: tuple[ParsedPolicy, ...]
    problems: tuple[Problem, ...]
    cluster: Snapshot  # Nodes, Leases and EndpointSlices in their checked shape (see clean)
    slices: tuple[Slice, ...]  # the EndpointSlices typed, read once for the route and data-plane stages


def parse_pools(bodies: Iterable[Body]) -> tuple[list[Pool], list[Problem]]:
    pools: list[Pool] = []
    problems: list[Problem] = []
    for body in bodies:
        ref = ref_of(body)
        meta, p = parse_meta(body)
        raw, q = spec_of(body)
        problems += p + q
        if meta is None or raw is None:
            continue
        try:
            spec = specs.VIPPoolSpec.model_validate(raw)
        except ValidationError as err:
            problems += pydantic_problems(ref, err)
            continue
        ranges: list[AddressRange] = []
        ok = True
        for i, text in enumerate(spec.addresses):
            try:
                r = parse_range(text)
            except PoolSyntaxError as err:
                problems.append(Problem(ref, f"spec.addresses[{i}]", Code.InvalidAddress, str(err)))
                ok = False
                continue
            other = next((j for j, seen in enumerate(ranges) if seen.overlaps(r)), None)
            if other is not None:
                problems.append(Problem(ref, f"spec.addresses[{i}]", Code.PoolOverlap,
                                        f"{r} overlaps spec.addresses[{other}] ({ranges[other]}) of this pool"))
                ok = False
            ranges.append(r)
        if ok:
            pools.append(Pool(name=ref.name, ranges=tuple(ranges), zone=spec.zone, purpose=spec.purpose,
                              auto_assign=spec.auto_assign, avoid_buggy_ips=spec.avoid_buggy_ips,
                              namespaces=frozenset(spec.namespaces)))
    # Overlapping pools: the later pool (by name) is refused whole, so no address has two owners.
    refused: set[str] = set()
    for a, b, ra, rb in pool_overlaps(pools):
        if a.name in refused:
            continue
        refused.add(b.name)
        i = next(i for i, r in enumerate(b.ranges) if r == rb)
        problems.append(Problem(ObjectRef("VIPPool", "", b.name), f"spec.addresses[{i}]", Code.PoolOverlap,
                                f"{rb} overlaps {ra} of VIPPool {a.name!r}"))
    return [p for p in pools if p.name not in refused], problems


def parse_firewalls(bodies: Iterable[Body]) -> tuple[dict[str, specs.FirewallSpec], list[Problem]]:
    out: dict[str, specs.FirewallSpec] = {}
    problems: list[Problem] = []
    for body in bodies:
        spec, meta, p = parse_cr(body, specs.FirewallSpec)
        problems += p
        if spec is not None and meta is not None:
            out[meta.name] = spec
    return out, problems


def parse_services(bodies: Iterable[Body], cache: CompileCache | None = None) -> tuple[ServiceMap, list[Problem]]:
    services = ServiceMap()
    moved: dict[ObjectRef, Request] = {}
    problems: list[Problem] = []
    for body in bodies:
        if cache is not None:
            svc, p, request = cache.services.get(body, lambda b: _same_parts(b, cache))
        else:
            svc, p = _one_service(body)
            request = None
        problems += p
        if svc is not None:
            services[(svc.namespace, svc.name)] = svc
            if request is not None and request is not svc.request:
                moved[svc.ref] = request
    services.moved = moved
    return services, problems


def _same_parts(body: Body, cache: CompileCache) -> tuple[LBService | None, tuple[Problem, ...], Request | None]:
    """A new body whose spec is the very same object and whose metadata reads the same (its status
    moved: the echo of the VIP bmlb recorded) parses as the old one did, the very same LBService,
    with its recorded addresses read again into its request: everything made from what the
    Service is (its rules, its address objects) is found again by identity."""
    found = cache.service_parts.find(ref_of(body), lambda: parse_inputs(body))
    svc, p = found if found is not None else _one_service(body)
    if svc is None:
        return None, p, None
    request = svc.request
    if (current := ingress_addresses(body)) != request.current:
        request = dataclasses.replace(request, current=current)
    return svc, p, request


def _one_service(body: Body) -> tuple[LBService | None, tuple[Problem, ...]]:
    if not specs.service_is_ours(body):
        spec = body.get("spec")
        if spec is not None and not isinstance(spec, Mapping):
            return None, (Problem(ref_of(body), "spec", Code.InvalidType, f"must be a map, not {type_name(spec)}"),)
        return None, ()
    meta, p = parse_meta(body)
    if meta is None:
        return None, tuple(p)
    svc, q = parse_service(body, meta)
    return svc, (*p, *q)


def _records(raw: Any, fields: Mapping[str, type | tuple[type, ...]]) -> list[dict[str, Any]] | None:
    """A list of maps keeping only `fields` of the given types; None when `raw` is not a list of
    maps (absent fields are left out, so readers see only values of the right type)."""
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(x, Mapping) for x in raw):
        return None
    out = []
    for item in raw:
        kept = {}
        for key, want in fields.items():
            value = item.get(key)
            if value is None:
                continue
            if isinstance(value, bool) and want in (int, (int,)):
                return None
            if not isinstance(value, want):
                return None
            kept[key] = value
        out.append(kept)
    return out


def _clean_node(body: Body) -> tuple[dict[str, Any] | None, list[Problem]]:
    meta, problems = parse_meta(body)
    ref = ref_of(body)
    spec, status = body.get("spec") or {}, body.get("status") or {}
    if not isinstance(spec, Mapping) or not isinstance(status, Mapping):
        problems.append(Problem(ref, "spec" if not isinstance(spec, Mapping) else "status", Code.InvalidType,
                                "must be a map"))
        return None, problems
    addresses = _records(status.get("addresses"), {"type": str, "address": str})
    conditions = _records(status.get("conditions"), {"type": str, "status": str})
    unschedulable = spec.get("unschedulable", False)
    for path, ok in (("status.addresses", addresses is not None), ("status.conditions", conditions is not None),
                     ("spec.unschedulable", isinstance(unschedulable, bool) or unschedulable is None)):
        if not ok:
            problems.append(Problem(ref, path, Code.InvalidType, "has the wrong shape; the Node is ignored"))
    if meta is None or problems:
        return None, problems
    return {"kind": "Node", "metadata": {"name": meta.name, "labels": dict(meta.labels)},
            "spec": {"unschedulable": bool(unschedulable)},
            "status": {"addresses": addresses, "conditions": conditions}}, []


def _clean_lease(body: Body) -> tuple[dict[str, Any] | None, list[Problem]]:
    meta, problems = parse_meta(body)
    ref = ref_of(body)
    spec = body.get("spec") or {}
    if not isinstance(spec, Mapping):
        return None, [*problems, Problem(ref, "spec", Code.InvalidType, "must be a map")]
    out: dict[str, Any] = {}
    for key, want in (("holderIdentity", str), ("renewTime", str), ("acquireTime", str),
                      ("leaseDurationSeconds", int)):
        value = spec.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, want):
            problems.append(Problem(ref, f"spec.{key}", Code.InvalidType, f"must be a {want.__name__}"))
        elif want is int and not -MAX_DURATION - 1 <= value <= MAX_DURATION:
            problems.append(Problem(ref, f"spec.{key}", Code.InvalidType, f"must fit an int32 (<= {MAX_DURATION})"))
        else:
            out[key] = value
    if meta is None or problems:
        return None, problems
    return {"kind": "Lease", "metadata": {"name": meta.name, "namespace": meta.namespace,
                                          "annotations": dict(meta.annotations)}, "spec": out}, []


def _clean_slice(body: Body) -> tuple[dict[str, Any] | None, list[Problem]]:
    meta, problems = parse_meta(body)
    ref = ref_of(body)
    ports = _records(body.get("ports"), {"name": str, "port": int, "protocol": str})
    endpoints = _records(body.get("endpoints"), {"addresses": list, "conditions": Mapping, "nodeName": str})
    if ports is None:
        problems.append(Problem(ref, "ports", Code.InvalidType, "must be a list of ports"))
    if endpoints is None:
        problems.append(Problem(ref, "endpoints", Code.InvalidType, "must be a list of endpoints"))
    else:
        for i, ep in enumerate(endpoints):
            if not all(isinstance(a, str) for a in ep.get("addresses", [])):
                problems.append(Problem(ref, f"endpoints[{i}].addresses", Code.InvalidType, "must be strings"))
            conds = ep.get("conditions") or {}
            if not all(isinstance(v, bool) or v is None for v in conds.values()):
                problems.append(Problem(ref, f"endpoints[{i}].conditions", Code.InvalidType, "must be booleans"))
    if meta is None or problems:
        return None, problems
    family = body.get("addressType")
    return {"kind": "EndpointSlice", "metadata": {"name": meta.name, "namespace": meta.namespace,
                                                  "labels": dict(meta.labels)},
            "addressType": family if isinstance(family, str) else "", "ports": ports, "endpoints": endpoints}, []


def clean(snapshot: Snapshot) -> tuple[Snapshot, list[Problem]]:
    """The Nodes, Leases and EndpointSlices in exactly the shape the route and data-plane stages
    read (only fields of the right type); the malformed ones set aside with a problem. Whether an
    address is a usable next hop is judged once, by controller/core/routes.py."""
    problems: list[Problem] = []
    kept: dict[str, list[dict[str, Any]]] = {"nodes": [], "leases": [], "endpoint_slices": []}
    for field, cleaner in (("nodes", _clean_node), ("leases", _clean_lease), ("endpoint_slices", _clean_slice)):
        for body in getattr(snapshot, field):
            out, p = cleaner(body)
            problems += p
            if out is not None:
                kept[field].append(out)
    return dataclasses.replace(snapshot, nodes=tuple(kept["nodes"]), leases=tuple(kept["leases"]),
                               endpoint_slices=tuple(kept["endpoint_slices"])), problems


def parse(snapshot: Snapshot, cache: CompileCache | None = None) -> Parsed:
    """cache: reuse the typed value of every Service, NATRule and SecurityPolicy whose body did
    not change since the last compile (controller/core/compile_cache.py)."""
    problems: list[Problem] = []
    pools, p = parse_pools(snapshot.pools)
    problems += p
    services, p = parse_services(snapshot.services, cache)
    problems += p
    firewalls, p = parse_firewalls(snapshot.firewalls)
    problems += p
    nats = parse_owners(snapshot.nat_rules, specs.NATRuleSpec, problems, cache)
    policies = parse_owners(snapshot.policies, specs.SecurityPolicySpec, problems, cache)
    cleaned, p = clean(snapshot)
    problems += p
    return Parsed(tuple(pools), services, firewalls, tuple(nats), tuple(pol for pol, _ in policies), tuple(problems),
                  cleaned, parse_slices(cleaned.endpoint_slices))
