"""Offline checks of what the API server checks before any schema: apiVersion and kind, and
metadata (names, namespaces, labels, annotations, known fields), for every kind bmlb reads.

`bmlb validate` must refuse what `kubectl apply` would be refused, and say where.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from controller.core import kinds, schema, specs
from controller.core.metadata import parse_meta

# Kinds bmlb reads besides its own CRDs, with the only apiVersion it reads them in.
CORE_KINDS = {name: k.api_version for name, k in kinds.BUILTIN.items()}
NAMESPACED_CORE = frozenset(name for name, k in kinds.BUILTIN.items() if k.namespaced)
METADATA_FIELDS = frozenset({
    "name", "generateName", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp",
    "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations", "ownerReferences",
    "finalizers", "managedFields", "selfLink",
})
_LABEL = r"[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*")
_DNS_LABEL = re.compile(r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?")
_DNS1035_LABEL = re.compile(r"[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?")
_QUALIFIED = re.compile(rf"(?:(?:{_DNS_SUBDOMAIN.pattern})/)?{_LABEL}")
_LABEL_VALUE = re.compile(rf"(?:{_LABEL})?")


@dataclass(frozen=True, slots=True)
class Issue:
    path: str
    message: str


def kind_of(body: Mapping[str, Any]) -> tuple[str | None, list[Issue]]:
    """The kind when bmlb reads this object (None: not one of bmlb's), and what is wrong with its
    apiVersion and kind."""
    api, kind = body.get("apiVersion"), body.get("kind")
    issues = []
    if not isinstance(kind, str) or not kind:
        issues.append(Issue("kind", "kind is required" if kind is None else "kind must be a non-empty string"))
    if not isinstance(api, str) or not api:
        issues.append(Issue("apiVersion", "apiVersion is required" if api is None
                            else "apiVersion must be a non-empty string"))
    if issues:
        return (kind if isinstance(kind, str) and kind in _known() else None), issues
    assert isinstance(api, str) and isinstance(kind, str)
    crd = schema.crd_for(dict(body))
    if crd is not None:
        return kind, []
    bmlb = {c.kind: f"{c.group}/{c.version}" for c in schema.crds().values()}
    if kind in bmlb:
        return kind, [Issue("apiVersion", f"{kind} is {bmlb[kind]}, not {api!r}")]
    if api.split("/")[0] == specs.GROUP:
        return None, [Issue("kind", f"unknown kind {kind!r} in {api!r} (known: {', '.join(sorted(bmlb))})")]
    if kind in CORE_KINDS:
        if api != CORE_KINDS[kind]:
            return kind, [Issue("apiVersion", f"bmlb reads {kind} as {CORE_KINDS[kind]}, not {api!r}")]
        return kind, []
    return None, []


def _known() -> set[str]:
    return set(CORE_KINDS) | {c.kind for c in schema.crds().values()}


def namespaced(kind: str) -> bool:
    crd = next((c for c in schema.crds().values() if c.kind == kind), None)
    return crd.namespaced if crd is not None else kind in NAMESPACED_CORE


def check_metadata(body: Mapping[str, Any], kind: str) -> list[Issue]:
    """Every metadata error the API server would report for this object."""
    meta_raw = body.get("metadata")
    _, problems = parse_meta(body)
    issues = [Issue(p.path, p.message) for p in problems]
    if not isinstance(meta_raw, Mapping):
        return issues or [Issue("metadata", "metadata is required")]
    for key in sorted(map(str, meta_raw)):
        if key not in METADATA_FIELDS:
            issues.append(Issue(f"metadata.{key}", f"unknown field {key!r}"))
    name, ns = meta_raw.get("name"), meta_raw.get("namespace")
    if name is None or name == "":
        issues.append(Issue("metadata.name", "name is required"))
    elif isinstance(name, str):
        if kind == "Service":
            if not _DNS1035_LABEL.fullmatch(name):
                issues.append(Issue("metadata.name", f"invalid name {name!r}: a Service name must be a DNS-1035 "
                                    "label (lowercase letters, digits and '-', starting with a letter, at most 63)"))
        elif len(name) > 253 or not _DNS_SUBDOMAIN.fullmatch(name):
            issues.append(Issue("metadata.name", f"invalid name {name!r}: must be a lowercase DNS-1123 subdomain"))
    if isinstance(ns, str) and ns:
        if not namespaced(kind):
            issues.append(Issue("metadata.namespace", f"{kind} is cluster-scoped and takes no namespace"))
        elif not _DNS_LABEL.fullmatch(ns):
            issues.append(Issue("metadata.namespace", f"invalid namespace {ns!r}: must be a DNS-1123 label "
                                "(lowercase letters, digits and '-', at most 63)"))
    for field in ("labels", "annotations"):
        values = meta_raw.get(field)
        if not isinstance(values, Mapping):
            continue
        for key, value in values.items():
            if isinstance(key, str) and (len(key) > 316 or not _QUALIFIED.fullmatch(key)):
                issues.append(Issue(f"metadata.{field}[{key}]", f"invalid key {key!r}: must be a qualified name "
                                    "([prefix/]name, name at most 63 of [A-Za-z0-9-_.])"))
            if field == "labels" and isinstance(value, str) and not (
                    len(value) <= 63 and _LABEL_VALUE.fullmatch(value)):
                issues.append(Issue(f"metadata.labels[{key}]", f"invalid label value {value!r}: at most 63 of "
                                    "[A-Za-z0-9-_.], starting and ending with a letter or digit"))
    return issues


def with_default_namespace(body: dict[str, Any], kind: str) -> dict[str, Any]:
    """A namespaced object without a namespace lands in "default", as kubectl puts it. Only an
    absent namespace: `namespace: no` (YAML false) is an error, not "default"."""
    meta = body.get("metadata")
    if not namespaced(kind) or not isinstance(meta, Mapping) or meta.get("namespace") is not None:
        return body
    return {**body, "metadata": {**meta, "namespace": "default"}}
