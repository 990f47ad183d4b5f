"""sync() against the simulator over verified HTTPS: round trips, drift, foreign rules, placement."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings

from firewall import reader, sync
from firewall.config import DriftMode
from firewall.device import Device
from firewall.diff import OpType
from firewall.model import Anchor, DesiredFirewall, Position
from firewall.sim import VSYS1_XPATH, Simulator
from tests.firewall.strategies import desired_states
from tests.firewall.sync_fixtures import OWN, config, device_for, fw_device, replace_rule, web

__all__ = ["fw_device"]
RULES = f"{VSYS1_XPATH}/rulebase/security/rules"
FOREIGN_RULE = "<entry name='corp-allow'><from><member>trust</member></from><to><member>dmz</member></to>" \
               "<source><member>any</member></source><destination><member>any</member></destination>" \
               "<application><member>any</member></application><service><member>any</member></service>" \
               "<action>allow</action></entry>"


def rule_names(sim: Simulator, which: str = "running") -> list[str]:
    return [line.split()[4] for line in sim.set_commands(which)
            if line.startswith("set rulebase security rules") and line.split()[5] == "from"]


def converged(desired: DesiredFirewall, dev: Device, sim: Simulator, **kw: object) -> sync.SyncReport:
    """A second sync changes nothing: no write, no commit."""
    sim.reset_stats()
    again = sync.sync(desired, dev, config=config(**kw))
    stats = sim.stats_snapshot()
    assert again.plan.empty and again.commit_job is None, [str(op) for op in again.plan.ops]
    assert stats["writes"] == 0 and stats["commits"] == 0
    assert sim.set_commands("running") == sim.set_commands("candidate")
    return again


def test_create_update_delete_round_trip(fw_device: Device, panos_sim: Simulator) -> None:
    desired = web(3)
    first = sync.sync(desired, fw_device, config=config())
    assert first.committed and not first.errors and first.write_requests == 1
    assert reader.read_owned(fw_device, config()).security_rules == tuple(
        r for r in reader.read_owned(fw_device, config()).security_rules)
    owned = reader.read_owned(fw_device, config())
    assert [r.name for r in owned.security_rules] == [r.name for r in desired.security_rules]
    converged(desired, fw_device, panos_sim)

    changed = replace_rule(desired, "bmlb-web-s1-pub", log_start=True, description="v2")
    report = sync.sync(changed, fw_device, config=config())
    [op] = report.applied
    assert op.type == OpType.UPDATE and {c.field for c in op.changes} == {"log_start", "description"}
    converged(changed, fw_device, panos_sim)

    smaller = web(1)
    report = sync.sync(smaller, fw_device, config=config())
    assert {op.type for op in report.applied} == {OpType.DELETE}
    assert rule_names(panos_sim) == ["bmlb-web-s0-pub", "bmlb-web-s0-vip"]
    converged(smaller, fw_device, panos_sim)


def test_foreign_rule_in_the_middle_is_left_alone(fw_device: Device, panos_sim: Simulator) -> None:
    desired = web(2)
    sync.sync(desired, fw_device, config=config())
    alice = panos_sim.as_admin("alice")
    alice.set(RULES, FOREIGN_RULE)
    alice.move(f"{RULES}/entry[@name='corp-allow']", "after", "bmlb-web-s0-vip")
    alice.commit()
    before = rule_names(panos_sim)
    converged(desired, fw_device, panos_sim)
    assert rule_names(panos_sim) == before and "corp-allow" in before[1:-1]
    sync.sync(web(0), fw_device, config=config())
    assert rule_names(panos_sim) == ["corp-allow"]


@pytest.mark.parametrize("anchor", [Anchor(Position.TOP), Anchor(Position.BOTTOM),
                                    Anchor(Position.BEFORE, "corp-allow"), Anchor(Position.AFTER, "corp-allow")],
                         ids=lambda a: f"{a.position.value}")
def test_positioning(fw_device: Device, panos_sim: Simulator, anchor: Anchor) -> None:
    alice = panos_sim.as_admin("alice")
    alice.set(RULES, [FOREIGN_RULE, FOREIGN_RULE.replace("corp-allow", "corp-deny")])
    alice.commit()
    desired = web(2)
    kw = {"anchor": anchor, "nat_anchor": Anchor(Position.TOP)}
    sync.sync(desired, fw_device, config=config(**kw))
    names = rule_names(panos_sim)
    ours = [r.name for r in desired.security_rules]
    assert [n for n in names if n in ours] == ours
    block = names.index(ours[0]), names.index(ours[-1])
    expected = {Position.TOP: block[0] == 0, Position.BOTTOM: block[1] == len(names) - 1,
                Position.BEFORE: names[block[1] + 1:block[1] + 2] == ["corp-allow"],
                Position.AFTER: names[block[0] - 1:block[0]] == ["corp-allow"]}
    assert expected[anchor.position], names
    converged(desired, fw_device, panos_sim, **kw)
    # two new rules join the block with the fewest moves
    bigger = web(3)
    report = sync.sync(bigger, fw_device, config=config(**kw))
    moved = [op for op in report.applied if op.type == OpType.MOVE and op.kind.value == "security"]
    assert len(moved) <= (0 if anchor.position == Position.BOTTOM else 2)
    converged(bigger, fw_device, panos_sim, **kw)


@pytest.mark.parametrize("mode", list(DriftMode))
def test_attribute_drift(fw_device: Device, panos_sim: Simulator, mode: DriftMode) -> None:
    desired = web(1)
    first = sync.sync(desired, fw_device, config=config(drift=mode))
    alice = panos_sim.as_admin("alice")
    alice.edit(f"{RULES}/entry[@name='bmlb-web-s0-vip']/action", "<action>deny</action>")
    alice.commit()
    report = sync.sync(desired, fw_device, config=config(drift=mode), baseline=first.baseline)
    assert [(d.name, d.field, d.actual, d.desired) for d in report.drift] == [
        ("bmlb-web-s0-vip", "action", "deny", "allow")]
    running = "\n".join(panos_sim.set_commands())
    if mode == DriftMode.ENFORCE:
        assert report.committed and "bmlb-web-s0-vip action allow" in running
        converged(desired, fw_device, panos_sim)
    else:
        assert not report.committed and "bmlb-web-s0-vip action deny" in running
        assert report.drift[0].restored is False


def test_name_clash_with_a_foreign_object(fw_device: Device, panos_sim: Simulator) -> None:
    panos_sim.as_admin("alice").set(f"{VSYS1_XPATH}/address",
                                    "<entry name='bmlb-10.96.0.1'><ip-netmask>10.6.6.6/32</ip-netmask></entry>")
    panos_sim.as_admin("alice").commit()
    report = sync.sync(web(1), fw_device, config=config())
    assert {s.name for s in report.skipped} == {"bmlb-10.96.0.1", "bmlb-nat-web-s0", "bmlb-web-s0-vip"}
    assert "address bmlb-10.96.0.1 ip-netmask 10.6.6.6/32" in "\n".join(panos_sim.set_commands())


def test_dry_run_writes_nothing(fw_device: Device, panos_sim: Simulator) -> None:
    report = sync.sync(web(2), fw_device, config=config(), dry_run=True)
    assert report.dry_run and len(report.plan.ops) > 5 and not report.applied
    assert panos_sim.stats_snapshot()["writes"] == 0


def test_old_pan_os_falls_back_to_one_request_per_change(panos_sim_factory: object) -> None:
    from firewall.sim import SystemInfo

    sim = panos_sim_factory(system=SystemInfo(sw_version="8.1.0"))  # type: ignore[operator]
    dev = device_for(sim)
    report = sync.sync(web(1), dev, config=config())
    stats = sim.stats_snapshot()
    assert "config.multi-config" not in stats["requests"] and report.write_requests == len(report.applied)
    converged(web(1), dev, sim)


def test_credentials_never_logged(panos_sim: Simulator, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(1)
    dev = device_for(panos_sim)
    sync.sync(web(1), dev, config=config())
    panos_sim.faults.add("expire_keys")
    sync.sync(web(2), dev, config=config())
    text = caplog.text + repr(dev) + repr(dev._credentials)
    assert panos_sim.api_key("admin") not in text
    assert "password='admin'" not in text and "password=admin" not in text


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(states=desired_states().flatmap(lambda a: desired_states().map(lambda b: (a, b))))
def test_any_sequence_of_states_converges(fw_device: Device, panos_sim: Simulator,
                                          states: tuple[DesiredFirewall, DesiredFirewall]) -> None:
    for state in states:
        state = dataclasses.replace(state, ownership_tag=OWN)
        report = sync.sync(state, fw_device, config=config())
        assert not report.errors, report.errors
        converged(state, fw_device, panos_sim)
    assert panos_sim.pending_admins() == []


def test_an_update_keeps_what_an_admin_added_that_bmlb_does_not_model(fw_device: Device,
                                                                       panos_sim: Simulator) -> None:
    desired = web(2)
    sync.sync(desired, fw_device, config=config())
    alice = panos_sim.as_admin("alice")
    alice.set(f"{RULES}/entry[@name='bmlb-web-s0-vip']",
              "<profile-setting><group><member>strict</member></group></profile-setting>")
    alice.commit()
    snap = reader.read(fw_device, config())
    # the full read keeps, of our entries, only the children bmlb does not model
    assert list(snap.raw) == [(k, n) for (k, n) in snap.raw if n == "bmlb-web-s0-vip"] and len(snap.raw) == 1
    assert [child.tag for child in next(iter(snap.raw.values()))] == ["profile-setting"]
    changed = replace_rule(desired, "bmlb-web-s0-vip", description="v2")
    report = sync.sync(changed, fw_device, config=config())  # no view: the full read's path
    assert [op.type for op in report.applied] == [OpType.UPDATE] and report.committed
    running = "\n".join(panos_sim.set_commands())
    assert "bmlb-web-s0-vip profile-setting group strict" in running, running
    assert "bmlb-web-s0-vip description v2" in running
