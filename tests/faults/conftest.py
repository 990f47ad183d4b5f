"""Fixtures of the fault suite, and the one summary line of its invariant totals.

Every scenario (a test using `fx`) ends with `fx.finish()`: wait for convergence, count the
invariants (see harness.Invariants), add them to the session totals and assert they are all 0.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from controller.localcluster import Cluster, process, wait_for
from firewall.sim import Simulator
from tests.controller.conftest import cluster, dump_log, firewall_object, ns, run_controller, sim  # noqa: F401
from tests.faults import harness
from tests.faults.harness import Counts, Invariants


@dataclass
class Totals:
    scenarios: int = 0
    counts: Counts = field(default_factory=Counts)
    timings: list[tuple[str, float, str]] = field(default_factory=list)  # (scenario, seconds, outcome)

    def line(self) -> str:
        return f"bmlb faults: {self.scenarios} scenarios, {self.counts.line()}"


TOTALS = Totals()


@dataclass
class FaultEnv:
    """One scenario's world: the cluster, its namespace, the simulator, controller/agent launchers."""

    cluster: Cluster
    ns: str
    sim: Simulator
    firewall_object: Callable[..., Any]
    run_controller: Callable[..., Any]
    apiserver: Any
    tmp_path: Path
    name: str
    inv: Invariants
    procs: list[Any] = field(default_factory=list)
    finished: bool = False
    faults_added: list[tuple[Any, int | None]] = field(default_factory=list)  # (Fault, times asked)

    def watch_faults(self) -> None:
        """Record every request fault the scenario adds, to check at the end that each fired."""
        device_faults = self.sim.device.faults
        add = device_faults.add

        def recorded(fault: Any) -> Any:
            self.faults_added.append((fault, fault.times))
            return add(fault)

        device_faults.add = recorded  # type: ignore[method-assign]

    def faults_not_fired(self) -> list[str]:
        out = []
        for fault, times in self.faults_added:
            if fault.fired == 0:
                out.append(f"fault {fault.kind} {fault.as_dict()} never fired")
            elif times is not None and fault.fired != times:
                out.append(f"fault {fault.kind} fired {fault.fired} of {times} times")
        return out

    def estate(self, *, foreign: bool = True, **firewall_spec: Any) -> None:
        if foreign:
            harness.foreign_setup(self.sim)
        harness.estate(self.cluster, self.ns, self.firewall_object, **firewall_spec)

    def controller(self, *extra: str, peering: str = "", log_name: str = "controller.log") -> Any:
        proc = self.run_controller(*extra, peering=peering, log_name=log_name)
        self.procs.append(proc)
        return proc

    def agent(self, node: str, state: Path, *extra: str) -> Any:
        args = ["agent", "--node", node, "--backend", "memory", "--kubeconfig", str(self.apiserver.kubeconfig),
                "--state-file", str(state), *extra]
        return process(args, env=self.apiserver.env(), log=self.tmp_path / f"agent-{node}.log")

    def logs(self) -> str:
        return "\n".join(f"--- {p.log_path.name}\n{dump_log(p)}" for p in self.procs if hasattr(p, "log_path"))

    def converge(self, timeout: float = 60.0) -> None:
        """Every CR Ready, the Firewall synced, the running config exactly the desired state."""
        try:
            wait_for("all Ready", lambda: harness.all_ready(self.cluster, self.ns), timeout=timeout, interval=0.3)
            wait_for("firewall converged", self.inv.converged, timeout=timeout, interval=0.3)
        except AssertionError as err:
            raise AssertionError(f"{err}\n{self.inv.firewall_state().details}\n{self.logs()}") from None

    def start(self, *extra: str, foreign: bool = True, **firewall_spec: Any) -> Any:
        """The usual opening: estate, controller, convergence, baseline."""
        self.estate(foreign=foreign, **firewall_spec)
        proc = self.controller(*extra)
        # the oracle expects flows only for Services that hold a VIP: until every estate Service
        # has one, "converged" is vacuously true
        wait_for("every estate Service has its VIP",
                 lambda: all(harness.ingress_map(self.cluster, self.ns).get(s) for s in harness.SERVICES),
                 timeout=60, interval=0.3)
        self.converge()
        self.inv.baseline()
        return proc

    def finish(self, *, converge: bool = True, ignore_services: tuple[str, ...] = (),
               quiet: float = 1.0) -> Counts:
        """Converge, watch a quiet second (no stray commit), count, record and assert all zero."""
        if converge:
            self.converge()
        if quiet:
            time.sleep(quiet)
        counts = self.inv.check(ignore_services=ignore_services)
        unfired = self.faults_not_fired()
        assert not unfired, unfired
        TOTALS.scenarios += 1
        TOTALS.counts.add(counts)
        self.finished = True
        assert counts.clean, f"{counts.line()}: {counts.details}\n{self.logs()}"
        return counts


@pytest.fixture
def fx(request: pytest.FixtureRequest, cluster: Cluster, ns: str, sim: Simulator,  # noqa: F811
       firewall_object: Callable[..., Any], run_controller: Callable[..., Any],  # noqa: F811
       apiserver: Any, tmp_path: Path) -> Iterator[FaultEnv]:
    env = FaultEnv(cluster, ns, sim, firewall_object, run_controller, apiserver, tmp_path, request.node.name,
                   Invariants(cluster, sim, ns))
    env.watch_faults()
    t0 = time.monotonic()
    yield env
    rep = getattr(request.node, "rep_call", None)
    outcome = "passed" if rep is not None and rep.passed else "failed"
    TOTALS.timings.append((request.node.name, time.monotonic() - t0, outcome))
    if not env.finished and outcome == "passed":
        raise AssertionError(f"{request.node.name} never checked its invariants (fx.finish())")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    rep = yield
    if rep.when == "call":
        item.rep_call = rep  # type: ignore[attr-defined]
    return rep


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if not TOTALS.timings:
        return
    if config.getoption("verbose") > 0:
        terminalreporter.section("bmlb fault scenarios")
        for name, secs, outcome in TOTALS.timings:
            terminalreporter.write_line(f"{secs:6.1f}s  {outcome:6}  {name}")
    terminalreporter.write_line(TOTALS.line())
