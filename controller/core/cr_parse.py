"""The CRs that own firewall rules (NATRule, SecurityPolicy) and the Firewall, parsed: metadata
and spec, typed; with a compile cache, a body seen before (or one whose spec is the very same
object and whose metadata reads the same) is not validated again."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from controller.core import compact_specs, specs
from controller.core.compile_cache import CompileCache, Same
from controller.core.metadata import Meta, parse_meta, type_name
from controller.core.problems import Problem
from controller.core.reasons import Code
from controller.core.rules import ParsedCR, S
from controller.core.services import pydantic_problems
from controller.core.snapshot import Body, ref_of


def spec_of(body: Body) -> tuple[Any, list[Problem]]:
    spec = body.get("spec")
    if spec is None:
        return {}, []
    if not isinstance(spec, Mapping):
        return None, [Problem(ref_of(body), "spec", Code.InvalidType, f"must be a map, not {type_name(spec)}")]
    return spec, []


def parse_cr(body: Body, model: type[specs.NATRuleSpec] | type[specs.SecurityPolicySpec] | type[specs.FirewallSpec]
             ) -> tuple[Any, Meta | None, list[Problem]]:
    meta, problems = parse_meta(body)
    raw, p = spec_of(body)
    problems += p
    if meta is None or raw is None:
        return None, None, problems
    try:
        return compact_specs.compact(model.model_validate(raw)), meta, problems
    except ValidationError as err:
        return None, None, problems + pydantic_problems(ref_of(body), err)


def parse_owners(bodies: Iterable[Body], spec_type: type[S], problems: list[Problem],
                 cache: CompileCache | None = None) -> list[tuple[ParsedCR[S], Body]]:
    """NATRules or SecurityPolicies (the CRs that own firewall rules), each with its body."""
    def one(body: Body) -> tuple[ParsedCR[S] | None, tuple[Problem, ...]]:
        spec, meta, p = parse_cr(body, spec_type)
        if spec is None or meta is None:
            return None, tuple(p)
        return ParsedCR(ref_of(body), meta.uid, meta.generation, spec, "", meta.created), tuple(p)

    def same_parts(body: Body) -> tuple[ParsedCR[S] | None, tuple[Problem, ...]]:
        """A new body whose spec is the very same object and whose metadata reads the same (its
        status moved: a NATRule's recorded public address) parses as the old one did."""
        assert cache is not None
        return cache.cr_parts.get((spec_type.__name__, ref_of(body)), parse_inputs(body), lambda: one(body))

    out: list[tuple[ParsedCR[S], Body]] = []
    for body in bodies:
        cr, p = cache.crs.get(body, same_parts) if cache is not None else one(body)
        problems += p
        if cr is not None:
            out.append((cr, body))
    return out


_META_READ = ("name", "namespace", "uid", "generation", "creationTimestamp", "labels", "annotations")


def parse_inputs(body: Body) -> tuple[object, ...]:
    """What the parse of a CR or a Service reads besides its status: its kind, its spec (by
    identity: the index keeps one spec object while the spec does not change) and the metadata
    parse_meta reads, as the BLAKE2b digest of its JSON text (types included: 1 == True, and they
    parse differently). A digest, not the text: after the echo of a burst's status writes every
    object has an entry, and the texts of 30,000 objects' labels and annotations were ~6 MB."""
    meta = body.get("metadata")
    if not isinstance(meta, Mapping):
        return (body.get("kind"), Same(body.get("spec")), Same(meta))
    read = {k: meta.get(k) for k in _META_READ}
    try:
        text = json.dumps(read, sort_keys=True, default=repr)
    except (TypeError, ValueError):  # keys that do not sort (never from the API server): by identity
        return (body.get("kind"), Same(body.get("spec")), Same(meta))
    return (body.get("kind"), Same(body.get("spec")), hashlib.blake2b(text.encode(), digest_size=16).digest())
