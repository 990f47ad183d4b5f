"""Hostile input: no value, of any type at any place in any kind, raises out of validate, plan,
compile or the admission judge; every refusal names the object and the field.

The fuzz starts from a valid estate (examples/ plus EndpointSlices, Nodes and Leases) and puts a
wrong value (another type, a control character, a huge number) at one random place of one object.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.core import render
from controller.core.admission import judge
from controller.core.compiler import compile
from controller.core.manifests import Document, parse
from controller.core.snapshot import Snapshot
from controller.core.validate import check
from controller.runtime.clock import now

ROOT = Path(__file__).resolve().parents[2]


def estate() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for f in sorted((ROOT / "examples").glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(f.read_text()) if d]
    docs += [
        {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
         "metadata": {"name": "web-1", "namespace": "shop", "labels": {"kubernetes.io/service-name": "web"}},
         "ports": [{"name": "https", "port": 8443, "protocol": "TCP"}],
         "endpoints": [{"addresses": ["10.244.1.10"], "nodeName": "node-a", "conditions": {"ready": True}}]},
        {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-a"}, "spec": {},
         "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.11"}],
                    "conditions": [{"type": "Ready", "status": "True"}]}},
        {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
         "metadata": {"name": "bmlb-node-node-a", "namespace": "bmlb-system",
                      "annotations": {"bmlb.io/node-address": "10.0.0.11"}},
         "spec": {"holderIdentity": "node-a", "leaseDurationSeconds": 10, "renewTime": "2026-11-30T10:00:00.000000Z"}},
    ]
    return docs


ESTATE = estate()

wrong = st.one_of(
    st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True), st.just([]), st.just({}),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.text(max_size=12), st.sampled_from(["a\nb", "\x1b]0;x\x07", "10.0.0.300", "1.2.3.4/99", "\x00", "ü",
                                           "-1", "70000", "", " ", "any", "bmlb.io/ipvs", "LoadBalancer"]),
    st.just(dt.datetime(2026, 1, 1)), st.just(dt.date(2026, 1, 1)),
)


def places(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(value, dict):
        for k, v in value.items():
            out += places(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += places(v, (*path, i))
    return out


def put(body: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    body[path[0]] = put(body[path[0]], path[1:], value)
    return body


@st.composite
def mutated(draw: st.DrawFn) -> tuple[list[dict[str, Any]], int]:
    docs = copy.deepcopy(ESTATE)
    i = draw(st.integers(0, len(docs) - 1))
    path = draw(st.sampled_from(places(docs[i])[1:]))
    docs[i] = put(docs[i], path, draw(wrong))
    return docs, i


def printable(compiled: Any) -> None:
    render.text(compiled)
    json.dumps(render.as_dict(compiled))
    render.as_yaml(compiled)
    render.plan_panos_set(compiled)  # validated input must always print as safe set commands


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_no_value_anywhere_raises_out_of_validate_plan_or_compile(case: tuple[list[dict[str, Any]], int]) -> None:
    docs, i = case
    findings, compiled = check([Document("estate.yaml", n, d) for n, d in enumerate(docs)])
    assert all(f.path and f.object for f in findings), findings
    printable(compiled)
    # The reconcile loop compiles what the cluster holds, without validate in front.
    raw = compile(Snapshot.of(docs))
    assert all(p.path for p in raw.problems)
    timed = compile(Snapshot(**{**Snapshot.of(docs).__dict__, "now": 1.8e9}))
    assert all(p.path for p in timed.problems)
    body = docs[i]
    if isinstance(body, dict) and isinstance(body.get("kind"), str):
        judge(Snapshot.of(docs[:i] + docs[i + 1:]), body, now=now())


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=200))
def test_any_bytes_load_as_documents_or_a_load_error(data: bytes | str) -> None:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    docs, errors = parse(text, "fuzz.yaml")
    findings, compiled = check(docs, errors)
    assert all(f.path for f in findings)
    printable(compiled)


@pytest.mark.parametrize("text", [
    "creationTimestamp: null",  # exactly what kubectl create --dry-run=client -o yaml prints
    "creationTimestamp: 2026-01-01T00:00:00Z",  # unquoted: a timestamp to YAML, a string to Kubernetes
])
def test_kubectl_style_metadata_is_valid(text: str) -> None:
    manifest = f"""apiVersion: bmlb.io/v1alpha1
kind: VIPPool
metadata:
  name: internal
  {text}
spec: {{addresses: ["10.96.0.0/28"], zone: k8s}}
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
  {text}
spec: {{type: LoadBalancer, loadBalancerClass: bmlb.io/ipvs, ports: [{{port: 443}}]}}
"""
    docs, errors = parse(manifest, "kubectl.yaml")
    findings, compiled = check(docs, errors)
    assert not errors and not [f for f in findings if f.severity.value == "error"], findings
    assert compiled.allocations and str(compiled.allocations[0].addresses[0]) == "10.96.0.0"


def test_a_bad_file_in_a_folder_does_not_stop_the_others(tmp_path: Path) -> None:
    from controller.cli.manifest_files import load
    (tmp_path / "a-binary.yaml").write_bytes(b"\x00\xff\xfe")
    (tmp_path / "b-latin1.yaml").write_bytes(b"kind: Service\nmetadata: {name: caf\xe9}\n")
    (tmp_path / "c-pool.yaml").write_text((ROOT / "examples" / "00-pools.yaml").read_text())
    docs, errors = load([tmp_path])
    assert {Path(e.path).name for e in errors} == {"a-binary.yaml", "b-latin1.yaml"}
    assert docs and all(Path(d.path).name == "c-pool.yaml" for d in docs)
