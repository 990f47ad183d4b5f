"""The `bmlb` command line.

Each command imports what it needs when it runs, and the subcommands with modules of their own
(audit, deploy, validate and plan) load only when named: `bmlb agent` must not pay for the compiler's templates, the
renderers or the auditor (under TCG every 0.1 s of imports costs seconds).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, ClassVar

import click

if TYPE_CHECKING:
    pass


def _audit() -> click.Command:
    from controller.cli.audit import audit

    return audit


def _deploy() -> click.Command:
    from controller.cli.deploy import deploy

    return deploy


def _validate() -> click.Command:
    from controller.cli.offline import validate

    return validate


def _plan() -> click.Command:
    from controller.cli.offline import plan

    return plan


class _Commands(click.Group):
    """A group whose commands in other modules are imported on first use."""

    lazy: ClassVar[dict[str, Callable[[], click.Command]]] = {
        "audit": _audit, "deploy": _deploy, "plan": _plan, "validate": _validate}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy and cmd_name not in self.commands:
            self.add_command(self.lazy[cmd_name](), cmd_name)
        return super().get_command(ctx, cmd_name)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """bmlb: Kubernetes LoadBalancer Services on kernel IPVS, with the Palo Alto firewall kept in step."""


@main.command("firewall-sim", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
def firewall_sim(ctx: click.Context) -> None:
    """Run the PAN-OS XML API simulator over HTTPS on loopback (see --help of the simulator)."""
    from firewall.sim.server import main as sim_main

    sys.exit(sim_main(list(ctx.args)) or 0)


@main.command()
@click.option("--kubeconfig", envvar="KUBECONFIG", help="Kubeconfig file (default: in-cluster, then ~/.kube/config).")
@click.option("--namespace", "home", envvar="POD_NAMESPACE", default="bmlb-system", show_default=True,
              help="The controller's own namespace: its reconcile loop runs as a daemon on this object.")
@click.option("--lease-namespace", "lease_namespace", envvar="BMLB_LEASE_NAMESPACE", default=None,
              help="The only namespace whose agent Leases (bmlb-node-NODE) count for node health and "
                   "next hops (default: --namespace, i.e. bmlb-system). Give agents the same value.")
@click.option("--peering", default="bmlb", show_default=True,
              help="kopf peering name for leader election; '' runs standalone (one replica only).")
@click.option("--priority", type=int, default=None, help="Peering priority (default: random, so one replica leads).")
@click.option("--peering-lifetime", type=click.IntRange(2, 3600), default=60, show_default=True,
              help="Seconds this replica's peering record counts as alive: a standby takes over this long "
                   "after the leader last renewed it (the leader dies without leaving, e.g. SIGKILL).")
@click.option("--metrics-port", type=int, default=None, help="Serve Prometheus metrics on this port.")
@click.option("--health", default=None, help="Liveness endpoint, e.g. http://0.0.0.0:8080/healthz.")
@click.option("--debounce", type=float, default=None, help="Override every Firewall's commit.debounceSeconds.")
@click.option("--resync", type=float, default=None, help="Override every Firewall's resyncSeconds.")
@click.option("--webhook-port", type=int, default=None,
              help="Serve the validating admission webhook over HTTPS on 127.0.0.1:PORT "
                   "(certificates from $BMLB_WEBHOOK_CERT_DIR: tls.crt, tls.key, ca.crt; else self-signed there).")
@click.option("-v", "--verbose", is_flag=True)
def controller(kubeconfig: str | None, home: str, lease_namespace: str | None, peering: str, priority: int | None,
               peering_lifetime: int, metrics_port: int | None,
               health: str | None, debounce: float | None, resync: float | None, webhook_port: int | None,
               verbose: bool) -> None:
    """Run the operator: allocate VIPs, keep the firewall in step, report status and Events."""
    from controller.runtime.kubeapi import ConfigError, without_client_models

    without_client_models()
    from controller.runtime import operator

    _logging(verbose)
    with _credentials_errors(ConfigError):
        operator.run(kubeconfig=kubeconfig, home_namespace=home, metrics_port=metrics_port, health=health,
                     peering=peering or None, priority=priority, debounce=debounce, resync=resync,
                     webhook_port=webhook_port, lease_namespace=lease_namespace, peering_lifetime=peering_lifetime)


@main.command()
@click.option("--node", envvar="NODE_NAME", required=True, help="This node's name.")
@click.option("--backend", type=click.Choice(["kernel", "memory"]), default="kernel", show_default=True)
@click.option("--kubeconfig", envvar="KUBECONFIG")
@click.option("--link", default="bmlb0", show_default=True, help="Dummy link the VIPs are bound on.")
@click.option("--drain-timeout", type=float, default=300.0, show_default=True,
              help="Seconds a leaving real server drains at weight 0 before it is deleted.")
@click.option("--state-file", default=None, help="Write the applied table here after each sync (JSON).")
@click.option("--health", default=None, help="Liveness endpoint, e.g. http://0.0.0.0:8081/healthz.")
@click.option("--lease-namespace", envvar="POD_NAMESPACE", default=None,
              help="Renew the Lease bmlb-node-NODE here (node health for routed mode); unset: no Lease. "
                   "Must be the controller's --lease-namespace (default bmlb-system): Leases elsewhere are ignored.")
@click.option("--address", envvar="NODE_IP", default=None, help="This node's next-hop address for the firewall.")
@click.option("--mode", type=click.Choice(["routed", "l2"]), default="routed", show_default=True,
              help="l2: one node per VIP answers ARP/NDP for it on --uplink (elected through Leases).")
@click.option("--uplink", default=None, help="L2 mode: the link facing the router/firewall, e.g. eth0.")
@click.option("--l2-lease-duration", type=float, default=3.0, show_default=True,
              help="L2 mode: seconds before a silent announcer's VIPs move to another node.")
@click.option("--memory-state", default=None,
              help="Memory backend: keep its IPVS table in this JSON file, saved after every operation "
                   "(a restarted agent starts from it); real servers' connections are read from FILE.connections.")
@click.option("--memory-op-delay", type=float, default=0.0, hidden=True,
              help="Memory backend: seconds each IPVS operation takes (fault tests kill the agent mid-apply).")
@click.option("-v", "--verbose", is_flag=True)
def agent(node: str, backend: str, kubeconfig: str | None, link: str, drain_timeout: float,
          state_file: str | None, health: str | None, lease_namespace: str | None, address: str | None,
          mode: str, uplink: str | None, l2_lease_duration: float, memory_state: str | None,
          memory_op_delay: float, verbose: bool) -> None:
    """Run the node agent: keep this node's IPVS table and VIPs in step with the cluster."""
    from controller.runtime.kubeapi import ConfigError, without_client_models

    without_client_models()
    from controller.runtime import agent as agent_mod

    _logging(verbose)
    with _credentials_errors(ConfigError):
        agent_mod.run(node=node, backend=backend, kubeconfig=kubeconfig, state_file=state_file, link=link,
                      drain_timeout=drain_timeout, health=health, lease_namespace=lease_namespace, address=address,
                      mode=mode, uplink=uplink, l2_lease_duration=l2_lease_duration, memory_state=memory_state,
                      memory_op_delay=memory_op_delay)


@main.command()
@click.option("-f", "--filename", "paths", multiple=True, type=click.Path(exists=True),
              help="Manifests to apply (default: examples/).")
@click.option("--workdir", default="/tmp/bmlb-demo", show_default=True, help="Logs, kubeconfig, state files.")
@click.option("--once", is_flag=True, help="Exit after showing the result (exit 1 if it did not converge).")
@click.option("--timeout", type=float, default=120.0, show_default=True, help="Seconds to wait for convergence.")
@click.option("--firewall-port", type=int, default=0, help="Port of the PAN-OS simulator (default: any free one).")
def demo(paths: tuple[str, ...], workdir: str, once: bool, timeout: float, firewall_port: int) -> None:
    """Run bmlb locally: API server, PAN-OS simulator, controller and agents, on examples/."""
    try:
        from controller.cli import demo as demo_mod
    except ModuleNotFoundError as err:
        raise click.ClickException(f"bmlb demo needs {err.name}: pip install 'bmlb[demo]'") from None
    try:
        code = demo_mod.run(paths=list(paths), workdir=workdir, once=once, timeout=timeout, sim_port=firewall_port)
    except KeyboardInterrupt:
        code = 130
    except Exception as err:  # the demo is for newcomers: one line, not a traceback
        raise click.ClickException(f"{type(err).__name__}: {err}".splitlines()[0]) from None
    sys.exit(code)


@main.group()
def ipvs() -> None:
    """Inspect the IPVS data plane."""


@ipvs.command("show")
@click.option("--state-file", default=None, help="Show a table an agent with --state-file wrote (memory backend).")
def ipvs_show(state_file: str | None) -> None:
    """Print the bmlb-managed IPVS table like `ipvsadm -Ln`."""
    from controller.core import render

    if state_file:
        import json

        from controller.cli.tables import table_from_plain

        data = json.loads(open(state_file).read())
        click.echo(f"# node {data['node']}: {data['syncs']} syncs, {data['ops']} IPVS operations")
        click.echo(render.ipvsadm(table_from_plain(data["table"])))
        return
    from ipvs.kernel import KernelBackend
    from ipvs.show import render as show

    backend = KernelBackend()
    link_vips = backend.addresses("bmlb0")
    observed = backend.read(lambda ip: ip in link_vips)
    click.echo(show(observed.table, observed.connections))


@contextlib.contextmanager
def _credentials_errors(kind: type[Exception]) -> Iterator[None]:
    """Credentials bmlb cannot use: one line naming the file and the field, not a traceback."""
    try:
        yield
    except kind as err:
        raise click.ClickException(str(err)) from None


def _logging(verbose: bool) -> None:
    import logging

    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not verbose:  # one line per handled watch event is noise at INFO
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
