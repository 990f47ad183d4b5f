"""A CR or Service whose status moved (a NATRule's recorded public address, a Service's recorded
VIP: after a burst, the echo of every status bmlb wrote) is not validated again: the index keeps
its spec object while the spec is the same JSON, types included, and the compile reuses the parse
of that spec with the same metadata (controller/core/cr_parse.py); the recorded addresses are read
again. A spec that changed in type only (1 -> true) is a new spec."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from controller.core import compact_specs, cr_parse, specs
from controller.core.compile_cache import CompileCache
from controller.core.compiler import compile
from controller.core.problems import ObjectRef
from controller.runtime.index import ClusterIndex
from tests.controller.estate import firewall, nat, pool, service


def _index() -> ClusterIndex:
    index = ClusterIndex()
    index.upsert("Firewall", firewall())
    index.upsert("VIPPool", pool("vips", "10.0.0.0/29"))
    index.upsert("VIPPool", pool("pub", "198.51.100.0/29", zone="untrust", purpose="Public", auto=False))
    index.upsert("Service", service("shop", "web", (443, 8443), ingress=["10.0.0.1"]))
    index.upsert("NATRule", nat("shop", "web", "web", 443, pool="pub"))
    return index


def _validations(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    seen: list[Any] = []
    real = compact_specs.compact

    def counting(model: Any) -> Any:
        if not isinstance(model, specs.FirewallSpec):  # a Firewall's is read every compile
            seen.append(model)
        return real(model)

    monkeypatch.setattr(compact_specs, "compact", counting)
    return seen


def _compiled(kind: str) -> tuple[ClusterIndex, CompileCache, ObjectRef, dict[str, Any]]:
    """The estate compiled once with a cache, and the first object of `kind` with its body."""
    index, cache = _index(), CompileCache()
    index.on_same, index.on_gone = cache.alias, cache.forget  # as the reconciler wires them
    compile(index.snapshot(), cache=cache)
    ref = next(r for r in index.live_refs() if r.kind == kind)
    body = index.get(ref)
    assert body is not None
    return index, cache, ref, body


def _with(body: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(body)
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        node = out
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out


def test_a_status_echo_is_not_validated_again(monkeypatch: pytest.MonkeyPatch) -> None:
    index, cache, _, body = _compiled("NATRule")
    seen = _validations(monkeypatch)
    index.upsert("NATRule", _with(body, status__public="198.51.100.3", metadata__resourceVersion="9"))
    again = compile(index.snapshot(), cache=cache)
    assert seen == []
    assert again == compile(index.snapshot())  # the same as a compile from scratch


@pytest.mark.parametrize("field,value", [("generation", 3), ("labels", {"a": "b"}), ("generation", True)])
def test_metadata_the_parse_reads_is_a_new_parse(monkeypatch: pytest.MonkeyPatch, field: str, value: Any) -> None:
    index, cache, ref, body = _compiled("NATRule")
    seen = _validations(monkeypatch)
    index.upsert("NATRule", _with(body, **{f"metadata__{field}": value}))
    got = compile(index.snapshot(), cache=cache)
    assert got == compile(index.snapshot())
    assert len(seen) >= 1 or got.problems_of(ref)


def test_a_spec_changed_in_type_only_is_not_the_old_spec() -> None:
    index = _index()
    ref = next(r for r in index.live_refs() if r.kind == "NATRule")
    body = index.get(ref)
    assert body is not None
    old_spec = body["spec"]
    index.upsert("NATRule", _with(body, spec__from__zones=["untrust"]))  # the same JSON
    assert index.get(ref)["spec"] is old_spec  # type: ignore[index]
    changed = _with(body, spec__service__port=True)  # == 1 in Python, not in JSON
    changed["spec"]["service"]["port"] = 1
    index.upsert("NATRule", changed)
    one = index.get(ref)["spec"]  # type: ignore[index]
    index.upsert("NATRule", _with(changed, spec__service__port=True))
    assert index.get(ref)["spec"] is not one  # type: ignore[index]
    assert index.get(ref)["spec"]["service"]["port"] is True  # type: ignore[index]


@pytest.mark.parametrize("ingress", [["10.0.0.1"], ["10.0.0.5"], [], ["not an address"], [{"ip": 7}]])
def test_a_service_status_echo_is_not_validated_again(monkeypatch: pytest.MonkeyPatch, ingress: list[Any]) -> None:
    index, cache, ref, body = _compiled("Service")
    seen = _validations(monkeypatch)
    recorded = [{"ip": ip} if isinstance(ip, str) else ip for ip in ingress]
    index.upsert("Service", _with(body, status__loadBalancer={"ingress": recorded}, metadata__resourceVersion="9"))
    again = compile(index.snapshot(), cache=cache)
    assert seen == []
    assert again == compile(index.snapshot())  # the recorded VIP read again: the same as from scratch
    if ingress == ["10.0.0.5"]:
        assert [str(ip) for ip in again.assignments_by_ref[ref].addresses] == ["10.0.0.5"]


@pytest.mark.parametrize("public", ["198.51.100.4:443", 5, None, ["198.51.100.4"], "[2001:db8::1]:443"])
def test_a_recorded_public_address_of_any_type_compiles_as_from_scratch(public: Any) -> None:
    index, cache, _, body = _compiled("NATRule")
    for value in (public, "198.51.100.4:443", public):
        body = _with(body, status__public=value)
        index.upsert("NATRule", body)
        assert compile(index.snapshot(), cache=cache) == compile(index.snapshot())


def test_metadata_that_is_not_json_compares_by_identity() -> None:
    body = {"kind": "Service", "metadata": {"name": "a", "labels": {1: "x", "b": "y"}}, "spec": {}}
    assert cr_parse.parse_inputs(body) == cr_parse.parse_inputs(body)
    assert cr_parse.parse_inputs(body) != cr_parse.parse_inputs({**body, "metadata": dict(body["metadata"])})
