"""Every injected fault ends in a converged firewall or a clear error — never a duplicate
object, a touched foreign object, or a commit of someone else's changes."""

from __future__ import annotations

import re
from typing import Any

import pytest

from firewall import errors, sync
from firewall.device import Credentials, Endpoint, connect, ha_state, is_active
from firewall.sim import VSYS1_XPATH, Simulator
from tests.firewall.sync_fixtures import config, device_for, endpoint, web

FOREIGN = "<entry name='corp-db'><ip-netmask>10.50.0.1/32</ip-netmask></entry>"


@pytest.fixture
def sim(panos_sim: Simulator) -> Simulator:
    panos_sim.as_admin("carol").set(f"{VSYS1_XPATH}/address", FOREIGN)
    panos_sim.as_admin("carol").commit()
    return panos_sim


def invariants(sim: Simulator) -> None:
    for which in ("running", "candidate"):
        lines = sim.set_commands(which)
        assert "set address corp-db ip-netmask 10.50.0.1/32" in lines
        names = re.findall(r"<entry name=\"([^\"]+)\"", sim.running_xml() if which == "running" else
                           sim.candidate_xml())
        rules = [n for n in names if n.startswith("bmlb-web") or n.startswith("bmlb-nat")]
        assert len(rules) == len(set(rules)), "duplicate rule"


def settle(sim: Simulator, **kw: Any) -> None:
    """Faults gone: the next sync converges and the one after it is a no-op."""
    sim.faults.clear()
    dev = device_for(sim)
    sync.sync(web(2), dev, config=config(**kw))
    sim.reset_stats()
    again = sync.sync(web(2), dev, config=config(**kw))
    assert again.plan.empty and sim.stats_snapshot()["writes"] == 0 and sim.stats_snapshot()["commits"] == 0
    assert "alice" not in sim.pending_admins() or kw.get("commit_foreign_pending")
    invariants(sim)


RECOVERED = [
    pytest.param({"kind": "latency", "seconds": 0.3, "times": 3}, id="latency"),
    pytest.param({"kind": "reset", "only": ["config.get"]}, id="reset on a read: retried"),
    pytest.param({"kind": "reset", "only": ["config.multi-config"]}, id="reset on the batch: re-planned"),
    pytest.param({"kind": "timeout", "seconds": 2, "only": ["op"]}, id="timeout: retried"),
    pytest.param({"kind": "http_error", "status": 502, "times": 2, "only": ["config.get"]}, id="5xx on reads"),
    pytest.param({"kind": "http_error", "status": 500, "only": ["config.multi-config"]}, id="5xx on the batch"),
    pytest.param({"kind": "commit_in_progress", "times": 2}, id="commit in progress, then free"),
]


@pytest.mark.parametrize("fault", RECOVERED)
def test_transient_faults_are_absorbed(sim: Simulator, fault: dict[str, Any]) -> None:
    dev = device_for(sim, timeout=1)
    sim.faults.add(**fault)
    report = sync.sync(web(2), dev, config=config())
    assert report.committed and not report.errors
    assert sim.stats_snapshot()["faults"] >= 1 or not sim.faults.active()  # the fault did fire
    settle(sim)


def test_key_expiry_renews_the_key(sim: Simulator) -> None:
    dev = device_for(sim)
    sync.sync(web(1), dev, config=config())
    sim.faults.add("expire_keys")
    assert sync.sync(web(2), dev, config=config()).committed
    settle(sim)


def test_key_expiry_without_a_password_is_auth_failed(sim: Simulator) -> None:
    dev = connect(endpoint(sim), Credentials(api_key=sim.api_key("admin")))
    sim.faults.add("expire_keys")
    with pytest.raises(errors.AuthFailed):
        sync.sync(web(1), dev, config=config(admin="admin"))


FAILED = [
    pytest.param({"kind": "http_error", "status": 503, "times": None}, errors.Unreachable, id="persistent 5xx"),
    pytest.param({"kind": "http_error", "status": 502, "only": ["commit"]}, errors.Unreachable, id="5xx on commit"),
    pytest.param({"kind": "reset", "only": ["commit"]}, errors.Unreachable, id="reset on commit"),
    pytest.param({"kind": "commit_in_progress", "times": None}, errors.CommitInProgress, id="commit never free"),
    pytest.param({"kind": "config_lock", "admin": "alice"}, errors.Locked, id="alice holds the config lock"),
    pytest.param({"kind": "commit_lock", "admin": "alice"}, errors.Locked, id="alice holds the commit lock"),
    pytest.param({"kind": "pending_changes", "admin": "alice"}, errors.ForeignPendingChanges, id="alice pending"),
]


@pytest.mark.parametrize(("fault", "error"), FAILED)
def test_faults_that_stop_a_sync_say_why(sim: Simulator, fault: dict[str, Any], error: type) -> None:
    dev = device_for(sim)
    sync.sync(web(1), dev, config=config())
    sim.reset_stats()
    sim.faults.add(**fault)
    with pytest.raises(error):
        sync.sync(web(2), dev, config=config(commit_timeout=0.5))
    invariants(sim)
    if error in (errors.Locked, errors.ForeignPendingChanges) and fault["kind"] != "commit_lock":
        assert sim.stats_snapshot()["writes"] == 0  # refused before writing anything
    settle(sim)


def test_commit_failure_names_the_objects(sim: Simulator) -> None:
    """The object a failed commit names is reverted and reported; the rest is committed."""
    dev = device_for(sim)
    sim.faults.add("commit_fail", lines=("Validation Error:", " bmlb-web-s1-vip -> to 'k8s' is not allowed"))
    report = sync.sync(web(2), dev, config=config())
    assert report.committed
    assert [(e.name, e.phase) for e in report.errors] == [("bmlb-web-s1-vip", "commit")]
    assert report.errors[0].message == "bmlb-web-s1-vip -> to 'k8s' is not allowed"
    running = "\n".join(sim.set_commands("running"))
    assert "bmlb-web-s1-vip" not in running and "bmlb-web-s1-pub" in running
    settle(sim)  # without the quarantine handed on, the next sync writes and commits it again


def test_foreign_pending_changes_are_never_committed(sim: Simulator) -> None:
    alice = sim.as_admin("alice")
    alice.set(f"{VSYS1_XPATH}/address", "<entry name='alice-wip'><ip-netmask>10.7.7.7/32</ip-netmask></entry>")
    dev = device_for(sim)
    with pytest.raises(errors.ForeignPendingChanges, match="alice"):
        sync.sync(web(1), dev, config=config())
    report = sync.sync(web(1), dev, config=config(commit_foreign_pending=True))
    assert report.committed
    assert "alice-wip" not in sim.running_xml() and "alice-wip" in sim.candidate_xml()
    assert sim.pending_admins() == ["alice"]
    # a no-op sync does not mind alice's pending changes
    assert sync.sync(web(1), dev, config=config()).plan.empty


def test_tls_is_verified(sim: Simulator) -> None:
    with pytest.raises(errors.TLSError):
        connect(Endpoint(sim.host, sim.port, ca_bundle=None), Credentials(username="admin", password="admin"))
    dev = connect(Endpoint(sim.host, sim.port, insecure_skip_tls_verify=True),
                  Credentials(username="admin", password="admin"))
    assert dev.version >= (10, 0, 0)


def test_credentials_from_a_mounted_secret(sim: Simulator, tmp_path: Any) -> None:
    (tmp_path / "username").write_text("admin\n")
    (tmp_path / "password").write_text("admin\n")
    creds = Credentials.from_dir(tmp_path)
    assert "admin'" not in repr(creds).replace("username='admin'", "")
    assert connect(endpoint(sim), creds).username == "admin"
    with pytest.raises(errors.ConfigurationError):
        Credentials.from_dir(tmp_path / "missing")


@pytest.mark.parametrize(("xml", "state", "active"), [
    ("<response status='success'><result><enabled>no</enabled></result></response>", None, True),
    ("<response status='success'><result><enabled>yes</enabled><group><local-info><state>passive</state>"
     "</local-info></group></result></response>", "passive", False),
    ("<response status='success'><result><enabled>yes</enabled><group><local-info><state>active</state>"
     "</local-info></group></result></response>", "active", True),
    ("<response status='success'><result><enabled>yes</enabled><group><local-info><state>primary-passive"
     "</state></local-info></group></result></response>", "primary-passive", False),
])
def test_ha_state(xml: str, state: str | None, active: bool) -> None:
    import xml.etree.ElementTree as ET

    assert ha_state(ET.fromstring(xml)) == state
    assert is_active(state) is active


def test_passive_peer_writes_nothing(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    dev = device_for(sim)
    monkeypatch.setattr(dev, "ha_state", lambda: "passive")
    with pytest.raises(errors.NotActive):
        sync.sync(web(1), dev, config=config())
    assert sim.stats_snapshot()["writes"] == 0
