"""Services as bmlb sees them: parsed spec and annotations, and their address requests."""

from __future__ import annotations

import difflib
import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from pydantic import ValidationError

from controller.core import compact_specs, shared, specs
from controller.core.ipam import Request
from controller.core.pools import IPAddress, ip_address
from controller.core.problems import ObjectRef, Problem, Severity
from controller.core.reasons import Code
from controller.core.snapshot import Body, ref_of
from ipvs.model import Forwarding, Scheduler

if TYPE_CHECKING:
    from controller.core.metadata import Meta

E = TypeVar("E", bound=enum.Enum)


@dataclass(frozen=True, slots=True)
class LBService:
    ref: ObjectRef
    uid: str
    generation: int
    created: str
    labels: tuple[tuple[str, str], ...]
    spec: specs.ServiceSpec
    scheduler: Scheduler
    forwarding: Forwarding
    # Not compared: a Service's rules and address objects are made from what it is and from the
    # allocation, never from its request. The compile cache's keys compare Services, and the
    # request moves with bmlb's own status writes (the recorded VIP): after a burst every rule
    # was made again once for nothing.
    request: Request = field(compare=False)

    @property
    def namespace(self) -> str:
        return self.ref.namespace

    @property
    def name(self) -> str:
        return self.ref.name

    def port(self, *, number: int | None = None, name: str | None = None,
             protocol: str = "TCP") -> specs.ServicePort | None:
        for p in self.spec.ports:
            if p.protocol != protocol:
                continue
            if (number is not None and p.port == number) or (name is not None and p.name == name):
                return p
        return None



class ServiceMap(dict[tuple[str, str], LBService]):
    """The compile's LoadBalancer Services by (namespace, name), each namespace's grouped on first
    use: a SecurityPolicy's label selector reads only its own namespace's (a scan of every Service
    per policy made an estate of selector policies quadratic). Made whole by the parse and never
    changed after."""

    _by_ns: dict[str, list[tuple[str, LBService]]] | None = None
    # Services whose recorded addresses moved since their spec was parsed (the echo of the VIP bmlb
    # wrote): their request, made again; the LBService itself stays the very same object.
    moved: dict[ObjectRef, Request] | None = None

    def request_of(self, svc: LBService) -> Request:
        return self.moved.get(svc.ref, svc.request) if self.moved else svc.request

    def in_namespace(self, namespace: str) -> list[tuple[str, LBService]]:
        if self._by_ns is None:
            by_ns: dict[str, list[tuple[str, LBService]]] = {}
            for (ns, name), svc in self.items():
                by_ns.setdefault(ns, []).append((name, svc))
            self._by_ns = by_ns
        return self._by_ns.get(namespace, [])

def pydantic_problems(ref: ObjectRef, err: ValidationError, *, prefix: str = "spec") -> list[Problem]:
    out = []
    for e in err.errors():
        loc = prefix
        for part in e["loc"]:
            loc += f"[{part}]" if isinstance(part, int) else f".{part}"
        out.append(Problem(ref, loc, Code.Invalid, e["msg"]))
    return out


def ingress_addresses(body: Body) -> tuple[IPAddress, ...]:
    """The addresses recorded in status.loadBalancer.ingress; anything malformed is skipped."""
    status = body.get("status")
    lb = status.get("loadBalancer") if isinstance(status, Mapping) else None
    ingress = lb.get("ingress") if isinstance(lb, Mapping) else None
    out = []
    for item in ingress if isinstance(ingress, list) else ():
        try:
            out.append(ip_address(str(item.get("ip", ""))))
        except (ValueError, AttributeError):
            continue
    return tuple(out)


def _typos(ann: Mapping[str, str], bad: Callable[[str, Code, str], None]) -> None:
    for key in sorted(ann):
        # Only near misses: kopf keeps its own progress annotations under the same prefix.
        if key.startswith(specs.ANN_PREFIX) and key not in specs.SERVICE_ANNOTATIONS:
            close = difflib.get_close_matches(key, specs.SERVICE_ANNOTATIONS, n=1, cutoff=0.85)
            if close:
                bad(key, Code.UnknownAnnotation,
                    f"bmlb does not know the annotation {key!r}; did you mean {close[0]!r}?")


def _requested_ips(ann: Mapping[str, str], bad: Callable[[str, Code, str], None]) -> list[IPAddress]:
    requested: list[IPAddress] = []
    for raw in filter(None, (x.strip() for x in ann.get(specs.ANN_IP, "").split(","))):
        try:
            requested.append(ip_address(raw))
        except ValueError:
            bad(specs.ANN_IP, Code.InvalidIP, f"{raw!r} is not an IPv4 or IPv6 address")
    return requested


def _port_problems(ref: ObjectRef, spec: specs.ServiceSpec, forwarding: Forwarding) -> list[Problem]:
    problems: list[Problem] = []
    if not spec.ports:
        problems.append(Problem(ref, "spec.ports", Code.NoPorts, "a LoadBalancer Service needs at least one port"))
    if forwarding in (Forwarding.DR, Forwarding.TUN):
        for i, p in enumerate(spec.ports):
            if isinstance(p.target_port, int) and p.target_port != p.port:
                problems.append(Problem(
                    ref, f"spec.ports[{i}].targetPort", Code.PortRemapUnsupported,
                    f"forwarding {forwarding.value} cannot change the port: port {p.port} targets "
                    f"{p.target_port}; use forwarding nat, or targetPort {p.port}"))
    return problems


def parse_service(body: Body, meta: Meta) -> tuple[LBService | None, list[Problem]]:
    """A Service of bmlb's class, its metadata already parsed (controller/core/metadata.py)."""
    ref = ref_of(body)
    try:
        spec = compact_specs.compact(specs.ServiceSpec.model_validate(body.get("spec") or {}))
    except ValidationError as err:
        return None, pydantic_problems(ref, err)
    problems: list[Problem] = []
    ann = dict(meta.annotations)

    def bad(key: str, code: Code, msg: str) -> None:
        problems.append(Problem(ref, f"metadata.annotations[{key}]", code, msg))

    _typos(ann, bad)
    def choice(key: str, default: E, code: Code, expected: str) -> E:
        """An annotation naming one member of `default`'s enum; `default` when absent or wrong."""
        if key not in ann:
            return default
        try:
            return type(default)(ann[key].strip())
        except ValueError:
            bad(key, code, f"{ann[key]!r} is not {expected}")
            return default

    scheduler = choice(specs.ANN_SCHEDULER, Scheduler.RR, Code.InvalidScheduler,
                       f"an IPVS scheduler (one of {', '.join(s.value for s in Scheduler)})")
    forwarding = choice(specs.ANN_FORWARDING, Forwarding.NAT, Code.InvalidForwarding,
                        "a forwarding method (nat, dr or tun)")
    requested = _requested_ips(ann, bad)
    problems += _port_problems(ref, spec, forwarding)
    families = _families(spec, requested)
    request = Request(
        ref=ref,
        namespace=ref.namespace,
        purpose="Service",
        families=families,
        require_all_families=spec.ip_family_policy != "PreferDualStack",
        pool=ann.get(specs.ANN_POOL) or None,
        requested=tuple(requested),
        sharing_key=ann.get(specs.ANN_SHARED) or None,
        ports=shared.ports(frozenset((p.protocol, p.port) for p in spec.ports)),
        current=ingress_addresses(body),
        order=meta.created,
    )
    svc = LBService(
        ref=ref, uid=meta.uid, generation=meta.generation, created=meta.created,
        labels=meta.labels, spec=spec, scheduler=scheduler, forwarding=forwarding,
        request=request,
    )
    return svc, problems


def _families(spec: specs.ServiceSpec, requested: list[IPAddress]) -> tuple[int, ...]:
    if spec.ip_families:
        fams = tuple(6 if f == "IPv6" else 4 for f in spec.ip_families)
        if spec.ip_family_policy in ("RequireDualStack", "PreferDualStack"):
            fams = tuple(dict.fromkeys((*fams, 4, 6)))
        return fams
    if requested:
        return tuple(sorted({ip.version for ip in requested}))
    if spec.ip_family_policy in ("RequireDualStack", "PreferDualStack"):
        return (4, 6)
    return (4,)


def warn(ref: ObjectRef, path: str, code: Code, msg: str) -> Problem:
    return Problem(ref, path, code, msg, Severity.WARNING)
