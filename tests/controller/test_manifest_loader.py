"""The strict manifest loader's fast constructor (controller/core/manifests.py) builds exactly
what PyYAML's full constructor builds, and leaves every error to it."""

from __future__ import annotations

import pytest

from controller.core import manifests

CASES = [
    "a: 1\nb: two\nc: true\nd: ~\ne: 1.5\nf: '3'\ng: 0x1f\nh: 1_000\ni: .inf\nj: [1, 'x', null]\n",
    "kind: List\nitems:\n- {kind: Service, metadata: {name: a}}\n- 7\n",
    "ts: 2026-01-01T00:00:00Z\nd: 2026-01-01\n",  # timestamps stay strings
    "a: &x {k: [1, 2]}\nb: *x\nc: &s [1]\nd: *s\n",  # aliases share one object
    "base: &b {k: 1}\nm:\n  <<: *b\n  j: 2\n",  # merge key
    "a: 1\nb: 2\na: 3\n",  # duplicate key
    "outer:\n  inner: {x: 1, x: 2}\ndup: 1\ndup: 2\n",  # both: the one the full constructor finds first
    "1: a\n'1': b\ntrue: c\n~: d\n",  # non-string scalar keys
    "1: a\n1.0: b\n",  # equal keys of different spellings
    "? [1, 2]\n: a\n",  # a sequence key (unhashable)
    "? {a: 1}\n: b\n",
    "a: !!str 12\nb: !!int '12'\nc: !!float '1'\nd: !!binary aGk=\ne: !!set {x}\n",
    "a: !custom 1\n",
    "a: =\n",
    "a: &r [*r]\n",  # recursive sequence
    "a: &m {self: *m}\n",  # recursive mapping
    "a: 0o17\nb: 0b101\nc: 1:30\nd: -0\ne: +12\nf: .NaN\ng: Yes\nh: 'no'\ni: off\n",
    "---\na: 1\n---\n- 1\n---\n...\n---\nb: [\n",  # documents: a list, an empty one, a syntax error
    "a: {b: {c: {d: [{e: f}, {e: g, e: h}]}}}\n",
]


def _parse_slow(text: str) -> tuple[list[manifests.Document], list[manifests.LoadError]]:
    fast = manifests._construct
    manifests._construct = lambda loader, node: loader.construct_document(node)  # type: ignore[assignment]
    try:
        return manifests.parse(text, "f")
    finally:
        manifests._construct = fast  # type: ignore[assignment]


def _shape(value: object) -> object:
    """The value with each object's identity shown (aliases share one; a recursive one points up)."""
    seen: dict[int, int] = {}

    def walk(v: object) -> object:
        if isinstance(v, dict | list):
            if id(v) in seen:
                return ("ref", seen[id(v)])
            seen[id(v)] = len(seen)
            items = v.items() if isinstance(v, dict) else enumerate(v)
            return (type(v).__name__, seen[id(v)], [(k, type(x).__name__, walk(x)) for k, x in items])
        return (type(v).__name__, repr(v))

    return walk(value)


@pytest.mark.parametrize("text", CASES)
def test_fast_constructor_builds_what_the_full_one_does(text: str) -> None:
    fast_docs, fast_errors = manifests.parse(text, "f")
    slow_docs, slow_errors = _parse_slow(text)
    assert fast_errors == slow_errors
    assert [(d.index, d.line) for d in fast_docs] == [(d.index, d.line) for d in slow_docs]
    assert [_shape(d.body) for d in fast_docs] == [_shape(d.body) for d in slow_docs]


def test_duplicate_key_is_named_with_its_lines() -> None:
    _, errors = manifests.parse("a: 1\nb:\n  c: 1\n  c: 2\n", "f")
    assert [(e.index, e.line) for e in errors] == [(0, 4)]
    assert "duplicate key 'c' (line 4; first at line 3)" in errors[0].message


def test_plain_scalar_tags_are_remembered_not_changed() -> None:
    text = "a: 1\nb: '1'\nc: 2026-01-01\nd: true\n"
    first, _ = manifests.parse(text, "f")
    again, _ = manifests.parse(text, "f")  # now from the tag cache
    assert first[0].body == again[0].body == {"a": 1, "b": "1", "c": "2026-01-01", "d": True}


def test_the_collector_is_paused_only_while_loading_and_checking() -> None:
    import gc

    from controller.core.validate import check

    seen: list[bool] = []
    saved = manifests._construct
    manifests._construct = lambda loader, node: (seen.append(gc.isenabled()), saved(loader, node))[1]  # type: ignore[assignment]
    try:
        docs, errors = manifests.parse("kind: VIPPool\n", "f")
    finally:
        manifests._construct = saved  # type: ignore[assignment]
    assert seen == [False] and gc.isenabled()
    check(docs, errors)
    assert gc.isenabled()
    gc.disable()
    try:
        manifests.parse("a: 1\n", "f")
        assert not gc.isenabled(), "a caller's disabled collector stays disabled"
    finally:
        gc.enable()


def _laughs(levels: int) -> str:
    """Nested anchors of 9 aliases each: 9**levels strings from `levels` + 4 lines."""
    lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 9)}]" for n in range(1, levels)]
    return "\n".join([*lines, "apiVersion: bmlb.io/v1alpha1", "kind: VIPPool", "metadata: {name: p}",
                      f"spec: {{addresses: *l{levels - 1}, zone: k8s}}", ""])


def test_a_billion_laughs_is_refused_as_the_api_server_refuses_it() -> None:
    # 9 levels: 387 million strings; `bmlb validate` took minutes and GBs over them (the schema
    # check's message held a repr of each address entry), where kubectl refuses the document.
    docs, errors = manifests.parse(_laughs(9) + "---\nkind: Service\nmetadata: {name: after}\n", "f")
    assert [(e.index, e.message) for e in errors] == [(0, "invalid YAML: document contains excessive aliasing")]
    assert [(d.index, d.body["metadata"]["name"]) for d in docs] == [(1, "after")]
    # Aliases that only share what many entries repeat are kept.
    ports = "ports: &p [{name: https, port: 443}, {name: http, port: 80}]"
    shared = "kind: List\nitems:\n" + "".join(
        f"- {{kind: Service, metadata: {{name: s{i}}}, spec: {{{ports if i == 0 else 'ports: *p'}}}}}\n"
        for i in range(2000))
    docs, errors = manifests.parse(shared, "f")
    assert not errors and len(docs) == 2000 and docs[-1].body["spec"]["ports"][0]["port"] == 443
