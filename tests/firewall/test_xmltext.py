"""The fast serialiser writes what ElementTree writes (the multi-config body is built from it)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from hypothesis import given
from hypothesis import strategies as st

from firewall import diff, elements, xmltext
from firewall.config import SyncConfig
from tests.firewall.strategies import OWNERSHIP, desired_states

texts = st.one_of(st.none(), st.text(st.sampled_from('ab &<>"\'\r\n\té\u00a0'), max_size=6))


@st.composite
def trees(draw: st.DrawFn, depth: int = 0) -> ET.Element:
    e = ET.Element(draw(st.sampled_from(["entry", "member", "a-b", "x.y"])),
                   {k: draw(texts.filter(lambda t: t is not None)) for k in draw(st.sets(st.sampled_from(
                       ["name", "uuid", "loc"]), max_size=2))})
    e.text = draw(texts)
    e.tail = draw(texts)
    if depth < 3:
        e.extend(draw(st.lists(trees(depth + 1), max_size=3)))
    return e


@given(trees())
def test_any_tree_as_elementtree_writes_it(element: ET.Element) -> None:
    assert xmltext.to_text(element) == ET.tostring(element, encoding="unicode")


@given(desired_states())
def test_every_entry_bmlb_writes(desired) -> None:  # type: ignore[no-untyped-def]
    for obj in diff.wanted(desired, SyncConfig(ownership_tag=OWNERSHIP)).values():
        entry = elements.to_element(obj)
        assert xmltext.to_text(entry) == ET.tostring(entry, encoding="unicode")


def test_unusual_elements_are_left_to_elementtree() -> None:
    e = ET.Element("entry", name="x")
    e.append(ET.Comment(" kept "))
    ET.SubElement(e, "{urn:x}ns").text = "1"
    assert xmltext.to_text(e) == ET.tostring(e, encoding="unicode")
