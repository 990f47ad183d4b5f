"""`bmlb demo`: the built-in local environment.

Starts the test API server (real Kubernetes API server libraries), the PAN-OS simulator over
HTTPS, the controller and one agent per example node (memory IPVS backend: this kernel has no
IPVS), applies examples/, waits for convergence, shows each Service -> VIP -> public address ->
NAT rule -> security rules and the firewall's running config, and stays up until Ctrl-C so a
user can `kubectl apply` changes and watch them land.

Every run starts from a fresh API server state under --workdir (a lock keeps two demos from
sharing one), so running it again, with or without --once, starts over. Needs the `demo` extra
(rich) and the test API server binaries (`bash tests/setup.sh` in a source checkout builds them).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
from kubernetes.client.rest import ApiException
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from controller.cli import manifest_files
from controller.cli.kapilite import ApiServer
from controller.cli.kapilite_build import ensure_built
from controller.cli.localcluster import ROOT, Cluster, apply_crds, process
from controller.cli.tables import table_from_plain
from controller.core import naming
from firewall.sim import Simulator

console = Console()
HOME = "bmlb-system"
# What a run writes under --workdir, and only that is cleared: --workdir may be any folder.
LEFTOVER_DIRS = ("apiserver", "sim-tls")
LEFTOVER_FILES = ("controller.log", "agent-*.log", "ipvs-*.json")


class DemoError(RuntimeError):
    """The demo cannot run; the message says why in one line."""


def _docs(paths: list[Path]) -> list[dict[str, Any]]:
    docs, errors = manifest_files.load(paths)
    for e in errors:
        console.print(f"[red]{e}[/red]")
    return [d.body for d in docs]


def _apply_all(cluster: Cluster, docs: list[dict[str, Any]], sim: Simulator) -> None:
    namespaces = {HOME} | {d["metadata"]["namespace"] for d in docs if d["metadata"].get("namespace")}
    for ns in sorted(namespaces):
        with contextlib.suppress(ApiException):
            cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    order = {"Namespace": 0, "Node": 1, "VIPPool": 2, "Secret": 3, "Firewall": 4, "Service": 5,
             "EndpointSlice": 6, "NATRule": 7, "SecurityPolicy": 8}
    for d in sorted(docs, key=lambda d: order.get(d["kind"], 9)):
        if d["kind"] == "Firewall":
            secret = d["spec"]["credentialsSecret"]
            with contextlib.suppress(ApiException):
                cluster.apply({"apiVersion": "v1", "kind": "Secret",
                               "metadata": {"name": secret["name"], "namespace": secret["namespace"]},
                               "data": {"apiKey": base64.b64encode(sim.api_key("admin").encode()).decode(),
                                "username": base64.b64encode(b"admin").decode()}})
            d = {**d, "spec": {**d["spec"], "host": sim.host, "port": sim.port,
                               "caBundle": Path(sim.ca_file).read_text()}}
        cluster.apply(d)


def _progress(cluster: Cluster, docs: list[dict[str, Any]], timeout: float) -> bool:
    services = [(d["metadata"]["namespace"], d["metadata"]["name"]) for d in docs
                if d["kind"] == "Service" and (d["spec"] or {}).get("loadBalancerClass") == "bmlb.io/ipvs"]
    crs = [(d["kind"], d["metadata"]["namespace"], d["metadata"]["name"]) for d in docs
           if d["kind"] in ("NATRule", "SecurityPolicy")]
    deadline = time.monotonic() + timeout
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/"
                  "{task.total}"), TimeElapsedColumn(), console=console, transient=False) as progress:
        t_vip = progress.add_task("Services with a VIP", total=len(services))
        t_fw = progress.add_task("NATRules and SecurityPolicies Ready on the firewall", total=len(crs))
        while time.monotonic() < deadline:
            vips = sum(1 for ns, n in services if _try(lambda ns=ns, n=n: cluster.ingress(n, ns)))
            ready = sum(1 for k, ns, n in crs if _is_ready(cluster, k, ns, n))
            progress.update(t_vip, completed=vips)
            progress.update(t_fw, completed=ready)
            if vips == len(services) and ready == len(crs):
                return True
            time.sleep(0.3)
    return False


def _is_ready(cluster: Cluster, kind: str, ns: str, name: str) -> bool:
    c = _try(lambda: cluster.condition(kind, name, ns, "Ready"))
    return bool(c) and c.get("status") == "True"


def _try(fn: Any) -> Any:
    try:
        return fn()
    except ApiException:
        return None


def show(cluster: Cluster, docs: list[dict[str, Any]], sim: Simulator, states: dict[str, Path]) -> None:
    t = Table(title="Services, as the firewall and the nodes see them", show_lines=True)
    for col in ("Service", "VIP", "Public", "NAT rule", "Security rules"):
        t.add_column(col)
    nats = [d for d in docs if d["kind"] == "NATRule"]
    pols = [d for d in docs if d["kind"] == "SecurityPolicy"]
    for d in docs:
        if d["kind"] != "Service" or (d["spec"] or {}).get("loadBalancerClass") != "bmlb.io/ipvs":
            continue
        ns, name = d["metadata"]["namespace"], d["metadata"]["name"]
        publics, rules, sec = [], [], []
        for n in nats:
            if n["metadata"]["namespace"] == ns and n["spec"]["service"]["name"] == name:
                st = cluster.get("NATRule", n["metadata"]["name"], ns).get("status") or {}
                publics.append(f"{st.get('public', '?')} -> {st.get('vip', '?')}")
                rules.append(st.get("rule", "?"))
        for p in pols:
            if p["metadata"]["namespace"] != ns:
                continue
            pname = p["metadata"]["name"]
            st = cluster.get("SecurityPolicy", pname, ns).get("status") or {}
            mine = {naming.name("security_rule", namespace=ns, policy=pname, rule=r["name"], service=name,
                                published=pub) for r in p["spec"].get("rules", []) for pub in (False, True)}
            sec += [r for r in st.get("rules", []) if r in mine]
        t.add_row(f"{ns}/{name}", ", ".join(cluster.ingress(name, ns)) or "(pending)", "\n".join(publics) or "-",
                  "\n".join(rules) or "-", "\n".join(sec) or "-")
    console.print(t)
    console.rule("The firewall's running config (bmlb's objects, as PAN-OS set commands)")
    for line in sim.set_commands("running"):
        if "bmlb" in line:
            console.print(line, soft_wrap=True, highlight=False, markup=False)
    from controller.core.render import ipvsadm

    for node, path in states.items():
        console.rule(f"IPVS on node {node} (memory backend)")
        with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):
            console.print(ipvsadm(table_from_plain(json.loads(path.read_text())["table"])), highlight=False,
                          markup=False)


@contextlib.contextmanager
def environment(workdir: Path, *, sim_port: int) -> Iterator[tuple[Any, Simulator, Cluster]]:
    console.print("[bold]bmlb demo[/bold]: starting the test API server and the PAN-OS simulator")
    ensure_built()
    with ApiServer(workdir / "apiserver") as api, Simulator.start(port=sim_port, commit_seconds=0.5,
                                                                    cert_dir=str(workdir / "sim-tls")) as sim:
        client = kubernetes.config.new_client_from_config(config_file=str(api.kubeconfig))
        cluster = Cluster(client, Path(api.kubeconfig))
        apply_crds(cluster)
        yield api, sim, cluster


@contextlib.contextmanager
def fresh_workdir(wd: Path) -> Iterator[None]:
    """Hold --workdir for this run and clear what an earlier run left there (API server data,
    logs, state files): a second run must not find the first one's Nodes or statuses."""
    wd.mkdir(parents=True, exist_ok=True)
    with (wd / ".bmlb-demo.lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DemoError(f"another bmlb demo is running in {wd}; stop it or pass another --workdir") from None
        for name in LEFTOVER_DIRS:
            shutil.rmtree(wd / name, ignore_errors=True)
        for pattern in LEFTOVER_FILES:
            for old in wd.glob(pattern):
                old.unlink()
        yield


def run(*, paths: list[str], workdir: str, once: bool, timeout: float, sim_port: int) -> int:
    default = ROOT / "examples"
    if not paths and not default.is_dir():
        raise DemoError(f"no examples at {default} (an installed bmlb has none): pass -f MANIFESTS")
    wd = Path(workdir)
    with stop_on_signals(), fresh_workdir(wd):
        return _run(paths, wd, once=once, timeout=timeout, sim_port=sim_port)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP stop the demo the way Ctrl-C does, through every context manager: Python's
    default for them ends the process at once, and the controller and agents (each in a session of
    its own) would outlive it. The first signal starts the stop; any later one waits for it."""
    stopping = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)

    def stop(signum: int, frame: object) -> None:
        for s in stopping:
            signal.signal(s, signal.SIG_IGN)
        raise KeyboardInterrupt

    before = {s: signal.getsignal(s) for s in stopping}
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, stop)
    if before[signal.SIGINT] is not signal.SIG_IGN:  # a background job keeps Ctrl-C ignored
        signal.signal(signal.SIGINT, stop)
    try:
        yield
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)


def _run(paths: list[str], wd: Path, *, once: bool, timeout: float, sim_port: int) -> int:
    docs = _docs([Path(p) for p in paths] or [ROOT / "examples"])
    nodes = sorted({d["metadata"]["name"] for d in docs if d["kind"] == "Node"}) or ["node-a"]
    with environment(wd, sim_port=sim_port) as (api, sim, cluster), contextlib.ExitStack() as stack:
        env = api.env()
        ctl = stack.enter_context(process(
            ["controller", "--kubeconfig", str(api.kubeconfig), "--namespace", HOME, "--peering", "",
             "--debounce", "1"], env=env, log=wd / "controller.log"))
        states = {}
        for node in nodes:
            states[node] = wd / f"ipvs-{node}.json"
            stack.enter_context(process(
                ["agent", "--node", node, "--backend", "memory", "--kubeconfig", str(api.kubeconfig),
                 "--state-file", str(states[node])], env=env, log=wd / f"agent-{node}.log"))
        console.print(f"applying {len(docs)} objects from {', '.join(paths) or 'examples/'}")
        _apply_all(cluster, docs, sim)
        ok = _progress(cluster, docs, timeout)
        time.sleep(1.0)
        show(cluster, docs, sim, states)
        if not ok:
            console.print(f"[red]not converged within {timeout:.0f}s[/red]; see {wd}/controller.log")
            if ctl.poll() is not None:
                console.print((wd / "controller.log").read_text()[-3000:])
        stats = sim.stats_snapshot()
        console.print(f"firewall: {stats['commits']} commits, {stats['requests'].get('total', 0)} API requests")
        if once:
            return 0 if ok else 1
        try:  # a stop that comes while the lines below print is a stop too (the tests' kill comes then)
            console.rule("The demo stays up: Ctrl-C to stop")
            console.print(f"  export KUBECONFIG={api.kubeconfig}\n"
                          f"  kubectl get vippools,natrules,securitypolicies,firewalls -A\n"
                          f"  kubectl -n shop edit natrule web-https        # and watch the firewall follow\n"
                          f"  .venv/bin/bmlb ipvs show --state-file {states[nodes[0]]}\n"
                          f"  firewall: {sim.url} (user admin / admin, CA {sim.ca_file}); "
                          f"curl --cacert {sim.ca_file} '{sim.url}/sim/config?format=set'\n"
                          f"  logs: {wd}/controller.log, {wd}/agent-*.log")
            while ctl.poll() is None:
                time.sleep(1)
        except KeyboardInterrupt:
            console.print("stopping")
        return 0

