"""The `bmlb` command line.

Each command imports what it needs when it runs, and the subcommands with modules of their own
(audit, deploy) load only when named: `bmlb agent` must not pay for the compiler's templates, the
renderers or the auditor (under TCG every 0.1 s of imports costs seconds).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

import click

from controller.cli.terminal import echo
from controller.core.problems import Severity

if TYPE_CHECKING:
    from controller.core import manifests


def _audit() -> click.Command:
    from controller.cli.audit import audit

    return audit


def _deploy() -> click.Command:
    from controller.cli.deploy import deploy

    return deploy


class _Commands(click.Group):
    """A group whose commands in other modules are imported on first use."""

    lazy: ClassVar[dict[str, Callable[[], click.Command]]] = {"audit": _audit, "deploy": _deploy}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy and cmd_name not in self.commands:
            self.add_command(self.lazy[cmd_name](), cmd_name)
        return super().get_command(ctx, cmd_name)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """bmlb: Kubernetes LoadBalancer Services on kernel IPVS, with the Palo Alto firewall kept in step."""


_files = click.option("-f", "--filename", "paths", multiple=True,
                      type=click.Path(exists=True, allow_dash=True),
                      help="Manifest file or folder, or - for standard input (repeatable).")
_kustomize = click.option("-k", "--kustomize", "kustomizations", multiple=True,
                          type=click.Path(exists=True, file_okay=False),
                          help="Kustomization folder, rendered with `kubectl kustomize` (repeatable).")
_recursive = click.option("-R", "--recursive", is_flag=True, help="Descend into sub-folders.")

EXIT_OK, EXIT_FINDINGS, EXIT_CANNOT_RUN = 0, 1, 2


def _load(command: str, paths: tuple[str, ...], kustomizations: tuple[str, ...], recursive: bool,
          cannot_run: int = EXIT_CANNOT_RUN) -> tuple[list[manifests.Document], list[manifests.LoadError]]:
    from controller.core import manifests

    if not paths and not kustomizations:
        echo(f"bmlb {command}: give manifests with -f FILE|DIR|- or -k DIR", err=True)
        sys.exit(cannot_run)
    try:
        return manifests.load(paths, recursive=recursive, kustomizations=kustomizations)
    except manifests.InputError as err:
        echo(f"bmlb {command}: {err}", err=True)
        sys.exit(cannot_run)


@main.command()
@_files
@_kustomize
@_recursive
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@click.option("-o", "--output", type=click.Choice(["text", "json", "junit", "sarif", "github"]), default="text",
              show_default=True, help="text: one line per finding; json; junit (XML); sarif (2.1.0, code "
                                      "scanning); github (workflow commands annotating the lines).")
def validate(paths: tuple[str, ...], kustomizations: tuple[str, ...], recursive: bool, strict: bool,
             output: str) -> None:
    """Check manifests against the CRD schemas and bmlb's cross-object rules, offline.

    Text output: one line per finding, FILE:DOC: Kind namespace/name: field.path: message
    (standard input is named "stdin"; -k DIR is named "kustomize:DIR").

    Exit 0: no errors; 1: errors (or, with --strict, warnings) found; 2: could not run (bad
    arguments, an unreadable path, -k without kubectl or a kustomization that does not build).
    """
    from controller.cli import reports
    from controller.core.validate import check

    docs, errors = _load("validate", paths, kustomizations, recursive)
    findings, _ = check(docs, errors)
    rendered = reports.render(output, findings, docs, strict=strict)
    if output in ("text", "github"):
        echo(rendered, nl=False)
    else:
        click.echo(rendered, nl=False)
    s = reports.summary(docs, findings)
    click.echo(f"{s['objects']} objects, {s['errors']} errors, {s['warnings']} warnings", err=True)
    sys.exit(EXIT_FINDINGS if any(reports.is_failure(f, strict) for f in findings) else EXIT_OK)


class _ErrorIsOne(click.Command):
    """`bmlb plan` exits 1 on any error, bad arguments included: with --detailed-exitcode, 2 means
    "changes" (terraform's convention), never a usage error."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as err:
            err.exit_code = EXIT_FINDINGS
            raise


@main.command(cls=_ErrorIsOne)
@_files
@_kustomize
@_recursive
@click.option("-o", "--output", type=click.Choice(["text", "json", "yaml", "panos-set"]), default="text",
              show_default=True)
@click.option("--against", default=None, metavar="FILE|FIREWALL",
              help="Show the change set against this: a PAN-OS running-config XML export (`show config "
                   "running`), or the name of a Firewall object among the manifests (read-only, with the "
                   "credentials `bmlb audit` uses).")
@click.option("--firewall", "firewall_name", default=None,
              help="With --against FILE: the Firewall object whose plan is compared (default: the only one).")
@click.option("--detailed-exitcode", is_flag=True,
              help="With --against: exit 0 when nothing would change, 2 when something would, 1 on error.")
@click.option("--api-key-file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="With --against FIREWALL: a file holding an API key (else the Firewall's credentials Secret).")
@click.option("--ca-file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="With --against FIREWALL: CA bundle to verify the firewall with.")
@click.option("--host", default=None, help="With --against FIREWALL: override the Firewall's host.")
@click.option("--port", type=int, default=None, help="With --against FIREWALL: override the Firewall's port.")
def plan(paths: tuple[str, ...], kustomizations: tuple[str, ...], recursive: bool, output: str,
         against: str | None, firewall_name: str | None, detailed_exitcode: bool, api_key_file: str | None,
         ca_file: str | None, host: str | None, port: int | None) -> None:
    """Show what bmlb would put on the firewall and in each node's IPVS table.

    With --against: what bmlb would DO to that firewall (add/change/delete/move per object and
    attribute, with each object's owner); nothing is ever written to a device.
    """
    from controller.core import render
    from controller.core.validate import check

    if against is not None:
        from controller.cli import changes as cli_changes

        sys.exit(cli_changes.run(paths=paths, kustomizations=kustomizations, recursive=recursive,
                                 output=output, against=against, firewall_name=firewall_name,
                                 detailed=detailed_exitcode, api_key_file=api_key_file, ca_file=ca_file,
                                 host=host, port=port))
    docs, errors = _load("plan", paths, kustomizations, recursive, cannot_run=EXIT_FINDINGS)
    findings, compiled = check(docs, errors)
    if output == "json":
        click.echo(render.as_json(compiled), nl=False)
    elif output == "yaml":
        click.echo(render.as_yaml(compiled), nl=False)
    elif output == "panos-set":
        try:
            click.echo(render.plan_panos_set(compiled), nl=False)
        except render.UnsafeValue as err:
            echo(f"bmlb plan: refusing to print set commands: {err}", err=True)
            sys.exit(1)
    else:
        echo(render.text(compiled), nl=False)
    schema_errors = [f for f in findings if f.severity is Severity.ERROR]
    if schema_errors and output == "text":
        click.echo("\nERRORS (objects left out of the plan or partly planned)", err=True)
        for f in schema_errors:
            echo(f"  {f}", err=True)
    sys.exit(1 if schema_errors else 0)


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
    from controller.runtime import operator

    _logging(verbose)
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
    from controller.runtime import agent as agent_mod

    _logging(verbose)
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


def _logging(verbose: bool) -> None:
    import logging

    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not verbose:  # one line per handled watch event is noise at INFO
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
