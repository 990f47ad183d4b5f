"""Model ⇄ XML: round trips, canonical form, escaping, edits that keep unmodelled children."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given

from firewall import elements
from firewall.elements import Kind
from firewall.model import AddressObject, NatRule, SecurityRule, ServiceObject, ServiceProtocol, Tag
from tests.firewall.strategies import desired_states


@given(desired_states())
def test_round_trip(desired: object) -> None:
    for group in ("tags", "addresses", "services", "security_rules", "nat_rules"):
        for obj in getattr(desired, group):
            entry = ET.fromstring(ET.tostring(elements.to_element(obj)))
            back = elements.from_element(elements.kind_of(obj), entry)
            assert back == elements.canonical(obj)


@given(desired_states(), desired_states())
def test_an_entry_read_takes_only_equal_values_from_the_desired_object(device: object, desired: object) -> None:
    """`sharing` (a full read's entry beside the object the plan compares it to) never changes what
    was read: the same value, the same XML written back; each string or tuple it holds is either
    its own or, where equal, the desired object's."""
    groups = ("tags", "addresses", "services", "security_rules", "nat_rules")
    wanted = {(elements.kind_of(o), o.name): elements.canonical(o) for g in groups for o in getattr(desired, g)}
    for group in groups:
        for obj in getattr(device, group):
            kind = elements.kind_of(obj)
            read = elements.from_element(kind, ET.fromstring(ET.tostring(elements.to_element(obj))))
            like = wanted.get((kind, obj.name))
            if like is None:
                continue
            out = elements.sharing(read, like)
            assert out == read
            assert ET.tostring(elements.to_element(out)) == ET.tostring(elements.to_element(read))
            if read == like:
                assert out is like
            for name in (f.name for f in dataclasses.fields(out)):
                mine, theirs, got = getattr(read, name), getattr(like, name), getattr(out, name)
                if isinstance(got, (str, tuple)):
                    assert got is (theirs if got == theirs and type(mine) is type(theirs) else mine), name


def test_canonical_ignores_member_order_and_owner() -> None:
    a = SecurityRule("r", ("b", "a"), ("k8s",), tags=("t2", "t1"))
    b = SecurityRule("r", ("a", "b", "a"), ("k8s",), tags=("t1", "t2"))
    assert elements.canonical(a) == elements.canonical(b)
    assert elements.digest(a) == elements.digest(b)


def test_uuid_and_member_order_on_the_device_do_not_matter() -> None:
    entry = ET.fromstring(
        "<entry name='r' uuid='0b3c'><to><member>k8s</member></to><from><member>z2</member><member>z1</member>"
        "</from><service><member>any</member></service><action>deny</action></entry>")
    rule = elements.from_element(Kind.SECURITY, entry)
    assert rule == elements.canonical(SecurityRule("r", ("z1", "z2"), ("k8s",), services=("any",),
                                                   action=elements.Action.DENY))


def test_text_is_escaped_by_elementtree() -> None:
    desc = "a <b> & 'c' \"d\" ]]>"
    xml = ET.tostring(elements.to_element(AddressObject("x", "10.0.0.1/32", description=desc)), encoding="unicode")
    assert "&lt;b&gt; &amp;" in xml
    assert elements.from_element(Kind.ADDRESS, ET.fromstring(xml)).description == desc  # type: ignore[union-attr]


@pytest.mark.parametrize("name", ["a'b", "a b", "", "x" * 64, "a\"]|//*"])
def test_invalid_names_never_reach_xml(name: str) -> None:
    with pytest.raises(ValueError):
        elements.to_element(AddressObject(name, "10.0.0.1/32"))


def test_edit_keeps_unmodelled_children() -> None:
    actual = ET.fromstring("<entry name='r' uuid='u'><from><member>z</member></from>"
                           "<profile-setting><group><member>strict</member></group></profile-setting></entry>")
    merged = elements.merged(SecurityRule("r", ("z",), ("k8s",)), actual)
    assert merged.find("profile-setting/group/member").text == "strict"  # type: ignore[union-attr]
    assert merged.get("uuid") is None and merged.findtext("to/member") == "k8s"


def test_service_and_nat_shapes() -> None:
    svc = elements.to_element(ServiceObject("s", ServiceProtocol.TCP, "443"))
    assert svc.findtext("protocol/tcp/port") == "443"
    nat = elements.to_element(NatRule("n", ("untrust",), ("untrust",), ("pub",), "s", "vip", 8080))
    assert nat.findtext("service") == "s" and nat.findtext("destination-translation/translated-port") == "8080"
    tag = elements.to_element(Tag("bmlb-managed", "color24", "c"))
    assert (tag.findtext("color"), tag.findtext("comments")) == ("color24", "c")


def test_unreadable_entries() -> None:
    with pytest.raises(elements.Unreadable):
        elements.from_element(Kind.SERVICE, ET.fromstring("<entry name='s'><protocol/></entry>"))
