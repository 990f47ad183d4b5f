"""Fixtures of the fault suite, and the one summary line of its invariant totals.

Every scenario (a test using `fx`) ends with `fx.finish()`: wait for convergence, watch one
full resync period of the controller (`RESYNC`) for stray writes and commits, count the
invariants (see harness.Invariants), check that every fault the scenario added fired, add the
counts to the session totals and assert they are all 0.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kubernetes
import pytest
from kubernetes.client.rest import ApiException

from controller.cli.localcluster import Cluster, process, wait_for
from firewall.sim import Simulator, api
from tests.controller.conftest import cluster, dump_log, firewall_object, ns, run_controller, sim  # noqa: F401
from tests.faults import harness
from tests.faults.harness import ADMIN, Counts, Invariants

RESYNC = 2.0  # the controllers' --resync in this suite: a negative check watches one full period
LEASE_PREFIX = "bmlb-node-"


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
    state_faults: list[tuple[dict[str, Any], int]] = field(default_factory=list, repr=False)
    replies: list[tuple[str, str, int, str]] = field(default_factory=list, repr=False)  # admin, kind, status, body
    created_nodes: list[str] = field(default_factory=list)

    def watch_faults(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Record every fault the scenario adds and every reply the device sends, to check at the
        end that each fault fired: a request fault counts its own firings; a state fault fired
        when the device answered bmlb's admin with its effect (see state_fault_fired)."""
        device_faults = self.sim.device.faults
        add = device_faults.add

        def recorded(fault: Any) -> Any:
            self.faults_added.append((fault, fault.times))
            return add(fault)

        device_faults.add = recorded  # type: ignore[method-assign]
        control = self.sim.faults
        add_dict = control.add_dict

        def recorded_state(data: dict[str, Any]) -> Any:
            out = add_dict(data)
            if out.get("kind") not in ("latency", "reset", "timeout", "http_error", "commit_in_progress",
                                       "commit_fail", "refuse_write", "refuse_commit"):
                self.state_faults.append((out, len(self.replies)))
            return out

        control.add_dict = recorded_state  # type: ignore[method-assign]
        handle, device = api.handle, self.sim.device

        def handled(dev: Any, params: dict[str, str]) -> Any:
            admin = dev.admin_for_key(params.get("key", "")) if params.get("type") != "keygen" else params.get("user")
            reply = handle(dev, params)
            if dev is device:
                self.replies.append((admin or "?", api.request_kind(params), reply.status, reply.body))
            return reply

        monkeypatch.setattr(api, "handle", handled)

    def state_fault_fired(self, fault: dict[str, Any], since: int) -> bool:
        """expire_keys: a request was refused for its key (403); a lock or pending changes of
        another admin: a reply to bmlb's admin named that admin (a refused write or commit, or
        the lock / pending-changes query bmlb asks before writing)."""
        later = self.replies[since:]
        if fault["kind"] == "expire_keys":
            return any(status == 403 for _, _, status, _ in later)
        who = fault.get("admin") or ""
        return any(admin == ADMIN and who and who in body for admin, _, _, body in later)

    def faults_not_fired(self) -> list[str]:
        out = []
        for fault, times in self.faults_added:
            if fault.fired == 0:
                out.append(f"fault {fault.kind} {fault.as_dict()} never fired")
            elif times is not None and fault.fired != times:
                out.append(f"fault {fault.kind} fired {fault.fired} of {times} times")
        out += [f"state fault {f} never took effect on a reply to {ADMIN}" for f, since in self.state_faults
                if not self.state_fault_fired(f, since)]
        return out

    # ------------------------------------------------------------------------ nodes (routed mode)

    def nodes(self, count: int = 3, *, lease_seconds: int = 3600) -> list[str]:
        """Nodes {ns}-n1.. (InternalIP 10.96.0.11..), Ready, each with a fresh agent Lease in the
        controller's lease namespace (its own namespace here); deleted when the scenario ends."""
        names = []
        for i in range(count):
            name = f"{self.ns}-n{i + 1}"[-60:]
            self.cluster.core.create_node({"metadata": {"name": name}, "status": {
                "addresses": [{"type": "InternalIP", "address": f"10.96.0.{11 + i}"}],
                "conditions": [{"type": "Ready", "status": "True"}]}})
            self.created_nodes.append(name)
            self.lease(name, seconds=lease_seconds)
            names.append(name)
        return names

    def lease(self, node: str, *, seconds: int) -> None:
        """Create or renew the node's agent Lease: fresh for `seconds` from now."""
        coord = kubernetes.client.CoordinationV1Api(self.cluster.api)
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        body = {"metadata": {"name": LEASE_PREFIX + node, "namespace": self.ns},
                "spec": {"holderIdentity": node, "leaseDurationSeconds": seconds, "renewTime": now}}
        try:
            coord.create_namespaced_lease(self.ns, body)
        except ApiException as err:
            if err.status != 409:
                raise
            coord.patch_namespaced_lease(LEASE_PREFIX + node, self.ns, {"spec": body["spec"]})

    def remove_nodes(self) -> None:
        for name in self.created_nodes:
            try:
                self.cluster.core.delete_node(name)
            except ApiException as err:
                if err.status != 404:
                    raise

    def estate(self, *, foreign: bool = True, **firewall_spec: Any) -> None:
        if foreign:
            harness.foreign_setup(self.sim)
        harness.estate(self.cluster, self.ns, self.firewall_object, **firewall_spec)

    def controller(self, *extra: str, peering: str = "", log_name: str = "controller.log") -> Any:
        proc = self.run_controller("--resync", str(RESYNC), *extra, peering=peering, log_name=log_name)
        self.procs.append(proc)
        return proc

    def agent(self, node: str, backend_state: Path, *extra: str) -> Any:
        """`bmlb agent` on the memory backend kept in `backend_state` (see ipvs.persist): what the
        backend holds is judged from that file, and a restarted agent starts from it."""
        args = ["agent", "--node", node, "--backend", "memory", "--kubeconfig", str(self.apiserver.kubeconfig),
                "--memory-state", str(backend_state), *extra]
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

    def quiet(self, seconds: float | None = None) -> None:
        """A negative check: for one full resync period (and until the device answered a request
        of bmlb's, i.e. the resync ran), bmlb writes nothing and commits nothing."""
        seconds = RESYNC + 0.5 if seconds is None else seconds
        self.sim.wait_for_jobs()
        stats = self.sim.stats_snapshot()
        writes, commits, asked = stats["writes"], stats["commits"], self._asked()
        deadline = time.monotonic() + seconds
        while True:
            now = self.sim.stats_snapshot()
            assert now["writes"] == writes and now["commits"] == commits, \
                f"bmlb wrote or committed during a quiet resync period: {stats} -> {now}\n{self.logs()}"
            if time.monotonic() >= deadline and self._asked() > asked:
                return
            assert time.monotonic() < deadline + 30, f"no request of bmlb's within {seconds + 30}s"
            time.sleep(0.1)

    def _asked(self) -> int:
        return sum(1 for admin, *_ in self.replies if admin == ADMIN)

    def hold(self, what: str, fn: Callable[[], Any], seconds: float | None = None) -> None:
        """A negative check: `fn()` stays true for one full resync period (or `seconds`)."""
        deadline = time.monotonic() + (RESYNC + 0.5 if seconds is None else seconds)
        while time.monotonic() < deadline:
            assert fn(), f"{what} stopped holding\n{self.logs()}"
            time.sleep(0.1)

    def finish(self, *, converge: bool = True, ignore_services: tuple[str, ...] = (), quiet: bool = True) -> Counts:
        """Converge, watch one resync period (no stray write or commit), count, record and assert all zero."""
        if converge:
            self.converge()
        if quiet:
            self.quiet()
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
       apiserver: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultEnv]:
    env = FaultEnv(cluster, ns, sim, firewall_object, run_controller, apiserver, tmp_path, request.node.name,
                   Invariants(cluster, sim, ns))
    env.watch_faults(monkeypatch)
    t0 = time.monotonic()
    try:
        yield env
    finally:
        env.remove_nodes()
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
