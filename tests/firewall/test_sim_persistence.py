"""State files, the CLI entry point and export as set commands."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from panos.firewall import Firewall
from panos.objects import AddressObject
from panos.policies import Rulebase, SecurityRule

from firewall.sim import VSYS1_XPATH, Simulator


def _fw(sim: Simulator) -> Firewall:
    return Firewall(sim.host, api_key=sim.api_key(), port=sim.port)


def test_state_survives_restart(tmp_path: Path, panos_sim_factory: Callable[..., Simulator]) -> None:
    state, certs = tmp_path / "state.xml", tmp_path / "certs"
    first = panos_sim_factory(state_file=state, cert_dir=certs)
    fw = _fw(first)
    fw.add(AddressObject("committed", "10.0.0.1")).create()
    fw.commit(sync=True)
    fw.add(AddressObject("pending", "10.0.0.2")).create()
    rb = fw.add(Rulebase())
    rb.add(SecurityRule("r1", destination=["committed"])).create()
    uuid = SecurityRule.refreshall(rb, add=False)[0].uuid
    ca = Path(first.ca_file).read_bytes()
    first.stop()

    second = panos_sim_factory(state_file=state, cert_dir=certs)
    fw2 = _fw(second)
    assert [o.name for o in AddressObject.refreshall(fw2, running_config=True, add=False)] == ["committed"]
    assert sorted(o.name for o in AddressObject.refreshall(fw2, add=False)) == ["committed", "pending"]
    assert SecurityRule.refreshall(fw2.add(Rulebase()), add=False)[0].uuid == uuid
    assert fw2.pending_changes() is True
    assert Path(second.ca_file).read_bytes() == ca  # clients keep trusting the same CA


def test_set_commands_export(panos_sim: Simulator) -> None:
    admin = panos_sim.as_admin("admin")
    admin.set(f"{VSYS1_XPATH}/tag", "<entry name='k8s'><color>color3</color></entry>")
    admin.set(f"{VSYS1_XPATH}/address",
              "<entry name='web 1'><ip-netmask>10.0.0.1/32</ip-netmask><tag><member>k8s</member></tag></entry>")
    admin.set(f"{VSYS1_XPATH}/rulebase/security/rules",
              "<entry name='r1'><from><member>untrust</member><member>dmz</member></from>"
              "<destination><member>web 1</member></destination><action>allow</action></entry>")
    commands = panos_sim.set_commands("candidate")
    assert 'set address "web 1" ip-netmask 10.0.0.1/32' in commands
    assert 'set address "web 1" tag k8s' in commands
    assert "set tag k8s color color3" in commands
    assert "set rulebase security rules r1 from [ untrust dmz ]" in commands
    assert 'set rulebase security rules r1 destination "web 1"' in commands
    assert "set zone k8s network layer3 ethernet1/4" in commands
    assert not any("uuid" in c for c in commands)
    assert "web 1" not in "\n".join(panos_sim.set_commands())  # running: not committed yet


def test_cli_prints_connection_details(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "firewall.sim", "--port", "0", "--cert-dir", str(tmp_path),
         "--user", "ops", "--password", "secret"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        printed: dict[str, str] = {}
        while "ca file" not in printed:
            line = proc.stdout.readline()
            assert line, "the simulator exited early"
            key, _, value = line.strip().partition(": ")
            printed[key] = value
        assert printed["host"] == "127.0.0.1" and printed["user"] == "ops"
        assert Path(printed["ca file"]).exists()
        fw = Firewall("127.0.0.1", api_key=printed["api key"], port=int(printed["port"]))
        assert fw.refresh_system_info().version == "10.2.4"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
