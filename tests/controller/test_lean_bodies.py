"""The index's bodies share their nested values: read as the JSON they came from, never writable.

The oracle is the body as received (its JSON text, its repr with types and key order), never
bmlb's own reading of it.
"""

from __future__ import annotations

import copy
import gc
import json
import pickle
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.runtime.index import ClusterIndex
from controller.runtime.lean_bodies import FrozenDict, FrozenList, Leaner, compact

scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from([8443, 65536, 2**40]),
                    st.sampled_from([0.0, 1.0, 2.5]),
                    st.sampled_from(["", "TCP", "a", "x" * 70, "y" * 300]))
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(["a", "b", "port", "zones"]), inner, max_size=3)),
    max_leaves=12)
specs = st.dictionaries(st.sampled_from(["ports", "from", "to", "x", "selector"]), json_values, max_size=4)


def body(name: str, spec: Any, status: Any = None, labels: Any = None) -> dict[str, Any]:
    b: dict[str, Any] = {"apiVersion": "bmlb.io/v1alpha1", "kind": "NATRule",
                         "metadata": {"name": name, "namespace": "ns", "uid": name, "labels": labels or {"a": "1"},
                                      "finalizers": ["bmlb.io/firewall"], "managedFields": [{"x": 1}]},
                         "spec": spec}
    if status is not None:
        b["status"] = status
    return b


def walk(v: Any, depth: int = 0):  # type: ignore[no-untyped-def]
    yield v, depth
    children = v.values() if isinstance(v, dict) else v if isinstance(v, list) else ()
    for c in children:
        yield from walk(c, depth + 1)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(specs, json_values), min_size=1, max_size=6))
def test_a_kept_body_reads_as_the_json_it_came_from(items: list[tuple[dict[str, Any], Any]]) -> None:
    leaner = Leaner()
    # as the watch hands them over: decoded from JSON, no two bodies sharing an object
    kept = [(spec, status, leaner.strip(json.loads(json.dumps(body(f"n{i}", spec, {"conditions": [status]}))),
                                        "NATRule"))
            for i, (spec, status) in enumerate(items)]
    for spec, status, b in kept:
        # same text as JSON and by repr (types and key order: 1, 1.0 and true stay apart)
        assert json.dumps(b["spec"]) == json.dumps(spec) and repr(b["spec"]) == repr(spec)
        assert repr(b["status"]["conditions"][0]) == repr(status)
        assert b["metadata"] == {"name": b["metadata"]["name"], "namespace": "ns", "uid": b["metadata"]["uid"],
                                 "labels": {"a": "1"}, "finalizers": ["bmlb.io/firewall"]}
        assert b["spec"] == spec and copy.deepcopy(b) == b
        for v, depth in walk(b):
            if isinstance(v, dict | list) and depth >= 2:
                assert isinstance(v, FrozenDict | FrozenList)
            elif isinstance(v, dict | list):
                assert type(v) in (dict, list)  # the body and its spec / metadata / status: its own
    # Nested values are one object only when their text (types and key order) is the same; and
    # always then, unless they hold a value not made one object: a float (0.0 and -0.0 are ==),
    # text over 256 characters, an int past a port's size.
    nested: dict[str, Any] = {}
    for _, _, b in kept:
        for v, depth in walk(b):
            if depth >= 2 and isinstance(v, dict | list):
                text = repr(v)
                if not any(type(x) is float or (type(x) is str and len(x) > 256)
                           or (type(x) is int and abs(x) >= 65536) for x, _ in walk(v)):
                    assert nested.setdefault(text, v) is v, text
    shared: dict[int, str] = {}
    for _, _, b in kept:
        for v, _depth in walk(b):
            if isinstance(v, dict | list):
                assert shared.setdefault(id(v), repr(v)) == repr(v)


def test_types_and_key_order_are_never_shared_across() -> None:
    leaner = Leaner()
    one, flt, true = (leaner.strip(body(n, {"ports": [{"port": v}]}), "NATRule") for n, v in
                      (("a", 1), ("b", 1.0), ("c", True)))
    assert one["spec"]["ports"] == flt["spec"]["ports"]  # == says equal; they parse differently
    assert one["spec"]["ports"] is not flt["spec"]["ports"] and one["spec"]["ports"] is not true["spec"]["ports"]
    ab = leaner.strip(body("d", {"x": {"a": 1, "b": 2}}), "NATRule")
    ba = leaner.strip(body("e", {"x": {"b": 2, "a": 1}}), "NATRule")
    assert ab["spec"]["x"] is not ba["spec"]["x"] and list(ba["spec"]["x"]) == ["b", "a"]
    again = leaner.strip(body("f", {"x": {"a": 1, "b": 2}, "ports": [{"port": 1}]}), "NATRule")
    assert again["spec"]["x"] is ab["spec"]["x"] and again["spec"]["ports"] is one["spec"]["ports"]
    assert again["spec"] is not ab["spec"] and again["metadata"]["finalizers"] is ab["metadata"]["finalizers"]


def test_a_shared_value_cannot_be_written_and_copies_can() -> None:
    leaner = Leaner()
    b = leaner.strip(body("a", {"from": {"zones": ["untrust"]}}), "NATRule")
    d, lst = b["spec"]["from"], b["spec"]["from"]["zones"]
    writes = [lambda: d.__setitem__("x", 1), lambda: d.__delitem__("zones"), d.clear, lambda: d.pop("zones"),
              d.popitem, lambda: d.setdefault("x", 1), lambda: d.update(x=1), lambda: d.__ior__({"x": 1}),
              lambda: lst.append("x"), lambda: lst.extend(["x"]), lambda: lst.insert(0, "x"), lst.pop,
              lambda: lst.remove("untrust"), lst.clear, lst.sort, lst.reverse, lambda: lst.__setitem__(0, "x"),
              lambda: lst.__delitem__(0), lambda: lst.__iadd__(["x"]), lambda: lst.__imul__(2)]
    for write in writes:
        with pytest.raises(TypeError, match="shared by indexed bodies"):
            write()
    assert d == {"zones": ["untrust"]} and isinstance(d, dict) and isinstance(lst, list)
    for made in (copy.copy(d), copy.deepcopy(d), pickle.loads(pickle.dumps(d)), copy.deepcopy(b)["spec"]["from"]):
        assert type(made) is dict and made == d
        made["x"] = 1
    for made_list in (copy.copy(lst), copy.deepcopy(lst), pickle.loads(pickle.dumps(lst))):
        assert type(made_list) is list and made_list == ["untrust"]
        made_list.append("x")
    assert d == {"zones": ["untrust"]}


def test_values_no_body_holds_are_let_go() -> None:
    index = ClusterIndex()
    for round_ in range(6):
        for i in range(2000):  # every round replaces every body with new, unique nested values
            index.upsert("NATRule", json.loads(json.dumps(body(
                f"n{i}", {"ports": [{"port": i, "round": 1000 * round_ + i}]},
                {"conditions": [{"type": "Ready", "message": f"{i}/{round_}"}]}))))
        gc.collect()
    held = [v for _, b in index.items("NATRule") for v, d in walk(b)]
    live = {id(v) for v in held if isinstance(v, FrozenDict | FrozenList)}
    assert len(index._lean) <= 2 * len(live) + 4096  # swept as it went: not every round's values
    index._lean.sweep()
    assert len(index._lean) == len(live)  # exactly what the bodies hold
    assert set(index._lean._ints) == {v for v in held if type(v) is int and 256 < v < 65536}
    for ref, b in index.items("NATRule"):  # what the bodies hold survived every sweep
        i = int(ref.name[1:])
        assert b["spec"]["ports"] == [{"port": i, "round": 5000 + i}]
        assert b["status"]["conditions"] == [{"type": "Ready", "message": f"{i}/5"}]


def test_a_value_met_under_another_values_hash_stays_its_own() -> None:
    """The table finds values by a hash of what they hold: one found under the same hash that holds
    other objects is never handed out in its place (here every lookup meets the same value)."""
    leaner = Leaner()
    a = leaner.strip(body("a", {"from": {"zones": ["untrust"]}, "to": ["untrust"]}), "NATRule")
    met_dict, met_list = a["spec"]["from"], a["spec"]["to"]

    class Meets(dict):  # type: ignore[type-arg]
        met: Any = None

        def get(self, key: object, default: object = None) -> object:
            return self.met

    for met in (met_dict, met_list):
        leaner._table = Meets()
        leaner._table.met = met
        b = leaner.strip(body("b", {"from": {"zones": ["dmz"]}, "to": ["dmz"], "x": {"zones": ["untrust"]}}),
                         "NATRule")
        assert json.loads(json.dumps(b["spec"])) == {"from": {"zones": ["dmz"]}, "to": ["dmz"],
                                                      "x": {"zones": ["untrust"]}}
        assert b["spec"]["from"] is not met and b["spec"]["to"] is not met


# What the API server fills into a Service's spec that bmlb never reads (and a user may add).
_SERVER_FILLED = st.fixed_dictionaries({}, optional={
    "clusterIP": st.sampled_from(["10.96.0.10", "None"]), "clusterIPs": st.just(["10.96.0.10"]),
    "internalTrafficPolicy": st.just("Cluster"), "allocateLoadBalancerNodePorts": st.booleans(),
    "healthCheckNodePort": st.integers(30000, 32767), "externalIPs": st.just(["192.0.2.9"]),
    "loadBalancerIP": st.just("10.200.0.7"), "publishNotReadyAddresses": st.booleans()})
_PORT_FILLED = st.fixed_dictionaries({}, optional={"nodePort": st.integers(30000, 32767),
                                                   "appProtocol": st.just("https")})


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_a_service_keeps_what_bmlb_reads_of_its_spec(data: st.DataObject) -> None:
    """Oracle: parse of the Service as the API server sent it. The index keeps only the spec fields
    parse reads: the parse of the kept body is the parse of the whole one, and two Services that
    differ only in node ports and cluster IPs hold one `ports` value."""
    from controller.core.parse import parse_services
    from tests.faults import strategies as S

    leaner = Leaner()
    kept, whole = [], []
    for name in ("web", "api"):
        svc = data.draw(S.lb_service(name, "ns"))
        svc["spec"].update(data.draw(_SERVER_FILLED))
        for port in svc["spec"]["ports"]:
            port.update(data.draw(_PORT_FILLED))
        svc["spec"] = dict(data.draw(st.permutations(list(svc["spec"].items()))))
        whole.append(svc)
        kept.append(leaner.strip(json.loads(json.dumps(svc)), "Service"))
    assert parse_services(kept) == parse_services(whole)
    for b in kept:
        assert set(b["spec"]) <= {"type", "ports", "loadBalancerClass", "sessionAffinity", "sessionAffinityConfig",
                                  "externalTrafficPolicy", "ipFamilies", "ipFamilyPolicy", "selector"}
        assert all(set(p) <= {"name", "port", "protocol", "targetPort"} for p in b["spec"]["ports"])
    twin = copy.deepcopy(whole[0])
    twin["metadata"]["name"] = "twin"
    twin["spec"]["clusterIP"] = "10.96.0.99"
    for port in twin["spec"]["ports"]:
        port["nodePort"] = 30001
    assert leaner.strip(json.loads(json.dumps(twin)), "Service")["spec"]["ports"] is kept[0]["spec"]["ports"]


def test_a_malformed_service_spec_is_kept_as_it_came() -> None:
    """parse names what is wrong, so the index does not tidy it away."""
    leaner = Leaner()
    for spec in ("LoadBalancer", ["x"], {"type": "LoadBalancer", "ports": "443"},
                 {"type": "LoadBalancer", "ports": [443, {"port": 80, "nodePort": 30080}]}):
        kept = leaner.strip({"kind": "Service", "metadata": {"name": "a", "namespace": "ns"}, "spec": spec}, "Service")
        want = spec if not isinstance(spec, dict) or not isinstance(spec.get("ports"), list) else \
            {**spec, "ports": [443, {"port": 80}]}
        assert kept["spec"] == want


# Keys a shape's class would treat as its own attributes, were they set as attributes.
odd_keys = st.sampled_from(["__class__", "__dict__", "__weakref__", "__init__", "__module__", "__eq__", "kind",
                            "metadata", "spec", "status", "name", "", "x y", "ü"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.dictionaries(odd_keys, json_values, max_size=8), min_size=1, max_size=5))
def test_a_compact_dict_is_the_dict_it_was_made_from_and_its_own(dicts: list[dict[str, Any]]) -> None:
    """Oracle: the dict as given (its keys in order, the very same values, its JSON); each made
    dict is its own (a write into one is seen in no other of its shape, nor in the one it came from)."""
    made = [compact(d) for d in dicts] + [compact(dict(d)) for d in dicts]
    for d, m in zip(dicts + dicts, made, strict=True):
        assert type(m) is dict
        assert m == d and list(m) == list(d) and json.dumps(m) == json.dumps(d)
        assert all(a is b for a, b in zip(m.values(), d.values(), strict=True))
        assert copy.deepcopy(m) == d and pickle.loads(pickle.dumps(m)) == d
    before = [json.dumps(d) for d in dicts]
    for i, m in enumerate(made):
        if m:
            m.pop(next(iter(m)))
        m["__written__"] = i
    assert [json.dumps(d) for d in dicts] == before
    for i, m in enumerate(made):
        assert m["__written__"] == i  # no other dict's write landed here


@pytest.mark.skipif(sys.version_info[:2] != (3, 11), reason="the shared keys table is measured on CPython 3.11")
def test_bodies_of_one_shape_share_their_keys_table() -> None:
    """The index's own dicts (body, metadata, spec, status) of a shape seen before cost less than
    the same dicts made plain; the shared values below them are untouched."""
    leaner = Leaner()
    kept = [leaner.strip(body(f"n{i}", {"from": {"zones": ["untrust"]}, "x": i, "ports": [i]},
                              status={"conditions": [{"type": "Ready"}], "vip": f"10.0.0.{i}"}), "NATRule")
            for i in range(3)]
    for b in kept:
        for d in (b, b["metadata"], b["spec"], b["status"]):
            assert type(d) is dict
            assert sys.getsizeof(d) < sys.getsizeof(dict(d)), d
        assert isinstance(b["spec"]["from"], FrozenDict)
    assert kept[1]["spec"]["from"] is kept[2]["spec"]["from"]


def test_past_the_shape_limit_a_dict_is_a_plain_one_of_its_own() -> None:
    """A tenant writing specs of ever new shapes costs only its own bodies: past the limit a new
    shape gets no class, and the dict is still the one given."""
    from controller.runtime import lean_bodies

    saved = dict(lean_bodies._shapes)
    try:
        lean_bodies._shapes.update({(f"filler{i}",): object for i in range(lean_bodies._MAX_SHAPES)})
        d = {"never": 1, "seen": [2]}
        m = compact(d)
        assert m == d and m is d
        assert len(lean_bodies._shapes) == lean_bodies._MAX_SHAPES + len(saved)
    finally:
        lean_bodies._shapes.clear()
        lean_bodies._shapes.update(saved)
