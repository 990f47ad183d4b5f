"""A CR whose status moved (a NATRule's recorded public address: after a burst, the echo of every
status bmlb wrote) is not validated again: the index keeps its spec object while the spec is the
same JSON, types included, and the compile reuses the parse of that spec with the same metadata
(controller/core/cr_parse.py). A spec that changed in type only (1 -> true) is a new spec."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from controller.core import cr_parse, specs
from controller.core.compile_cache import CompileCache
from controller.core.compiler import compile
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
    real = specs.compact

    def counting(model: Any) -> Any:
        if not isinstance(model, specs.FirewallSpec):  # a Firewall's is read every compile
            seen.append(model)
        return real(model)

    monkeypatch.setattr(cr_parse.specs, "compact", counting)
    return seen


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
    index, cache = _index(), CompileCache()
    first = compile(index.snapshot(), cache=cache)
    seen = _validations(monkeypatch)
    ref = next(r.ref for r in first.reports if r.ref.kind == "NATRule")
    body = index.get(ref)
    assert body is not None
    index.upsert("NATRule", _with(body, status__public="198.51.100.3", metadata__resourceVersion="9"))
    again = compile(index.snapshot(), cache=cache)
    assert seen == []
    assert again == compile(index.snapshot())  # the same as a compile from scratch


@pytest.mark.parametrize("field,value", [("generation", 3), ("labels", {"a": "b"}), ("generation", True)])
def test_metadata_the_parse_reads_is_a_new_parse(monkeypatch: pytest.MonkeyPatch, field: str, value: Any) -> None:
    index, cache = _index(), CompileCache()
    compile(index.snapshot(), cache=cache)
    seen = _validations(monkeypatch)
    ref = next(r for r in index.live_refs() if r.kind == "NATRule")
    body = index.get(ref)
    assert body is not None
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
