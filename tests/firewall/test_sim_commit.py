"""Commits as jobs, partial commits by admin, pending changes, locks."""

from __future__ import annotations

import pytest
from panos.errors import PanCommitFailed, PanCommitInProgress, PanDeviceXapiError, PanLockError
from panos.firewall import Firewall
from panos.objects import AddressObject

from firewall.sim import VSYS1_XPATH, Simulator

ADDRESSES = f"{VSYS1_XPATH}/address"


def test_commit_job_moves_candidate_to_running(panos_firewall: Firewall, panos_sim: Simulator) -> None:
    fw = panos_firewall
    assert fw.commit(sync=True) is None  # "There are no changes to commit."
    fw.add(AddressObject("a1", "10.0.0.1")).create()
    assert fw.pending_changes() is True
    assert "a1" not in panos_sim.running_xml()
    result = fw.commit(sync=True)
    assert result["success"] and result["result"] == "OK"
    assert result["messages"] == ["Configuration committed successfully"]
    assert "a1" in panos_sim.running_xml()
    assert fw.pending_changes() is False
    assert panos_sim.stats_snapshot()["commits"] == 1


def test_async_commit_and_show_jobs(panos_firewall: Firewall, panos_sim: Simulator) -> None:
    panos_sim.device.commit_seconds = 0.3
    panos_firewall.add(AddressObject("a1", "10.0.0.1")).create()
    job_id = panos_firewall.commit()
    first = panos_firewall.op(f'show jobs id "{job_id}"')
    assert first.findtext("./result/job/status") == "ACT"
    assert panos_firewall.syncjob(job_id, interval=0.05)["result"] == "OK"
    listing = panos_firewall.op("show jobs all")
    assert [j.findtext("id") for j in listing.findall("./result/job")] == [str(job_id)]
    with pytest.raises(PanDeviceXapiError, match="job 99 not found"):
        panos_firewall.op('show jobs id "99"')


def test_commit_failure_keeps_running_and_candidate(panos_firewall: Firewall, panos_sim: Simulator) -> None:
    panos_sim.faults.add("commit_fail", lines=[" address -> a1 is not allowed here"])
    panos_firewall.add(AddressObject("a1", "10.0.0.1")).create()
    with pytest.raises(PanCommitFailed) as exc:
        panos_firewall.commit(sync=True, exception=True)
    assert " address -> a1 is not allowed here" in exc.value.result["messages"]
    assert "a1" not in panos_sim.running_xml() and "a1" in panos_sim.candidate_xml()
    assert panos_firewall.pending_changes() is True
    assert panos_firewall.commit(sync=True)["success"]  # the fault was one-shot


def test_partial_commit_applies_only_that_admins_changes(
    panos_firewall: Firewall, panos_sim: Simulator
) -> None:
    panos_sim.as_admin("alice").set(ADDRESSES, "<entry name='alices'><ip-netmask>10.0.0.7</ip-netmask></entry>")
    panos_firewall.add(AddressObject("mine", "10.0.0.8")).create()
    assert panos_sim.pending_admins() == ["admin", "alice"]
    listing = panos_firewall.op("show config list changes")
    assert sorted({e.findtext("owner") for e in listing.iter("entry")}) == ["admin", "alice"]

    result = panos_firewall.commit(sync=True, admins=["admin"])
    assert result["success"]
    running = panos_sim.running_xml()
    assert "mine" in running and "alices" not in running
    assert panos_sim.pending_admins() == ["alice"]
    assert panos_firewall.commit(sync=True, admins=["admin"]) is None
    assert panos_firewall.pending_changes() is True


def test_partial_commit_preserves_order_and_uuids(panos_firewall: Firewall, panos_sim: Simulator) -> None:
    from panos.policies import Rulebase, SecurityRule

    rb = panos_firewall.add(Rulebase())
    for name in ("r1", "r2"):
        rb.add(SecurityRule(name)).create()
    rb.find("r2").move("top")
    panos_firewall.commit(sync=True, admins=["admin"])
    running = SecurityRule.refreshall(rb, running_config=True, add=False)
    candidate = SecurityRule.refreshall(rb, add=False)
    assert [(r.name, r.uuid) for r in running] == [(r.name, r.uuid) for r in candidate]
    assert [r.name for r in running] == ["r2", "r1"]


def test_revert_drops_candidate_changes(panos_firewall: Firewall, panos_sim: Simulator) -> None:
    panos_firewall.add(AddressObject("a1", "10.0.0.1")).create()
    panos_firewall.revert_to_running_configuration()
    assert panos_firewall.pending_changes() is False
    assert "a1" not in panos_sim.candidate_xml()


def test_commit_in_progress_fault(panos_firewall: Firewall, panos_sim: Simulator) -> None:
    panos_firewall.add(AddressObject("a1", "10.0.0.1")).create()
    panos_sim.faults.add("commit_in_progress", times=1)
    with pytest.raises(PanCommitInProgress):
        panos_firewall.commit()
    assert panos_firewall.commit(sync=True)["success"]


def test_config_lock_lifecycle(panos_firewall: Firewall) -> None:
    fw = panos_firewall
    assert fw.add_config_lock(comment="bmlb sync") is True
    assert fw.check_config_locks() is True
    with pytest.raises(PanLockError, match="You already own a config lock"):
        fw.add_config_lock()
    assert fw.remove_config_lock() is True
    with pytest.raises(PanLockError, match="Config is not currently locked"):
        fw.remove_config_lock()
    assert fw.check_config_locks() is False


def test_foreign_config_lock_blocks_writes(panos_firewall: Firewall, panos_sim: Simulator) -> None:
    panos_sim.faults.add("config_lock", admin="alice")
    with pytest.raises(PanLockError, match="Config for scope shared is currently locked by alice"):
        panos_firewall.add_config_lock()
    with pytest.raises(PanLockError, match="Configuration is locked by alice"):
        panos_firewall.add(AddressObject("a1", "10.0.0.1")).create()
    panos_sim.faults.clear()
    panos_firewall.add(AddressObject("a1", "10.0.0.1")).create()


def test_commit_locks(panos_firewall: Firewall, panos_sim: Simulator) -> None:
    fw = panos_firewall
    assert fw.add_commit_lock() is True
    assert fw.check_commit_locks() is True
    with pytest.raises(PanLockError, match="Commit lock is already held"):
        fw.add_commit_lock()
    assert fw.remove_commit_lock() is True
    panos_sim.as_admin("alice").lock_commit()
    fw.add(AddressObject("a1", "10.0.0.1")).create()
    with pytest.raises(PanDeviceXapiError, match="Commit lock is currently held by alice"):
        fw.commit()
    with pytest.raises(PanLockError):
        fw.add_commit_lock()


def test_foreign_pending_changes_fault(panos_firewall: Firewall, panos_sim: Simulator) -> None:
    panos_sim.faults.add("pending_changes", admin="bob", xpath=ADDRESSES)
    assert panos_firewall.pending_changes() is True
    journal = panos_firewall.op("show config list changes")  # the documented change journal
    assert [e.findtext("owner") for e in journal.iter("entry")] == ["bob"]
    assert [e.findtext("xpath") for e in journal.iter("entry")] == [ADDRESSES]

    def summary(admin: str) -> list[str | None]:
        cmd = (f"<show><config><list><change-summary><partial><admin><member>{admin}</member></admin></partial>"
               "</change-summary></list></config></show>")
        return [e.findtext("owner") for e in panos_firewall.op(cmd, cmd_xml=False).iter("entry")]

    assert summary("bob") == ["bob"] and summary("admin") == []
    assert panos_firewall.commit(admins=["admin"]) is None
    panos_sim.faults.clear()
    assert panos_firewall.pending_changes() is False
