"""Quarantine: an object the device refuses, at write or at commit, is taken out of the sync;
everything else converges and commits; multi-config stays on; a fixed object converges.

Refusals come from the simulator (`refuse_write` / `refuse_commit` faults match an entry's XML),
so any value the device refuses is covered, not only the ones bmlb knows to be bad.
"""

from __future__ import annotations

import dataclasses
import re
import time
import xml.etree.ElementTree as ET

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firewall import errors, sync
from firewall.device import Device
from firewall.model import AddressObject, DesiredFirewall
from firewall.sim import VSYS1_XPATH, Simulator
from tests.firewall.sync_fixtures import config, device_for, replace_rule, web

VSYS = "devices/entry/vsys/entry[@name='vsys1']"
FOREIGN = "<entry name='corp-db'><ip-netmask>10.50.0.1/32</ip-netmask><description>carol</description></entry>"


def entries(xml: str, where: str) -> dict[str, str]:
    """name -> serialized entry, read from the simulator's config document (not through bmlb)."""
    root = ET.fromstring(xml)
    return {e.get("name", ""): ET.tostring(e, encoding="unicode") for e in root.findall(f"{VSYS}/{where}/entry")}


def rules(sim: Simulator, which: str = "running") -> dict[str, str]:
    xml = sim.running_xml() if which == "running" else sim.candidate_xml()
    return {**entries(xml, "rulebase/security/rules"), **entries(xml, "rulebase/nat/rules")}


def everything_but(state: DesiredFirewall, *names: str) -> set[str]:
    return {r.name for r in (*state.security_rules, *state.nat_rules)} - set(names)


@pytest.fixture
def dev(panos_sim: Simulator) -> Device:
    return device_for(panos_sim)


def test_refused_at_write_others_commit_and_multi_config_stays(dev: Device, panos_sim: Simulator) -> None:
    state = replace_rule(web(3), "bmlb-web-s1-pub", description="REFUSE-ME")
    panos_sim.faults.add("refuse_write", pattern="REFUSE-ME")
    report = sync.sync(state, dev, config=config())
    assert report.committed
    assert [(e.kind, e.name, e.phase) for e in report.errors] == [("security", "bmlb-web-s1-pub", "write")]
    assert "REFUSE-ME" in report.errors[0].message and "bmlb-web-s0" not in report.errors[0].message
    assert set(rules(panos_sim)) == everything_but(state, "bmlb-web-s1-pub")
    assert dev.multi_config_ok
    assert panos_sim.stats_snapshot()["requests"].get("config.multi-config", 0) >= 1
    assert panos_sim.pending_admins() == []

    # The next sync leaves the unchanged refused object alone: no write, no commit.
    panos_sim.reset_stats()
    again = sync.sync(state, dev, config=config(), baseline=report.baseline, quarantine=report.quarantine)
    assert again.plan.empty and not again.committed
    assert panos_sim.stats_snapshot()["writes"] == 0
    assert [e.name for e in again.errors] == ["bmlb-web-s1-pub"]

    # Fixed: it converges (multi-config still in use).
    fixed = replace_rule(state, "bmlb-web-s1-pub", description="fine")
    panos_sim.reset_stats()
    done = sync.sync(fixed, dev, config=config(), baseline=again.baseline, quarantine=again.quarantine)
    assert done.committed and not done.errors and not done.quarantine
    assert set(rules(panos_sim)) == everything_but(fixed)
    assert panos_sim.stats_snapshot()["requests"].get("config.multi-config", 0) == 1
    assert panos_sim.stats_snapshot()["requests"].get("config.set", 0) == 0


def test_a_refusal_of_one_change_alone_never_turns_multi_config_off(dev: Device, panos_sim: Simulator) -> None:
    """A batch refused as a whole (a value the device cannot parse) is retried change by change."""
    state = replace_rule(web(2), "bmlb-web-s0-vip", description="bell \x07 here")
    report = sync.sync(state, dev, config=config())
    assert report.committed
    assert [e.name for e in report.errors] == ["bmlb-web-s0-vip"]
    assert set(rules(panos_sim)) == everything_but(state, "bmlb-web-s0-vip")
    assert dev.multi_config_ok
    panos_sim.reset_stats()
    more = dataclasses.replace(web(3), security_rules=tuple(
        r for r in web(3).security_rules if r.name != "bmlb-web-s0-vip"))
    sync.sync(more, dev, config=config(), baseline=report.baseline, quarantine=report.quarantine)
    stats = panos_sim.stats_snapshot()["requests"]
    assert stats.get("config.multi-config", 0) == 1 and stats.get("config.set", 0) == 0, stats


def test_refused_at_commit_is_reverted_and_the_rest_committed(dev: Device, panos_sim: Simulator) -> None:
    carol = panos_sim.as_admin("carol")
    carol.set(f"{VSYS1_XPATH}/address", FOREIGN)
    carol.commit()
    foreign = entries(panos_sim.running_xml(), "address")["corp-db"]
    state = replace_rule(web(3), "bmlb-web-s2-vip", description="FAIL-AT-COMMIT")
    panos_sim.faults.add("refuse_commit", pattern="FAIL-AT-COMMIT")
    report = sync.sync(state, dev, config=config())
    assert report.committed
    for which in (panos_sim.running_xml(), panos_sim.candidate_xml()):  # the revert touched only ours
        assert entries(which, "address")["corp-db"] == foreign
    assert [(e.name, e.phase) for e in report.errors] == [("bmlb-web-s2-vip", "commit")]
    message = report.errors[0].message
    assert "bmlb-web-s2-vip" in message and not re.search(r"bmlb-web-s[01]|bmlb-nat", message), message
    assert set(rules(panos_sim)) == everything_but(state, "bmlb-web-s2-vip")
    # reverted: the candidate holds nothing of it, and nothing of ours is left pending
    assert "bmlb-web-s2-vip" not in rules(panos_sim, "candidate")
    assert panos_sim.pending_admins() == []

    # Later syncs do not commit it again (every later commit would fail) ...
    panos_sim.reset_stats()
    again = sync.sync(state, dev, config=config(), baseline=report.baseline, quarantine=report.quarantine)
    assert not again.committed and panos_sim.stats_snapshot()["commits"] == 0
    assert [e.name for e in again.errors] == ["bmlb-web-s2-vip"]
    # ... and other changes still commit meanwhile.
    grown = replace_rule(state, "bmlb-web-s0-pub", description="changed")
    later = sync.sync(grown, dev, config=config(), baseline=again.baseline, quarantine=again.quarantine)
    assert later.committed and "changed" in rules(panos_sim)["bmlb-web-s0-pub"]

    fixed = replace_rule(grown, "bmlb-web-s2-vip", description="fixed")
    done = sync.sync(fixed, dev, config=config(), baseline=later.baseline, quarantine=later.quarantine)
    assert done.committed and not done.errors
    assert set(rules(panos_sim)) == everything_but(fixed)


def test_a_refused_update_keeps_the_working_version(dev: Device, panos_sim: Simulator) -> None:
    state = web(2)
    first = sync.sync(state, dev, config=config())
    before = rules(panos_sim)["bmlb-web-s1-vip"]
    panos_sim.faults.add("refuse_commit", pattern="FAIL-AT-COMMIT")
    bad = replace_rule(state, "bmlb-web-s1-vip", description="FAIL-AT-COMMIT")
    report = sync.sync(bad, dev, config=config(), baseline=first.baseline)
    assert [e.name for e in report.errors] == ["bmlb-web-s1-vip"]
    assert rules(panos_sim)["bmlb-web-s1-vip"] == before
    assert rules(panos_sim, "candidate")["bmlb-web-s1-vip"] == before
    assert panos_sim.pending_admins() == []
    # held: not deleted, not rewritten
    panos_sim.reset_stats()
    again = sync.sync(bad, dev, config=config(), baseline=report.baseline, quarantine=report.quarantine)
    assert again.plan.empty and panos_sim.stats_snapshot()["writes"] == 0
    assert rules(panos_sim)["bmlb-web-s1-vip"] == before


def test_a_refused_address_takes_its_rules_along(dev: Device, panos_sim: Simulator) -> None:
    """An address the commit refuses is reverted after the rules that refer to it; the rules of
    other addresses are committed."""
    panos_sim.faults.add("refuse_commit", pattern=re.escape("10.96.0.2/32"))
    state = web(3)
    report = sync.sync(state, dev, config=config())
    assert report.committed
    failed = {e.name for e in report.errors}
    assert "bmlb-10.96.0.2" in failed and failed <= {"bmlb-10.96.0.2", "bmlb-web-s1-vip", "bmlb-nat-web-s1"}
    assert set(rules(panos_sim)) >= everything_but(state, "bmlb-web-s1-vip", "bmlb-nat-web-s1")
    assert "bmlb-10.96.0.2" not in entries(panos_sim.candidate_xml(), "address")
    assert panos_sim.pending_admins() == []


def test_the_periodic_retry_tries_a_held_object_again(dev: Device, panos_sim: Simulator) -> None:
    state = replace_rule(web(1), "bmlb-web-s0-pub", description="REFUSE-ME")
    fault = panos_sim.faults.add("refuse_write", pattern="REFUSE-ME")
    report = sync.sync(state, dev, config=config())
    assert [e.name for e in report.errors] == ["bmlb-web-s0-pub"]
    panos_sim.faults.clear()  # the device changed its mind (a fixed zone, a new licence)
    assert fault
    held = sync.sync(state, dev, config=config(), baseline=report.baseline, quarantine=report.quarantine)
    assert held.errors and "bmlb-web-s0-pub" not in rules(panos_sim)
    (key, refused), = held.quarantine.items()
    assert refused.refusals == 1 and refused.retry_at - time.time() > sync.RETRY_REFUSED - 5
    due = {key: dataclasses.replace(refused, retry_at=time.time())}  # time has passed
    retried = sync.sync(state, dev, config=config(), baseline=held.baseline, quarantine=due)
    assert retried.committed and not retried.errors and "bmlb-web-s0-pub" in rules(panos_sim)


def test_each_refusal_of_the_same_value_waits_longer(dev: Device, panos_sim: Simulator) -> None:
    state = replace_rule(web(1), "bmlb-web-s0-pub", description="REFUSE-ME")
    panos_sim.faults.add("refuse_write", pattern="REFUSE-ME")
    report = sync.sync(state, dev, config=config(), retry_refused=10)
    (key, first), = report.quarantine.items()
    due = {key: dataclasses.replace(first, retry_at=time.time())}
    again = sync.sync(state, dev, config=config(), retry_refused=10, quarantine=due)
    second = again.quarantine[key]
    assert second.refusals == 2 and 15 < second.retry_at - time.time() <= 20


def test_duplicate_names_are_refused_before_any_write(dev: Device, panos_sim: Simulator) -> None:
    state = web(2)
    twin = dataclasses.replace(state.security_rules[0], description="another owner's rule")
    dup = dataclasses.replace(state, security_rules=(*state.security_rules, twin))
    same_address = dataclasses.replace(state, addresses=(*state.addresses, AddressObject(
        state.addresses[0].name, "10.1.1.1/32")))
    panos_sim.reset_stats()
    for bad, named in ((dup, state.security_rules[0].name), (same_address, state.addresses[0].name)):
        with pytest.raises(errors.DuplicateNames, match=re.escape(named)):
            sync.sync(bad, dev, config=config())
    assert panos_sim.stats_snapshot()["requests"].get("total", 0) == 0
    assert errors.DuplicateNames.reason == "DuplicateNames"


def test_a_security_rule_and_a_nat_rule_may_share_a_name(dev: Device, panos_sim: Simulator) -> None:
    """Names are per kind (PAN-OS keeps the rulebases apart): not a duplicate."""
    state = web(1)
    nat = dataclasses.replace(state.nat_rules[0], name=state.security_rules[0].name)
    assert sync.duplicates(dataclasses.replace(state, nat_rules=(nat,))) == []


def test_a_commit_failure_naming_none_of_ours_still_fails_the_sync(dev: Device, panos_sim: Simulator) -> None:
    panos_sim.faults.add("commit_fail", lines=("Validation Error:", " corp-rule -> from 'x' is not allowed"))
    with pytest.raises(errors.CommitFailed):
        sync.sync(web(1), dev, config=config())
    assert device_for(panos_sim)  # the device is fine; the next sync commits
    assert sync.sync(web(1), dev, config=config()).committed


def test_several_refused_at_commit_are_held_one_commit_after_another(dev: Device, panos_sim: Simulator) -> None:
    """The device names one culprit per failed commit; each is held in turn. Past MAX_ROUNDS the
    sync fails, but what it held so far travels with the error, so the next sync goes on."""
    state = web(5)
    bad = [r.name for r in state.security_rules][: sync.MAX_ROUNDS + 1]
    for name in bad:
        state = replace_rule(state, name, description="FAIL-AT-COMMIT")
    panos_sim.faults.add("refuse_commit", pattern="FAIL-AT-COMMIT")
    with pytest.raises(errors.CommitFailed) as failed:
        sync.sync(state, dev, config=config())
    assert len(failed.value.quarantine) == sync.MAX_ROUNDS
    report = sync.sync(state, dev, config=config(), quarantine=failed.value.quarantine)  # type: ignore[arg-type]
    assert report.committed and sorted(e.name for e in report.errors) == sorted(bad)
    assert set(rules(panos_sim)) == everything_but(state, *bad)
    assert panos_sim.pending_admins() == []


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bad=st.lists(st.tuples(st.integers(0, 7), st.sampled_from(["write", "commit"])), max_size=4,
                   unique_by=lambda t: t[0]))
def test_any_refused_subset_leaves_exactly_the_rest(dev: Device, panos_sim: Simulator,
                                                    bad: list[tuple[int, str]]) -> None:
    """Whatever rules the device refuses, at write or at commit: exactly the others are on the
    running config, nothing of ours stays pending, and the next sync writes and commits nothing."""
    panos_sim.faults.clear()
    sync.sync(DesiredFirewall(web(1).ownership_tag), dev, config=config())  # a clean slate per example
    state = web(4)
    names = [r.name for r in state.security_rules]
    refused = set()
    for i, phase in bad:
        state = replace_rule(state, names[i], description=f"REFUSE-{phase.upper()}")
        refused.add(names[i])
    panos_sim.faults.add("refuse_write", pattern="REFUSE-WRITE")
    panos_sim.faults.add("refuse_commit", pattern="REFUSE-COMMIT")
    report = sync.sync(state, dev, config=config())
    assert {e.name for e in report.errors} == refused
    assert set(rules(panos_sim)) == everything_but(state, *refused)
    assert panos_sim.pending_admins() == []
    panos_sim.reset_stats()
    again = sync.sync(state, dev, config=config(), baseline=report.baseline, quarantine=report.quarantine)
    assert {e.name for e in again.errors} == refused
    assert panos_sim.stats_snapshot()["writes"] == 0 and panos_sim.stats_snapshot()["commits"] == 0
    # everything fixed: all of it converges
    panos_sim.faults.clear()
    done = sync.sync(web(4), dev, config=config(), baseline=again.baseline, quarantine=again.quarantine)
    assert not done.errors and set(rules(panos_sim)) == everything_but(web(4))
