"""`bmlb validate`: schema, CEL and cross-object checks of manifests, without a cluster."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from controller import schema
from controller.compiler import Compiled, compile
from controller.manifests import Document, LoadError
from controller.problems import ObjectRef, Severity
from controller.snapshot import Snapshot, ref_of

NAMESPACED_CORE = {"Service", "EndpointSlice"}


@dataclass(frozen=True, slots=True, order=True)
class Finding:
    origin: str  # "file:doc-index"
    object: str  # "Kind namespace/name"
    path: str
    message: str
    severity: Severity = Severity.ERROR

    def __str__(self) -> str:
        warn = "warning: " if self.severity is Severity.WARNING else ""
        return f"{self.origin}: {self.object}: {self.path}: {warn}{self.message}"


def with_default_namespace(body: dict[str, Any]) -> dict[str, Any]:
    crd = schema.crd_for(body)
    namespaced = crd.namespaced if crd else body.get("kind") in NAMESPACED_CORE
    meta = dict(body.get("metadata") or {})
    if namespaced and not meta.get("namespace"):
        meta["namespace"] = "default"
        return {**body, "metadata": meta}
    return body


def check(docs: Iterable[Document], load_errors: Iterable[LoadError] = ()) -> tuple[list[Finding], Compiled]:
    findings = [Finding(f"{e.path}:{e.index}", "(document)", "(root)", e.message) for e in load_errors]
    good: list[dict[str, Any]] = []
    origin: dict[ObjectRef, str] = {}
    for doc in docs:
        body = with_default_namespace(doc.body)
        ref = ref_of(body)
        if ref in origin:
            findings.append(Finding(doc.origin, str(ref), "metadata.name", f"duplicate object, first in {origin[ref]}"))
            continue
        origin[ref] = doc.origin
        if str(body.get("apiVersion", "")).startswith("bmlb.io/"):
            errors = schema.validate(body)
            if errors:
                findings += [Finding(doc.origin, str(ref), e.path, e.message) for e in errors]
                continue
        good.append(body)
    compiled = compile(Snapshot.of(good))
    for p in compiled.problems:
        findings.append(Finding(origin.get(p.ref, "?"), str(p.ref), p.path, p.message, p.severity))
    return sorted(findings, key=_order), compiled


def _order(f: Finding) -> tuple[str, int, str, str]:
    path, _, index = f.origin.rpartition(":")
    return (path, int(index) if index.isdigit() else 0, f.path, f.message)
