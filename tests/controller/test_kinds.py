"""The one kinds table, checked against independent sources: the CRD files for bmlb's kinds,
the Kubernetes client's REST paths for the built-in ones, and the Snapshot's fields."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import kubernetes
import yaml

from controller.core import kinds
from controller.core.snapshot import Snapshot

ROOT = Path(__file__).resolve().parents[2]


def test_custom_kinds_match_the_crd_files() -> None:
    crds = [yaml.safe_load(p.read_text()) for p in sorted((ROOT / "crds").glob("*.yaml"))]
    from_files = {(c["spec"]["names"]["kind"], c["spec"]["group"], v["name"], c["spec"]["names"]["plural"],
                   c["spec"]["scope"] == "Namespaced")
                  for c in crds for v in c["spec"]["versions"] if v.get("served")}
    table = {(k.kind, k.group, k.version, k.plural, k.namespaced) for k in kinds.CUSTOM}
    assert table == from_files


def test_builtin_kinds_match_the_kubernetes_client_paths() -> None:
    source = "".join(inspect.getsource(api) for api in (
        kubernetes.client.CoreV1Api, kubernetes.client.DiscoveryV1Api, kubernetes.client.CoordinationV1Api))
    for k in kinds.BUILTIN.values():
        prefix = f"/apis/{k.group}/{k.version}" if k.group else f"/api/{k.version}"
        namespaced = f"'{prefix}/namespaces/{{namespace}}/{k.plural}'"
        cluster = f"'{prefix}/{k.plural}'"
        if k.namespaced:
            assert namespaced in source, k
        else:
            assert cluster in source and namespaced not in source, k
    assert {k.api_version for k in kinds.BUILTIN.values()} == {"v1", "discovery.k8s.io/v1", "coordination.k8s.io/v1"}


def test_every_snapshot_slot_has_one_kind() -> None:
    slots = [f.name for f in dataclasses.fields(Snapshot) if f.type == "tuple[Body, ...]"]
    assert [k.field for k in kinds.ALL] == slots
    assert len(set(kinds.NAMES)) == len(kinds.NAMES)
