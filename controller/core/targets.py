"""Each NATRule's and SecurityPolicy's Firewall (the compiler's second stage) and each NATRule's
public-address request for the allocator."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from controller.core import hostport, shared, specs
from controller.core.compile_cache import CompileCache, Same
from controller.core.ipam import Request
from controller.core.parse import Parsed
from controller.core.pools import IPAddress
from controller.core.problems import ObjectRef, Problem
from controller.core.reasons import Code
from controller.core.rules import ParsedNat, ParsedPolicy, parse_ip
from controller.core.snapshot import Body

DEFAULT_FIREWALL = "default"


def _choose_firewall(ref: ObjectRef, wanted: str | None, known: Mapping[str, specs.FirewallSpec],
                     problems: list[Problem]) -> str | None:
    if wanted:
        if known and wanted not in known:
            problems.append(Problem(ref, "spec.firewall", Code.FirewallNotFound, f"no Firewall named {wanted!r}"))
            return None
        chosen = wanted
    elif len(known) > 1:
        problems.append(Problem(ref, "spec.firewall", Code.FirewallAmbiguous,
                                f"there are {len(known)} Firewalls ({', '.join(sorted(known))}); name one"))
        return None
    else:
        chosen = next(iter(known), DEFAULT_FIREWALL)
    spec = known.get(chosen)
    if spec is not None and spec.namespaces and ref.namespace not in spec.namespaces:
        problems.append(Problem(ref, "spec.firewall", Code.FirewallDeniesNamespace,
                                f"Firewall {chosen!r} does not admit namespace {ref.namespace!r}"))
        return None
    return chosen


def targets(parsed: Parsed, problems: list[Problem], cache: CompileCache | None
             ) -> tuple[list[ParsedNat], list[ParsedPolicy], list[Request]]:
    """Each NATRule and SecurityPolicy with the Firewall it programs; the NATRules' address requests."""
    nats: list[ParsedNat] = []
    requests: list[Request] = []
    fws = cache.stable("firewalls", parsed.firewalls) if cache is not None else parsed.firewalls
    for nat, body in parsed.nat_rules:
        public = _recorded_public(body)
        # Keyed by the recorded address, not the body: the echo of bmlb's own status write is no change.
        # The parsed NATRule itself (typed: equal values choose alike), not a Same: no Python __eq__
        # per object while it is the very object of the last compile.
        found = (cache.targets.get(nat.ref, (nat, fws, public if isinstance(public, str) else Same(public)),
                                   lambda nat=nat, public=public: _nat_target_again(cache, nat, fws, public))
                 if cache is not None else _nat_target(nat, public, parsed.firewalls))
        chosen, request, p = found
        problems += p
        if chosen is not None and request is not None:
            nats.append(chosen)
            requests.append(request)
    policies: list[ParsedPolicy] = []
    for pol in parsed.policies:
        found_pol = (cache.targets.get(pol.ref, (pol, fws), lambda pol=pol: _policy_target(
            pol, parsed.firewalls)) if cache is not None else _policy_target(pol, parsed.firewalls))
        chosen_pol, p = found_pol
        problems += p
        if chosen_pol is not None:
            policies.append(chosen_pol)
    return nats, policies, requests


def _recorded_public(body: Body) -> object:
    """The public address recorded in a NATRule's status, as found (any type)."""
    status = body.get("status")
    return status.get("public") if isinstance(status, Mapping) else None


def _nat_target(nat: ParsedNat, public: object, firewalls: Mapping[str, specs.FirewallSpec]
                ) -> tuple[ParsedNat | None, Request | None, tuple[Problem, ...]]:
    problems: list[Problem] = []
    fw = _choose_firewall(nat.ref, nat.spec.firewall, firewalls, problems)
    if fw is None:
        return None, None, tuple(problems)
    chosen = dataclasses.replace(nat, firewall=fw)
    return chosen, _public_request(public, chosen, problems), tuple(problems)


def _nat_target_again(cache: CompileCache, nat: ParsedNat, firewalls: Mapping[str, specs.FirewallSpec],
                      public: object) -> tuple[ParsedNat | None, Request | None, tuple[Problem, ...]]:
    """`_nat_target`; when only the recorded public address moved (the echo of bmlb's own status
    write after a burst), the chosen NATRule is the very same object as before and only its
    request is made again: everything keyed by it downstream compares by identity."""
    last = cache.targets.peek(nat.ref)
    if last is not None:
        (was_nat, was_fws, _), (chosen, request, problems) = last  # type: ignore[misc]
        if was_nat is nat and was_fws is firewalls and chosen is not None and request is not None:
            # Its problems come from the spec alone (the Firewall chosen, spec.public.address): the same.
            return chosen, _public_request(public, chosen, []), problems
    return _nat_target(nat, public, firewalls)


def _policy_target(pol: ParsedPolicy, firewalls: Mapping[str, specs.FirewallSpec]
                   ) -> tuple[ParsedPolicy | None, tuple[Problem, ...]]:
    problems: list[Problem] = []
    fw = _choose_firewall(pol.ref, pol.spec.firewall, firewalls, problems)
    return (dataclasses.replace(pol, firewall=fw) if fw is not None else None), tuple(problems)


def _public_request(public: object, nat: ParsedNat, problems: list[Problem]) -> Request:
    ref, spec = nat.ref, nat.spec
    requested: tuple[IPAddress, ...] = ()
    if spec.public.address:
        ip = parse_ip(spec.public.address)
        if ip is None:
            problems.append(Problem(ref, "spec.public.address", Code.InvalidIP,
                                    f"{spec.public.address!r} is not an IPv4 or IPv6 address"))
        else:
            requested = (ip,)
    current: tuple[IPAddress, ...] = ()
    host = hostport.host(public)
    if host and (cur := parse_ip(host)) is not None:
        current = (cur,)
    port = spec.public.port or (spec.service.port if isinstance(spec.service.port, int) else 0)
    return Request(
        ref=ref, namespace=ref.namespace, purpose="Public",
        families=tuple(sorted({ip.version for ip in requested})) or (4,),
        pool=spec.public.pool, requested=requested,
        # Explicit public addresses may carry several NATRules of one namespace on different ports.
        sharing_key="natrule-public" if requested else None,
        ports=shared.ports(frozenset({(spec.service.protocol, port)})) if port else frozenset(),
        current=current, order=nat.created,
        path_pool="spec.public.pool", path_ip="spec.public.address",
    )
