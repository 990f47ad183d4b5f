"""A multi-config batch of entry writes (the simulator's cheap path: a name index and each write's
own undo instead of a copy of the whole candidate) ends exactly as the same changes written one by
one: all applied, or, when one is refused, the candidate as it was before the batch."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from firewall.sim import tree
from firewall.sim.changes import Change
from firewall.sim.device import Device

VSYS = "/config/devices/entry[@name='localhost.localdomain']/vsys/entry[@name='vsys1']"
NAMES = ["a", "b", "c", "d", "e"]


def _address(name: str, ip: int) -> Change:
    xml = f"<entry name='{name}'><ip-netmask>10.0.0.{ip}</ip-netmask></entry>"
    return Change("admin", "set", f"{VSYS}/address", [ET.fromstring(xml)])


def _group(name: str, members: list[str]) -> Change:
    xml = f"<entry name='g-{name}'><static>{''.join(f'<member>{m}</member>' for m in members)}</static></entry>"
    return Change("admin", "set", f"{VSYS}/address-group", [ET.fromstring(xml)])


def _edit(name: str, ip: int) -> Change:
    xml = f"<entry name='{name}'><ip-netmask>10.1.0.{ip}</ip-netmask></entry>"
    return Change("admin", "edit", f"{VSYS}/address/entry[@name='{name}']", [ET.fromstring(xml)])


changes = st.one_of(
    st.builds(_address, st.sampled_from(NAMES), st.integers(1, 3)),
    st.builds(_group, st.sampled_from(NAMES), st.lists(st.sampled_from(NAMES), min_size=1, max_size=2)),
    st.builds(_edit, st.sampled_from(NAMES), st.integers(1, 3)),
)


def _seeded(seed: list[Change]) -> Device:
    device = Device(commit_seconds=0.0)
    for change in seed:
        try:
            device.write(change)
        except tree.ConfigError:
            pass
    return device


def _xml(device: Device) -> str:
    return tree.canonical(device.candidate)


@settings(max_examples=600, deadline=None)
@given(st.lists(changes, max_size=4), st.lists(changes, min_size=2, max_size=8), st.booleans())
# an edit's undo held children by reference that a later set in the batch changed in place
@example([_edit("b", 1)], [_edit("c", 1), _address("b", 1), _group("a", ["a"])], True)
def test_batch_equals_one_by_one(seed: list[Change], batch: list[Change], indexed: bool) -> None:
    fast, slow = _seeded(seed), _seeded(seed)
    fast.index_from = 2 if indexed else 100  # with the name index, or scanning
    before = _xml(fast)
    results = fast.write_many([Change(c.admin, c.action, c.xpath, c.elements) for c in batch], strict=True)
    refused = False
    for change in batch:
        try:
            slow.write(Change(change.admin, change.action, change.xpath, change.elements))
        except tree.ConfigError:
            refused = True
            break
    if refused:
        assert any(isinstance(r, tree.ConfigError) for r in results)
        assert _xml(fast) == before, "a refused batch left changes behind"
    else:
        assert not any(isinstance(r, tree.ConfigError) for r in results)
        assert _xml(fast) == _xml(slow)
    # the name index did not outlive the batch: the next lookups see the candidate as it is
    follow = [_group("z", ["a"]), _address("a", 1)]
    if refused:
        slow = _seeded(seed)
    assert [str(r) for r in fast.write_many(follow, strict=False)] == \
        [str(r) for r in slow.write_many(follow, strict=False)]
    assert _xml(fast) == _xml(slow)


def test_many_entries_in_one_container() -> None:
    device = Device(commit_seconds=0.0)
    for b in range(4):
        batch = [_address(f"n{b}-{i}", 1) for i in range(300)]
        assert device.write_many(batch, strict=True) == [1] * 300
    container = device.candidate.find(".//vsys/entry/address")
    assert container is not None and len(container.findall("entry")) == 1200
    bad = [_address("late", 2), _group("x", ["missing"])]
    assert isinstance(device.write_many(bad, strict=True)[-1], tree.ConfigError)
    container = device.candidate.find(".//vsys/entry/address")  # a rollback may swap the candidate
    assert container is not None
    assert tree.entry_named(container, "late") is None and len(container.findall("entry")) == 1200


def _delete(name: str) -> Change:
    return Change("admin", "delete", f"{VSYS}/address/entry[@name='{name}']", [])


def _deep(name: str, ip: int) -> Change:
    """A set at the entry's own xpath: creates the entry when missing (a node the index must learn of)."""
    return Change("admin", "set", f"{VSYS}/address/entry[@name='{name}']",
                  [ET.fromstring(f"<ip-netmask>10.2.0.{ip}</ip-netmask>")])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(changes, st.builds(_delete, st.sampled_from(NAMES)),
                          st.builds(_deep, st.sampled_from(NAMES), st.integers(1, 3))), max_size=14))
@example([_address("b", 1), _deep("a", 1), _address("a", 2)])  # a node created by path, then set by name
def test_a_partial_commit_replays_to_the_candidate(todo: list[Change]) -> None:
    """bmlb commits its own admin's changes only: the simulator replays them onto the running
    config (with the name index). With one admin, what it commits is the candidate."""
    device = _seeded(todo)
    pending = list(device.changes)
    ok, lines = device._finish_commit({c.id for c in pending}, None, [c.copy() for c in pending], None)
    assert ok, lines
    assert tree.canonical(device.running) == tree.canonical(device.candidate)


def _committed(seed: list[Change], *, alone: bool) -> tuple[bool, str]:
    """Write `seed` as admin, then commit admin's changes. Alone: nothing else is pending, so the
    commit takes the candidate itself; else another admin's pending change makes it replay
    admin's changes on a copy of the running config and check that copy whole (the other's
    change must not reach the running config)."""
    device = _seeded(seed)
    if not alone:
        xml = "<entry name='theirs'><ip-netmask>10.9.0.1</ip-netmask></entry>"
        device.write(Change("other", "set", f"{VSYS}/address", [ET.fromstring(xml)]))
    job = device.commit("admin", admins=["admin"])
    if job is None:
        return True, tree.canonical(device.running)
    assert device.jobs.wait_idle(10)
    ok = device.jobs.get(job.id).result == "OK"  # type: ignore[union-attr]
    device.close()
    return ok, tree.canonical(device.running)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(changes, st.builds(_delete, st.sampled_from(NAMES))), max_size=8))
def test_a_commit_of_everything_pending_equals_the_replayed_commit(seed: list[Change]) -> None:
    assert _committed(seed, alone=True) == _committed(seed, alone=False)


def _dangling() -> Device:
    device = Device(commit_seconds=0.0)
    for config in (device.running, device.candidate):  # a group naming an address nobody defined
        vsys = config.find(".//vsys/entry[@name='vsys1']")
        assert vsys is not None
        group = ET.SubElement(ET.SubElement(vsys, "address-group"), "entry", {"name": "g"})
        ET.SubElement(ET.SubElement(group, "static"), "member").text = "late"
    device.recheck()
    return device


@pytest.mark.parametrize("name", ["late", "other"])
def test_a_commit_fails_on_a_problem_still_there_and_passes_on_one_mended(name: str) -> None:
    device = _dangling()
    device.write(_address(name, 1))  # "late" mends it: the local check looks at the new entry only
    job = device.commit("admin", admins=["admin"])
    assert job is not None and device.jobs.wait_idle(10)
    assert device.jobs.get(job.id).result == ("OK" if name == "late" else "FAIL")  # type: ignore[union-attr]
    assert (name in tree.canonical(device.running)) is (name == "late")
    device.close()
