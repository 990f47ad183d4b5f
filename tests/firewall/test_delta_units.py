"""Pure parts of the incremental sync: the multi-config request text, the read of changed
entries, the view's bookkeeping of applied operations."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firewall import delta, multiconfig, order, view
from firewall.diff import Op, OpType
from firewall.elements import Kind
from firewall.writes import Write
from tests.firewall.sync_fixtures import config

TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\x00") | st.sampled_from(
    "\n\r\t<>&\"'"), max_size=30)


def _reference(writes: list[Write]) -> str:
    """What the request was before it was built from pre-serialised bodies: ElementTree's text."""
    root = ET.Element("multi-configure-request")
    for i, w in enumerate(writes):
        sub = ET.SubElement(root, w.action, {"id": str(i + 1), "xpath": w.xpath})
        if w.where is not None:
            sub.set("where", w.where)
        if w.dst is not None:
            sub.set("dst", w.dst)
        if w.element is not None:
            sub.append(w.element)
    return ET.tostring(root, encoding="unicode")


@given(xpath=TEXT, name=TEXT, description=TEXT, dst=TEXT)
def test_multi_config_request_is_what_elementtree_writes(xpath: str, name: str, description: str, dst: str) -> None:
    entry = ET.Element("entry", {"name": name})
    ET.SubElement(entry, "description").text = description
    op = Op(OpType.CREATE, Kind.ADDRESS, "a")
    writes = [Write("set", xpath, op, entry), Write("delete", xpath, op), Write("move", xpath, op, where="after",
                                                                                 dst=dst)]
    assert multiconfig.request(writes) == _reference(writes)


def test_read_xpath_is_one_union_of_one_path_per_container() -> None:
    xp = delta.read_xpath([(Kind.ADDRESS, "bmlb-a"), (Kind.ADDRESS, "bmlb-b"), (Kind.SECURITY, "bmlb-r")], config())
    assert xp is not None
    parts = xp.split(" | ")
    assert len(parts) == 2
    assert parts[0].endswith("/address/entry[@name='bmlb-a' or @name='bmlb-b']")
    assert parts[1].endswith("/rulebase/security/rules/entry[@name='bmlb-r']")
    assert delta.read_xpath([], config()) is None


def test_read_xpath_refuses_names_the_reply_could_not_tell_apart() -> None:
    with pytest.raises(delta.Stale):
        delta.read_xpath([(Kind.ADDRESS, "bmlb-x"), (Kind.SECURITY, "bmlb-x")], config())
    with pytest.raises(delta.Stale):
        delta.read_xpath([(Kind.ROUTE, "vr1/ip/bmlb-r"), (Kind.ROUTE, "vr2/ip/bmlb-r")], config())


@given(st.lists(st.sampled_from("abcdefgh"), unique=True, min_size=1), st.data())
def test_view_bookkeeping_follows_the_device(names: list[str], data: st.DataObject) -> None:
    """Owned keys and rule order after creates, deletes and moves, as order.apply says the
    device does them (a create appends at the bottom)."""
    start = data.draw(st.lists(st.sampled_from(names), unique=True))
    ops: list[Op] = []
    expected = list(start)
    for name in names:
        if name not in expected:
            ops.append(Op(OpType.CREATE, Kind.SECURITY, name))
            expected.append(name)
    gone = data.draw(st.lists(st.sampled_from(expected), unique=True, max_size=len(expected) - 1))
    for name in gone:
        ops.append(Op(OpType.DELETE, Kind.SECURITY, name))
        expected.remove(name)
    for name in data.draw(st.lists(st.sampled_from(expected), max_size=3)):
        move = order.Move(name, data.draw(st.sampled_from(["top", "bottom"])))
        ops.append(Op(OpType.MOVE, Kind.SECURITY, name, move=move))
        expected = order.apply(expected, move)
    owned, rulebases = view.applied({(Kind.SECURITY, n) for n in start}, {Kind.SECURITY: tuple(start)}, ops)
    assert rulebases[Kind.SECURITY] == tuple(expected)
    assert owned == {(Kind.SECURITY, n) for n in expected}


def test_read_xpaths_ask_for_at_most_a_chunk_of_entries_each() -> None:
    keys = [(Kind.ADDRESS, f"bmlb-a{i}") for i in range(2 * delta.READ_CHUNK + 1)]
    paths = delta.read_xpaths(keys, config())
    assert [p.count("@name='bmlb-a") for p in paths] == [delta.READ_CHUNK, delta.READ_CHUNK, 1]
    with pytest.raises(delta.Stale):  # a name shared across chunks could not be told apart either
        delta.read_xpaths([*keys, (Kind.SECURITY, "bmlb-a0")], config())


@given(st.lists(st.tuples(st.sampled_from(["create", "delete", "move"]), st.sampled_from("abcde"),
                          st.sampled_from(["top", "bottom"])), max_size=12))
def test_view_bookkeeping_in_any_order_of_operations(steps: list[tuple[str, str, str]]) -> None:
    """Deletes, re-creates and moves interleaved (rounds of a sync after refusals): the same
    order as applying each operation to the list in turn."""
    expected: list[str] = ["a", "b"]
    ops: list[Op] = []
    for action, name, where in steps:
        if action == "create":
            ops.append(Op(OpType.CREATE, Kind.SECURITY, name))
            if name not in expected:
                expected.append(name)
        elif action == "delete":
            ops.append(Op(OpType.DELETE, Kind.SECURITY, name))
            if name in expected:
                expected.remove(name)
        elif name in expected:
            move = order.Move(name, where)
            ops.append(Op(OpType.MOVE, Kind.SECURITY, name, move=move))
            expected = order.apply(expected, move)
    owned, rulebases = view.applied({(Kind.SECURITY, "a"), (Kind.SECURITY, "b")}, {Kind.SECURITY: ("a", "b")}, ops)
    assert rulebases[Kind.SECURITY] == tuple(expected)
    assert owned == {(Kind.SECURITY, n) for n in expected}
