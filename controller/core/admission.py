"""The admission judge: the cross-object rules a CRD schema cannot state (tenancy, public-address
conflicts, pool admission), judged as `bmlb validate` judges them.

One incoming object is judged against a snapshot of the cluster with it put in place of its stored
version: compile() runs on that snapshot and the verdict denies with the errors about that object,
one line each, in `bmlb validate`'s words without the FILE:DOC origin (`Kind namespace/name:
field.path: message`). Warnings come back as admission warnings. The server: runtime/webhook.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from controller.core import kinds, schema, specs
from controller.core.compiler import compile
from controller.core.problems import Severity
from controller.core.snapshot import Snapshot, ref_of
from controller.core.validate import Finding, with_default_namespace

# Firewall objects are cluster-admin input: the webhook judges what tenants and pool owners write.
KINDS = (kinds.VIPPOOL, kinds.SECURITY_POLICY, kinds.NAT_RULE, kinds.SERVICE)


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    errors: tuple[str, ...]
    warnings: tuple[str, ...]

    @property
    def message(self) -> str:
        return "\n".join(self.errors)


def line(finding: Finding) -> str:
    """A `bmlb validate` line without its FILE:DOC origin."""
    return str(finding).split(": ", 1)[1]


def with_object(snapshot: Snapshot, body: Mapping[str, Any]) -> Snapshot:
    """The snapshot with `body` in place of the object of the same kind and name (or added)."""
    field = kinds.FIELD.get(str(body.get("kind")))
    if field is None:
        return snapshot
    ref = ref_of(body)
    kept = [b for b in getattr(snapshot, field) if ref_of(b) != ref]
    objs = tuple(sorted([*kept, body], key=ref_of))
    return Snapshot(**{**{f: getattr(snapshot, f) for f in kinds.FIELD.values()}, field: objs,
                       "now": snapshot.now, "last_routes": snapshot.last_routes,
                       "lease_namespace": snapshot.lease_namespace})


def judge(snapshot: Snapshot, body: Mapping[str, Any], *, now: str) -> Verdict:
    """Judge one incoming object (with its kind set) against the rest of the cluster; `now` (an
    RFC 3339 timestamp) is its creationTimestamp when it has none yet."""
    obj = with_default_namespace(dict(body))
    meta = dict(obj["metadata"]) if isinstance(obj.get("metadata"), Mapping) else {}
    if not meta.get("creationTimestamp"):
        # A newcomer is younger than everything stored: it, not an older holder, loses a conflict.
        meta["creationTimestamp"] = now
        obj["metadata"] = meta
    ref = ref_of(obj)
    origin = "admission:0"
    if str(obj.get("apiVersion", "")).startswith("bmlb.io/"):
        errors = schema.validate(obj)
        if errors:
            return Verdict(False, tuple(line(Finding(origin, str(ref), e.path, e.message)) for e in errors), ())
    if obj.get("kind") == "Service" and not specs.service_is_ours(obj):
        return Verdict(True, (), ())
    compiled = compile(with_object(snapshot, obj))
    findings = [Finding(origin, str(p.ref), p.path, p.message, p.severity) for p in compiled.problems_of(ref)]
    findings.sort(key=lambda f: (f.path, f.message))
    errors = tuple(line(f) for f in findings if f.severity is Severity.ERROR)
    warnings = tuple(line(f) for f in findings if f.severity is Severity.WARNING)
    return Verdict(not errors, errors, warnings)
