"""The CRs that own firewall rules (NATRule, SecurityPolicy) and the Firewall, parsed: metadata
and spec, typed; with a compile cache, a body seen before (or one whose spec is the very same
object and whose metadata reads the same) is not validated again."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from controller.core import compact_specs, specs
from controller.core.compile_cache import CompileCache, parse_inputs
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
        found = cache.cr_parts.find(ref_of(body), lambda: parse_inputs(body))
        return found if found is not None else one(body)

    out: list[tuple[ParsedCR[S], Body]] = []
    for body in bodies:
        cr, p = cache.crs.get(body, same_parts) if cache is not None else one(body)
        problems += p
        if cr is not None:
            out.append((cr, body))
    return out
