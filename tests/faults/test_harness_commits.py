"""The fault harness's commit recorder: a commit request with nothing to commit is a stray commit."""

from __future__ import annotations

from firewall.sim import VSYS1_XPATH, Simulator
from tests.faults.harness import ADMIN, CommitRecorder


def test_a_commit_request_with_nothing_to_commit_is_stray() -> None:
    with Simulator.start(commit_seconds=0.0) as sim:
        recorder = CommitRecorder(sim)
        me = sim.as_admin(ADMIN)
        me.set(f"{VSYS1_XPATH}/address", "<entry name='a'><ip-netmask>10.0.0.1/32</ip-netmask></entry>")
        me.commit(partial=True)
        sim.wait_for_jobs()
        assert recorder.stray(0) == []
        assert me.commit(partial=True) is None  # nothing left: the device answers without a job
        assert recorder.stray(0) == ["commit request #1 by admin with nothing to commit"]
        assert len(recorder.by()) == 1
