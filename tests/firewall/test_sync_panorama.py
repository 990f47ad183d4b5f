"""Panorama: a device group's pre/post rulebase, commit to Panorama, then commit-all to the group."""

from __future__ import annotations

import pytest

from firewall import errors, sync
from firewall.config import Rulebase
from firewall.sim import Simulator
from tests.firewall.sync_fixtures import config, device_for, web


@pytest.mark.parametrize("rulebase", list(Rulebase))
def test_device_group_sync_and_push(panos_panorama_sim: Simulator, rulebase: Rulebase) -> None:
    sim = panos_panorama_sim
    dev = device_for(sim)
    cfg = config(device_group="k8s", rulebase=rulebase)
    report = sync.sync(web(2), dev, config=cfg)
    assert report.committed and report.push_job is not None and not report.errors
    pushed = sim.device.pushed["k8s"]
    assert pushed.find(f"{rulebase.value}-rulebase/security/rules/entry[@name='bmlb-web-s1-vip']") is not None
    assert pushed.find(f"{rulebase.value}-rulebase/nat/rules/entry[@name='bmlb-nat-web-s0']") is not None
    sim.reset_stats()
    again = sync.sync(web(2), dev, config=cfg)
    assert again.plan.empty and again.push_job is None and sim.stats_snapshot()["commits"] == 0


def test_failed_push_is_retried_next_sync(panos_panorama_sim: Simulator) -> None:
    sim = panos_panorama_sim
    dev = device_for(sim)
    cfg = config(device_group="k8s")
    sim.faults.add("commit_fail", only=["commit-all"], lines=("device 007951000000001 unreachable",))
    with pytest.raises(errors.CommitFailed):
        sync.sync(web(1), dev, config=cfg)
    assert "k8s" not in sim.device.pushed
    report = sync.sync(web(1), dev, config=cfg)
    assert report.plan.empty and report.push_job is not None and "k8s" in sim.device.pushed
