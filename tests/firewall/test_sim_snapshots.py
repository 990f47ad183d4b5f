"""The simulator's cheap paths give what the plain ones gave: a commit's snapshot shares the
subtrees no write changed with the last one (tree.grafted) and equals the candidate byte for byte,
and writes after it never reach the running config; a write gives uuids only to the rules it
wrote; an `[@attr=value]` step selects what the compiled predicate selects."""

from __future__ import annotations

import gc
import xml.etree.ElementTree as ET

from hypothesis import example, given, settings
from hypothesis import strategies as st

from firewall.sim import tree, xpath
from firewall.sim.changes import Change
from firewall.sim.defaults import VSYS1_XPATH
from firewall.sim.device import Device

NAMES = ["a", "b", "c"]
RULES = f"{VSYS1_XPATH}/rulebase/security/rules"


def _address(admin: str, name: str, ip: int) -> Change:
    xml = f"<entry name='{name}'><ip-netmask>10.0.0.{ip}</ip-netmask></entry>"
    return Change(admin, "set", f"{VSYS1_XPATH}/address", [ET.fromstring(xml)])


def _edit_address(admin: str, name: str, ip: int) -> Change:
    xml = f"<entry name='{name}'><ip-netmask>10.1.0.{ip}</ip-netmask></entry>"
    return Change(admin, "edit", f"{VSYS1_XPATH}/address/entry[@name='{name}']", [ET.fromstring(xml)])


def _rule(admin: str, name: str, dst: str) -> Change:
    xml = (f"<entry name='r{name}'><to><member>trust</member></to>"
           f"<destination><member>{dst}</member></destination></entry>")
    return Change(admin, "set", RULES, [ET.fromstring(xml)])


def _describe(admin: str, name: str, ip: int) -> Change:
    """A set below a rule (creates the rule when it is missing): the general local path."""
    return Change(admin, "set", f"{RULES}/entry[@name='r{name}']", [ET.fromstring(f"<description>{ip}</description>")])


def _tag(admin: str, name: str, ip: int) -> Change:
    """A set that creates the containers on its way (the tag container of a new vsys-level node)."""
    return Change(admin, "set", f"{VSYS1_XPATH}/tag/entry[@name='t{name}']",
                  [ET.fromstring(f"<comments>{ip}</comments>")])


def _delete(admin: str, name: str, ip: int) -> Change:  # the full path
    return Change(admin, "delete", f"{VSYS1_XPATH}/address/entry[@name='{name}']")


admins = st.sampled_from(["admin", "admin", "bob"])
writes = st.one_of(
    st.builds(_address, admins, st.sampled_from(NAMES), st.integers(1, 3)),
    st.builds(_edit_address, admins, st.sampled_from(NAMES), st.integers(1, 3)),
    st.builds(_rule, admins, st.sampled_from(NAMES), st.sampled_from([*NAMES, "any"])),
    st.builds(_describe, admins, st.sampled_from(NAMES), st.integers(1, 3)),
    st.builds(_tag, admins, st.sampled_from(NAMES), st.integers(1, 3)),
    st.builds(_delete, admins, st.sampled_from(NAMES), st.integers(1, 3)),
)
ops = st.one_of(
    writes.map(lambda c: ("write", [c])),
    st.lists(writes, min_size=2, max_size=3).map(lambda cs: ("batch", cs)),
    st.sampled_from([("commit", []), ("commit-mine", []), ("revert", [])]),
)


def _bytes(elem: ET.Element) -> bytes:
    return ET.tostring(elem)


@settings(max_examples=300, deadline=None)
@given(st.lists(ops, max_size=14))
@example([("write", [_address("admin", "a", 1)]), ("commit", []),
          ("write", [_address("admin", "b", 1)]), ("commit", []),
          ("write", [_edit_address("admin", "a", 2)]), ("commit", [])])
# an entry appended since the last snapshot, then changed in place by a set
@example([("write", [_address("admin", "b", 1)]), ("commit", []), ("write", [_address("admin", "a", 1)]),
          ("commit", []), ("write", [_address("admin", "a", 2)]), ("commit", [])])
@example([("commit", []), ("write", [_rule("admin", "a", "any")]), ("commit", []),
          ("write", [_describe("admin", "a", 1)]), ("commit", [])])
def test_commits_equal_the_candidate_and_later_writes_leave_the_running_config(ops: list) -> None:
    device = Device(commit_seconds=0.0)
    try:
        for op, batch in ops:
            running = _bytes(device.running)
            if op in ("write", "batch"):
                try:
                    if op == "write":
                        device.write(batch[0])
                    else:
                        device.write_many(batch, strict=True)
                except tree.ConfigError:
                    pass
                assert _bytes(device.running) == running, "a write reached the running config"
            elif op == "revert":
                device.revert()
            else:
                whole = op == "commit" or {c.admin for c in device.changes} <= {"admin"}
                candidate = _bytes(device.candidate)
                job = device.commit("admin", admins=None if op == "commit" else ["admin"])
                if job is None:
                    continue
                assert device.jobs.wait_idle(10)
                if job.result == "OK" and whole:
                    assert _bytes(device.running) == candidate
            assert _bytes(device.candidate) == _bytes(tree.copied(device.candidate))
    finally:
        device.close()


def test_a_grafted_snapshot_shares_what_no_write_changed() -> None:
    device = Device(commit_seconds=0.0)
    try:
        for name in NAMES:
            device.write(_address("admin", name, 1))
        job = device.commit("admin", admins=None)
        assert job is not None and device.jobs.wait_idle(10)
        first = device.running
        device.write(_edit_address("admin", "b", 2))
        job = device.commit("admin", admins=None)
        assert job is not None and device.jobs.wait_idle(10) and job.result == "OK"
        old, new = (t.find("config/devices/entry/vsys/entry/address") for t in (first, device.running))
        assert old is not None and new is not None and old is not new
        assert old[0] is new[0] and old[2] is new[2] and old[1] is not new[1]
        assert new[1].findtext("ip-netmask") == "10.1.0.2" and old[1].findtext("ip-netmask") == "10.0.0.1"
        assert device.vr_restarts == 0
    finally:
        device.close()


def test_a_snapshot_takes_the_nodes_on_the_way_from_the_candidate() -> None:
    """A rule without a uuid (left so by another tool, in both configs) gets one by a write below
    it: the rule is on the way to the changed node, not itself marked changed."""
    device = Device(commit_seconds=0.0)
    try:
        job = device.commit("admin", admins=None, force=True)
        assert job is not None and device.jobs.wait_idle(10)
        for config in (device.running, device.candidate):
            rules = config.find("config/devices/entry/vsys/entry/rulebase/security/rules")
            assert rules is not None
            ET.SubElement(rules, "entry", {"name": "ra"})
        device.write(Change("admin", "set", f"{RULES}/entry[@name='ra']/source",
                            [ET.fromstring("<member>any</member>")]))
        job = device.commit("admin", admins=None)
        assert job is not None and device.jobs.wait_idle(10) and job.result == "OK"
        rule = device.running.find("config/devices/entry/vsys/entry/rulebase/security/rules/entry[@name='ra']")
        assert rule is not None and rule.get("uuid") and rule.findtext("source/member") == "any"
        assert _bytes(device.running) == _bytes(device.candidate)
    finally:
        device.close()


def test_a_write_gives_uuids_to_the_rules_it_wrote_only() -> None:
    device = Device(commit_seconds=0.0)
    try:
        device.write(_rule("admin", "a", "any"))
        rules = device.candidate.find("config/devices/entry/vsys/entry/rulebase/security/rules")
        assert rules is not None
        ET.SubElement(rules, "entry", {"name": "foreign"})  # as a foreign tool might leave it
        uuid = rules[0].get("uuid")
        assert uuid
        device.write(_describe("admin", "b", 1))  # creates rule rb by a set below it
        device.write(_describe("admin", "a", 2))
        assert [(e.get("name"), bool(e.get("uuid"))) for e in rules] == [("ra", True), ("foreign", False),
                                                                         ("rb", True)]
        assert rules[0].get("uuid") == uuid
    finally:
        device.close()


def test_rule_entries_leaves_no_reference_to_the_rules_behind() -> None:
    config = tree.new_tree("<config><rulebase><security><rules><entry name='x'/></rules></security></rulebase>"
                           "</config>")
    rules = config.find("config/rulebase/security/rules")
    assert rules is not None
    was = gc.isenabled()
    gc.disable()
    try:
        tree.ensure_uuids(config)
        # Element.__deepcopy__ copies in C only children nobody else holds
        assert gc.get_referrers(rules[0]) == [rules]
    finally:
        if was:
            gc.enable()


tags = st.sampled_from(["entry", "member", "x"])
names = st.one_of(st.none(), st.sampled_from(["a", "b", "it's"]))
children = st.lists(st.tuples(tags, names, st.sampled_from(["", "a", "b"])), max_size=8)


@settings(max_examples=300, deadline=None)
@given(children, st.sampled_from(["entry", "member", "*"]), st.sampled_from(["name", "kind"]),
       st.sampled_from(["a", "b", "it's"]))
def test_an_attribute_step_selects_what_its_predicate_selects(kids: list, step: str, attr: str, value: str) -> None:
    node = ET.Element("c")
    for tag, name, kind in kids:
        child = ET.SubElement(node, tag, {} if name is None else {"name": name})
        if kind:
            child.set("kind", kind)
    (parsed,) = xpath.parse(f"/{step}[@{attr}={xpath.quote(value)}]")
    assert parsed.key == (attr, value)
    assert parsed.children(node) == [c for c in node if parsed.matches(c)]
