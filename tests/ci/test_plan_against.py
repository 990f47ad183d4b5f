"""`bmlb plan --against FILE|FIREWALL`: the change set against a running config exported from the PAN-OS
simulator (which also holds foreign objects, in no change), and read-only against the live simulator.

Expected changes are written here by hand from the manifests, and cross-checked against the
export itself (read with ElementTree) and against what a real sync then did to the simulator.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from controller.cli import main
from controller.core.compiler import compile
from controller.core.snapshot import Snapshot
from firewall import sync
from firewall.config import SyncConfig
from firewall.device import Credentials, Endpoint, connect
from firewall.sim import Simulator
from firewall.sim.defaults import VSYS1_XPATH as VSYS
from tests.controller.estate import firewall, nat, policy, pool, service

NS = "shop"
FOREIGN = ("corp-web", "corp-https", "corp-allow", "corp-dnat", "corp-tag")


def estate(*, nat_port: int | None = None, api: bool = False, with_policy: bool = True) -> list[dict[str, Any]]:
    objs = [pool("vips", "10.80.0.0/28"),
            pool("pub", "198.51.100.0/29", zone="untrust", purpose="Public", auto=False),
            service(NS, "web", (443, 8443), ingress=["10.80.0.1"]),
            firewall("edge", admin="admin"),
            nat(NS, "web", "web", 443, address="198.51.100.7", public_port=nat_port)]
    if with_policy:
        objs.append(policy(NS, "web", ["web"], [{"name": "inet", "from": {"zones": ["untrust"]}},
                                                {"name": "office", "from": {"zones": ["trust"]}}]))
    if api:
        objs.append(nat(NS, "api", "web", 443, address="198.51.100.6"))
    return objs


def put_foreign(sim: Simulator) -> None:
    alice = sim.as_admin("alice")
    alice.set(f"{VSYS}/tag", "<entry name='corp-tag'/>")
    alice.set(f"{VSYS}/address", "<entry name='corp-web'><ip-netmask>10.9.9.9/32</ip-netmask>"
                                 "<tag><member>corp-tag</member></tag></entry>")
    alice.set(f"{VSYS}/service", "<entry name='corp-https'><protocol><tcp><port>443</port></tcp></protocol></entry>")
    alice.set(f"{VSYS}/rulebase/security/rules",
              "<entry name='corp-allow'><from><member>untrust</member></from><to><member>trust</member></to>"
              "<source><member>any</member></source><destination><member>corp-web</member></destination>"
              "<application><member>any</member></application><service><member>corp-https</member></service>"
              "<action>allow</action></entry>")
    alice.set(f"{VSYS}/rulebase/nat/rules",
              "<entry name='corp-dnat'><from><member>untrust</member></from><to><member>untrust</member></to>"
              "<source><member>any</member></source><destination><member>corp-web</member></destination>"
              "<service>corp-https</service><destination-translation><translated-address>corp-web"
              "</translated-address></destination-translation></entry>")
    alice.commit()


def apply(sim: Simulator, objs: list[dict[str, Any]]) -> None:
    """Put the estate on the device as the controller would (setup; never the evidence)."""
    target = compile(Snapshot.of(objs)).firewall("edge")
    assert target is not None
    device = connect(Endpoint(sim.host, sim.port, ca_bundle=sim.ca_file), Credentials(api_key=sim.api_key()))
    report = sync.sync(target.desired, device, config=SyncConfig(admin="admin"))
    assert report.ok, report
    sim.wait_for_jobs()


@pytest.fixture(scope="module")
def device() -> Iterator[Simulator]:
    with Simulator.start(commit_seconds=0.05) as sim:
        put_foreign(sim)
        apply(sim, estate())
        yield sim


@pytest.fixture(scope="module")
def export(device: Simulator, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("export") / "running-config.xml"
    path.write_text(device.running_xml())
    return path


@dataclasses.dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str


def bmlb(*args: str, stdin: str | None = None) -> Done:
    """The CLI in-process (click's runner): the same command line, without a Python start-up each."""
    result = CliRunner().invoke(main, list(args), input=stdin)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Done(result.exit_code, result.stdout, result.stderr)


def plan(export: Path, objs: list[dict[str, Any]], *extra: str) -> Done:
    return bmlb("plan", "-f", "-", "--against", str(export), "--detailed-exitcode", *extra,
                stdin=yaml.safe_dump_all(objs))


def changes(export: Path, objs: list[dict[str, Any]]) -> tuple[int, dict[str, Any], list[str]]:
    done = plan(export, objs, "-o", "json")
    assert done.returncode in (0, 2), done.stderr
    data = json.loads(done.stdout)
    set_out = plan(export, objs, "-o", "panos-set")
    assert set_out.returncode == done.returncode, set_out.stderr
    commands = set_out.stdout.splitlines()
    text = json.dumps(data) + set_out.stdout + plan(export, objs).stdout
    for name in FOREIGN:
        assert name not in text, f"foreign object {name} appears in the plan"
    return done.returncode, data, commands


def by_name(data: dict[str, Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {(c["action"], c["kind"], c["name"]): c for c in data["changes"]}


def owned_rules(export: Path, rulebase: str) -> list[str]:
    """Names of the rules carrying bmlb's ownership tag in the export (read without bmlb)."""
    rules = ET.parse(export).getroot().find(
        f"devices/entry[@name='localhost.localdomain']/vsys/entry[@name='vsys1']/rulebase/{rulebase}/rules")
    assert rules is not None
    return [e.get("name", "") for e in rules.findall("entry")
            if "bmlb-managed" in [m.text for m in e.findall("tag/member")]]


def test_nothing_changed_exit_0(export: Path) -> None:
    code, data, commands = changes(export, estate())
    assert code == 0 and data["changes"] == [] and commands == []
    done = plan(export, estate())
    assert done.returncode == 0 and "No changes" in done.stdout and "0 to add, 0 to change, 0 to delete" in done.stdout
    # Without --detailed-exitcode a plan with changes is still a success (terraform's exit 0).
    assert bmlb("plan", "-f", "-", "--against", str(export), stdin=yaml.safe_dump_all(estate(api=True))
                ).returncode == 0


def test_show_config_running_response_is_read_too(export: Path, tmp_path: Path) -> None:
    wrapped = tmp_path / "show-config-running.xml"
    wrapped.write_text(f'<response status="success"><result>{export.read_text()}</result></response>')
    assert plan(wrapped, estate()).returncode == 0


def test_new_natrule(export: Path) -> None:
    code, data, commands = changes(export, estate(api=True))
    assert code == 2
    got = by_name(data)
    pub_rule = f"bmlb_{NS}_web_inet_web_pub"  # the rule allowing the published Service gains the new address
    assert set(got) == {("add", "address", "bmlb-198.51.100.6"), ("add", "nat", f"bmlb-nat_{NS}_api"),
                        ("change", "security", pub_rule)} | {k for k in got if k[0] == "move"}
    assert {got[k]["owner"] for k in got if k[0] == "add"} == {f"NATRule {NS}/api"}
    nat_add = {a["field"]: a["after"] for a in got[("add", "nat", f"bmlb-nat_{NS}_api")]["attributes"]}
    assert nat_add["destination"] == "bmlb-198.51.100.6" and nat_add["translated_address"] == "bmlb-10.80.0.1"
    pub = {a["field"]: (a["before"], a["after"]) for a in got[("change", "security", pub_rule)]["attributes"]}
    assert pub["destinations"] == ("bmlb-198.51.100.7", "bmlb-198.51.100.6,bmlb-198.51.100.7")
    assert got[("change", "security", pub_rule)]["owner"] == f"SecurityPolicy {NS}/web"
    assert commands[0].startswith("set address bmlb-198.51.100.6 ip-netmask 198.51.100.6/32 ")
    assert any(c.startswith(f"set rulebase nat rules bmlb-nat_{NS}_api from untrust ") for c in commands)
    # A changed member list is deleted, then set whole (`set` alone would add members).
    at = commands.index(f"delete rulebase security rules {pub_rule} destination")
    assert commands[at + 1].startswith(f"set rulebase security rules {pub_rule} ")
    assert "destination [ bmlb-198.51.100.6 bmlb-198.51.100.7 ]" in commands[at + 1]
    assert all(c.split()[0] in ("set", "move") for c in commands if c != commands[at])


def test_changed_port(export: Path) -> None:
    code, data, commands = changes(export, estate(nat_port=8443))
    assert code == 2
    got = by_name(data)
    assert got[("add", "service", "bmlb-tcp-8443")]["owner"] == "shared"
    rule = got[("change", "nat", f"bmlb-nat_{NS}_web")]
    assert rule["owner"] == f"NATRule {NS}/web"
    attrs = {a["field"]: (a["before"], a["after"]) for a in rule["attributes"]}
    assert attrs["service"] == ("bmlb-tcp-443", "bmlb-tcp-8443")
    assert {c["action"] for c in data["changes"]} <= {"add", "change"}
    assert "set service bmlb-tcp-8443 protocol tcp port 8443 " in "\n".join(commands)
    assert any(c.startswith(f"set rulebase nat rules bmlb-nat_{NS}_web ") and " service bmlb-tcp-8443 " in c
               for c in commands)
    text = plan(export, estate(nat_port=8443)).stdout
    assert f"~ change nat bmlb-nat_{NS}_web  (owner: NATRule {NS}/web)" in text
    assert "service: 'bmlb-tcp-443' -> 'bmlb-tcp-8443'" in text


def test_deleted_policy(export: Path) -> None:
    code, data, commands = changes(export, estate(with_policy=False))
    assert code == 2
    expected = set(owned_rules(export, "security"))
    assert expected and all(name.startswith(f"bmlb_{NS}_web_") for name in expected)
    deletes = {c["name"]: c["owner"] for c in data["changes"] if c["action"] == "delete"}
    assert set(deletes) == expected and set(deletes.values()) == {f"SecurityPolicy {NS}/web"}
    assert [c for c in data["changes"] if c["action"] != "delete"] == []
    assert sorted(commands) == sorted(f"delete rulebase security rules {name}" for name in expected)


def test_the_plan_is_what_a_sync_then_does(tmp_path: Path) -> None:
    """Apply the planned manifests for real: the entries that appear and vanish in the exported
    config are exactly the plan's adds and deletes, and a plan afterwards is empty."""
    with Simulator.start(commit_seconds=0.05) as sim:
        put_foreign(sim)
        apply(sim, estate())
        before = tmp_path / "before.xml"
        before.write_text(sim.running_xml())
        wanted = estate(api=True, with_policy=False)
        _, data, _ = changes(before, wanted)
        apply(sim, wanted)
        after = tmp_path / "after.xml"
        after.write_text(sim.running_xml())

    def entries(path: Path) -> set[str]:
        return {e.get("name", "") for e in ET.parse(path).getroot().iter("entry")}

    planned_adds = {c["name"] for c in data["changes"] if c["action"] == "add"}
    planned_deletes = {c["name"] for c in data["changes"] if c["action"] == "delete"}
    assert entries(after) - entries(before) == planned_adds
    assert entries(before) - entries(after) == planned_deletes
    assert plan(after, wanted).returncode == 0


def test_against_the_live_firewall_reads_only(device: Simulator, tmp_path: Path) -> None:
    objs = estate(api=True)
    fw = next(o for o in objs if o["kind"] == "Firewall")
    fw["spec"].update(host=device.host, port=device.port, caBundle=Path(device.ca_file).read_text(),
                      credentialsSecret={"name": "creds", "namespace": "bmlb-system"})
    objs.append({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds", "namespace": "bmlb-system"},
                 "data": {"apiKey": base64.b64encode(device.api_key("admin").encode()).decode()}})
    device.reset_stats()
    done = bmlb("plan", "-f", "-", "--against", "edge", "--detailed-exitcode", "-o", "json",
                stdin=yaml.safe_dump_all(objs))
    assert done.returncode == 2, done.stderr
    assert ("add", "nat", f"bmlb-nat_{NS}_api") in by_name(json.loads(done.stdout))
    stats = device.stats_snapshot()
    assert stats["writes"] == 0 and stats["commits"] == 0 and stats["config"] > 0, stats
    assert set(stats["requests"]) <= {"config.get", "config.show", "op", "keygen", "total"}, stats


def test_errors_exit_1(export: Path, tmp_path: Path) -> None:
    not_xml = tmp_path / "x.xml"
    not_xml.write_text("<config><unclosed>")
    done = plan(not_xml, estate())
    assert done.returncode == 1 and "not XML" in done.stderr
    assert plan(export, [{**estate()[4], "spec": {}}]).returncode == 1  # invalid manifests: no change set
    assert plan(tmp_path / "missing.xml", estate()).returncode == 1  # neither a file nor a Firewall
    done = bmlb("plan", "-f", "-", "--against", str(export), "--detailed-exitcode", "--bogus", stdin="")
    assert done.returncode == 1  # a usage error is never read as "changes"
