"""Fixtures of the end-to-end packet lab (tests/e2e/world.py), and its summary table.

The lab's control plane runs on the host (tests/e2e/host.py), its kernel side in the qemu VM:
    .venv/bin/python -m tests.e2e.host tests/kernel/run-in-vm.sh .venv/bin/python -m pytest -q tests/e2e/test_lab.py
Elsewhere (no BMLB_E2E_LAB, or not in the VM) its tests skip. The twin's own tests run anywhere.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kubernetes
import pytest

from controller.cli.localcluster import Cluster
from tests.e2e import world as w

IN_VM = os.environ.get("BMLB_KERNEL_VM") == "1"
LAB = os.environ.get("BMLB_E2E_LAB", "")
LAB_TESTS = "test_lab.py"
STARTUP = 900.0  # seconds for the agents to come up (TCG on a busy 2-core machine: minutes)


@dataclass
class Row:
    scenario: str
    outcome: str = "failed"
    measured: str = ""
    failed_connections: str = "-"


RESULTS: dict[str, Row] = {}


def pytest_configure(config: pytest.Config) -> None:
    if IN_VM:  # the VM's own loopback is down at boot
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    if IN_VM and LAB:  # the user-mode NIC to the host's control plane (tests/e2e/host.py);
        # renamed: the lab's node namespaces get veths called eth0 created from here
        nic = ["link set eth0 name host0", "link set host0 up", "addr add 10.0.2.15/24 dev host0"]
        subprocess.run(["ip", "-batch", "-"], input="\n".join(nic) + "\n", text=True, check=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.path)).name != LAB_TESTS or Path(str(item.path)).parent != Path(__file__).parent:
            continue
        item.add_marker(pytest.mark.timeout(1200))
        if not (IN_VM and LAB):
            item.add_marker(pytest.mark.skip(
                reason="end-to-end lab: runs in the VM with the control plane on the host "
                       "(.venv/bin/python -m tests.e2e.host tests/kernel/run-in-vm.sh .venv/bin/python -m pytest "
                       "tests/e2e/test_lab.py)"))


@dataclass
class World:
    cluster: Cluster
    host: w.Host
    twin: w.TwinSync
    relay: w.Relay
    kubeconfig: Path
    logdir: Path
    agents: dict[str, w.Process] = field(default_factory=dict)

    def running_xml(self) -> str:
        return self.host.running_xml()

    def start_agent(self, node: str, *extra: str) -> w.Process:
        ns, addr = w.NODES[node]
        env = dict(os.environ, KUBECONFIG=str(self.kubeconfig))
        self.agents[node] = w.spawn(
            f"agent-{node}", ["agent", "--node", node, "--backend", "kernel", "--kubeconfig", str(self.kubeconfig),
                              "--lease-namespace", w.HOME, "--address", addr, "--drain-timeout", "30", *extra],
            env=env, logdir=self.logdir, ns=ns)
        return self.agents[node]

    def logs(self) -> str:
        ps = subprocess.run(["sh", "-c", "free -m; ps -eo pid,rss,etime,time,args | cut -c1-150"],
                            capture_output=True, text=True, check=False).stdout
        twin_errors = "".join(f"\ntwin: {e}" for e in self.twin.errors[-5:]) if self.twin else ""
        try:
            controller = self.host.controller_log()
        except OSError as err:
            controller = f"(controller log unreachable: {err})"
        agents = "\n".join(f"{p.tail()}\n(exit: {p.popen.poll()})" for p in self.agents.values())
        return f"{ps}\n--- controller (host)\n{controller}\n{agents}{twin_errors}"


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    lab = json.loads(Path(LAB).read_text())
    logdir = Path(lab["logdir"])
    kubeconfig = Path(lab["kubeconfig"])
    t0 = time.monotonic()
    w.build_topology()
    w.progress("namespaces built", t0)
    stack = contextlib.ExitStack()
    try:
        relay = w.Relay(lab["api_port"], [None, *(ns for ns, _ in w.NODES.values())], lab["guest_host"])
        stack.callback(relay.close)
        host = w.Host(lab["guest_host"], lab["ctl_port"])
        stack.callback(host.close)
        the_world = World(None, host, None, relay, kubeconfig, logdir)  # type: ignore[arg-type]
        for node in w.NODES:  # first: under TCG their start-up takes the longest
            the_world.start_agent(node)
        stack.callback(lambda: [a.stop() for a in the_world.agents.values()])
        client = kubernetes.config.new_client_from_config(config_file=str(kubeconfig))
        stack.callback(client.close)
        the_world.cluster = Cluster(client, kubeconfig)
        twin_feed = w.Host(lab["guest_host"], lab["ctl_port"])  # its own connection for the long poll
        stack.callback(twin_feed.close)  # after the twin's thread stopped (callbacks run last-in first-out)
        the_world.twin = w.TwinSync(lambda: twin_feed.running_xml(wait=True))
        stack.callback(the_world.twin.close)
        stack.enter_context(w.pod_servers())
        w.progress("agents started; twin applied, relays and pod servers up", t0)
        coordination = kubernetes.client.CoordinationV1Api(client)
        try:
            w.wait_until("every agent's Lease", lambda: all(
                coordination.read_namespaced_lease(f"bmlb-node-{n}", w.HOME) for n in w.NODES), STARTUP, 2.0)
            first = {n: coordination.read_namespaced_lease(f"bmlb-node-{n}", w.HOME).spec.renew_time for n in w.NODES}
            w.wait_until("every agent renewing its Lease (its loop runs)", lambda: all(
                coordination.read_namespaced_lease(f"bmlb-node-{n}", w.HOME).spec.renew_time != first[n]
                for n in w.NODES), STARTUP, 2.0)
            w.progress("agents hold and renew their Leases", t0)
            w.wait_until("the controller's status on the Firewall", lambda: (
                the_world.cluster.get("Firewall", "edge").get("status") or {}).get("conditions"), STARTUP, 2.0)
        except AssertionError as err:
            raise AssertionError(f"{err}\n{the_world.logs()}") from None
        w.progress("controller reports on the Firewall: the lab is up", t0)
        yield the_world
    finally:
        stack.close()
        w.teardown_topology()


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if not RESULTS:
        return
    terminalreporter.section("bmlb end-to-end lab")
    rows = [("scenario", "result", "measured", "failed connections"),
            *((r.scenario, r.outcome, r.measured, r.failed_connections) for r in RESULTS.values())]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for i, r in enumerate(rows):
        terminalreporter.write_line("| " + " | ".join(c.ljust(widths[j]) for j, c in enumerate(r)) + " |")
        if i == 0:
            terminalreporter.write_line("|" + "|".join("-" * (n + 2) for n in widths) + "|")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    rep = yield
    row = RESULTS.get(item.name)
    if row is not None and rep.when == "call":
        row.outcome = "passed" if rep.passed else "failed"
    return rep
