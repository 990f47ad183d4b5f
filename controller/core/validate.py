"""`bmlb validate`: schema, CEL and cross-object checks of manifests, without a cluster."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from controller.core import collector, identity, schema
from controller.core.compiler import Compiled, compile
from controller.core.manifests import Document, LoadError
from controller.core.problems import ObjectRef, Severity
from controller.core.snapshot import Snapshot, ref_of


@dataclass(frozen=True, slots=True, order=True)
class Finding:
    origin: str  # "file:doc-index"
    object: str  # "Kind namespace/name"
    path: str
    message: str
    severity: Severity = Severity.ERROR
    line: int = 0  # where the document starts in its file (1-based); 0: unknown

    def __str__(self) -> str:
        warn = "warning: " if self.severity is Severity.WARNING else ""
        return f"{self.origin}: {self.object}: {self.path}: {warn}{self.message}"


def with_default_namespace(body: dict[str, Any]) -> dict[str, Any]:
    kind = body.get("kind")
    return identity.with_default_namespace(body, kind) if isinstance(kind, str) else body


def check(docs: Iterable[Document], load_errors: Iterable[LoadError] = ()) -> tuple[list[Finding], Compiled]:
    """Every finding about the documents, and the plan compiled from the ones that passed.

    Documents of kinds bmlb does not read (a Deployment in a Helm chart's output) are skipped;
    an input with no document at all is an error, so an empty render never passes silently.
    """
    with collector.paused():
        return _check(docs, load_errors)


def _check(docs: Iterable[Document], load_errors: Iterable[LoadError]) -> tuple[list[Finding], Compiled]:
    load_errors = list(load_errors)
    findings = [Finding(f"{e.path}:{e.index}", "(document)", e.where, e.message, line=e.line) for e in load_errors]
    good: list[dict[str, Any]] = []
    origin: dict[ObjectRef, str] = {}
    line: dict[ObjectRef, int] = {}
    seen_any = False
    for doc in docs:
        seen_any = True
        kind, issues = identity.kind_of(doc.body)
        if kind is None and not issues:
            continue  # not a kind bmlb reads
        body = with_default_namespace(doc.body) if kind else doc.body
        ref = ref_of(body)
        if kind is not None:
            issues += identity.check_metadata(body, kind)
        if not issues and kind is not None and schema.crd_for(body) is not None:
            issues += [identity.Issue(e.path, e.message) for e in schema.validate(body)]
        if issues:
            findings += [Finding(doc.origin, str(ref), i.path, i.message, line=doc.line) for i in issues]
            continue
        if ref in origin:
            findings.append(Finding(doc.origin, str(ref), "metadata.name", f"duplicate object, first in {origin[ref]}",
                                    line=doc.line))
            continue
        origin[ref] = doc.origin
        line[ref] = doc.line
        good.append(body)
    if not seen_any and not load_errors:
        findings.append(Finding("(input)", "(none)", "(root)", "no Kubernetes objects found in the input"))
    compiled = compile(Snapshot.of(good))
    for p in compiled.problems:
        findings.append(Finding(origin.get(p.ref, "?"), str(p.ref), p.path, p.message, p.severity,
                                line.get(p.ref, 0)))
    return sorted(findings, key=_order), compiled


def _order(f: Finding) -> tuple[str, int, str, str]:
    path, _, index = f.origin.rpartition(":")
    return (path, int(index) if index.isdigit() else 0, f.path, f.message)
