"""A plan writes each desired object as it was given, not a canonical copy of it (a copy of all
50,000 at once was a full sync's peak memory): the entry it writes must be the very entry the
canonical object makes, whatever the order, repeats or owner of its member lists."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from hypothesis import given, settings
from hypothesis import strategies as st

from firewall import diff, elements, view
from firewall.config import SyncConfig
from firewall.model import (
    Action,
    AddressObject,
    DesiredFirewall,
    NatRule,
    Owner,
    SecurityRule,
    ServiceObject,
    ServiceProtocol,
)
from firewall.snapshot import Snapshot

NAMES = st.sampled_from(["bmlb-a", "bmlb-b", "bmlb-c", "untrust", "trust", "any"])
MEMBERS = st.lists(NAMES, min_size=1, max_size=4).map(tuple)  # repeats and any order
OWNERS = st.sampled_from([None, Owner("Service", "ns", "web", "uid-1", 1)])
TAGS = st.lists(st.sampled_from(["bmlb-managed", "bmlb-ns-a"]), max_size=3).map(tuple)

objects = st.one_of(
    st.builds(AddressObject, name=st.just("bmlb-10.0.0.1"), value=st.just("10.0.0.1/32"), tags=TAGS, owner=OWNERS,
              description=st.sampled_from(["", "VIP of ns/web"])),
    st.builds(ServiceObject, name=st.just("bmlb-tcp-443"), protocol=st.just(ServiceProtocol.TCP), port=st.just("443"),
              tags=TAGS, owner=OWNERS),
    st.builds(SecurityRule, name=st.just("bmlb-r1"), from_zones=MEMBERS, to_zones=MEMBERS, sources=MEMBERS,
              destinations=MEMBERS, applications=MEMBERS, services=MEMBERS, action=st.sampled_from(list(Action)),
              tags=TAGS, owner=OWNERS),
    st.builds(NatRule, name=st.just("bmlb-n1"), from_zones=MEMBERS, to_zones=MEMBERS, destination=MEMBERS,
              service=st.just("bmlb-tcp-443"), translated_address=st.just("bmlb-10.0.0.1"), sources=MEMBERS,
              tags=TAGS, owner=OWNERS),
)


@settings(max_examples=300, deadline=None)
@given(objects)
def test_an_object_writes_the_entry_its_canonical_form_writes(obj: object) -> None:
    assert ET.tostring(elements.to_element(obj)) == ET.tostring(elements.to_element(elements.canonical(obj)))


@settings(max_examples=200, deadline=None)
@given(st.lists(objects, max_size=4))
def test_a_full_plan_compares_canonically_and_writes_as_given(objs: list[object]) -> None:
    config = SyncConfig(ownership_tag="bmlb-managed")
    by_kind: dict[str, list[object]] = {"addresses": [], "services": [], "security_rules": [], "nat_rules": []}
    seen = set()
    for o in objs:
        if o.name in seen:  # type: ignore[attr-defined]
            continue
        seen.add(o.name)  # type: ignore[attr-defined]
        slot = {AddressObject: "addresses", ServiceObject: "services", SecurityRule: "security_rules",
                NatRule: "nat_rules"}[type(o)]
        by_kind[slot].append(o)
    desired = DesiredFirewall("bmlb-managed", **{k: tuple(v) for k, v in by_kind.items()})  # type: ignore[arg-type]
    empty = diff.diff(desired, Snapshot(), config)
    # what the device holds after those writes, as it reads back: canonical, without owner
    written = {(op.kind, op.name): elements.canonical(diff.tagged(op.new, "bmlb-managed")) for op in empty.ops
               if op.new is not None}
    for key, obj in diff.wanted(desired, config).items():
        assert ET.tostring(elements.to_element(written[key])) == ET.tostring(elements.to_element(obj))
        assert empty.baseline[key] == elements.fingerprint(written[key])  # as the device reads it
    _, rulebases = view.applied(frozenset(), {}, empty.ops)
    again = diff.diff(desired, Snapshot(owned=written, order=rulebases), config, baseline=empty.baseline)
    assert again.ops == () and again.drift == ()
