"""The `bmlb` command line."""

from __future__ import annotations

import sys

import click

from controller import manifests, render
from controller.problems import Severity


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """bmlb: Kubernetes LoadBalancer Services on kernel IPVS, with the Palo Alto firewall kept in step."""


_files = click.option("-f", "--filename", "paths", multiple=True, required=True,
                      type=click.Path(exists=True), help="Manifest file or folder (repeatable).")
_recursive = click.option("-R", "--recursive", is_flag=True, help="Descend into sub-folders.")


@main.command()
@_files
@_recursive
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
def validate(paths: tuple[str, ...], recursive: bool, strict: bool) -> None:
    """Check manifests against the CRD schemas and bmlb's cross-object rules, offline.

    Prints one line per finding, FILE:DOC: Kind namespace/name: field.path: message,
    and exits 1 if any error (or, with --strict, any warning) was found.
    """
    from controller.validate import check

    docs, errors = manifests.load(paths, recursive=recursive)
    findings, _ = check(docs, errors)
    for f in findings:
        click.echo(str(f))
    bad = [f for f in findings if f.severity is Severity.ERROR or strict]
    n_err = sum(1 for f in findings if f.severity is Severity.ERROR)
    click.echo(f"{len(docs)} objects, {n_err} errors, {len(findings) - n_err} warnings", err=True)
    sys.exit(1 if bad else 0)


@main.command()
@_files
@_recursive
@click.option("-o", "--output", type=click.Choice(["text", "json", "yaml", "panos-set"]), default="text",
              show_default=True)
def plan(paths: tuple[str, ...], recursive: bool, output: str) -> None:
    """Show what bmlb would put on the firewall and in each node's IPVS table."""
    from controller.validate import check

    docs, errors = manifests.load(paths, recursive=recursive)
    findings, compiled = check(docs, errors)
    if output == "json":
        click.echo(render.as_json(compiled), nl=False)
    elif output == "yaml":
        click.echo(render.as_yaml(compiled), nl=False)
    elif output == "panos-set":
        click.echo(render.plan_panos_set(compiled), nl=False)
    else:
        click.echo(render.text(compiled), nl=False)
    schema_errors = [f for f in findings if f.severity is Severity.ERROR]
    if schema_errors and output == "text":
        click.echo("\nERRORS (objects left out of the plan or partly planned)", err=True)
        for f in schema_errors:
            click.echo(f"  {f}", err=True)
    sys.exit(1 if schema_errors else 0)


@main.command("firewall-sim", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
def firewall_sim(ctx: click.Context) -> None:
    """Run the PAN-OS XML API simulator over HTTPS on loopback (see --help of the simulator)."""
    from firewall.sim.server import main as sim_main

    sys.exit(sim_main(list(ctx.args)) or 0)


if __name__ == "__main__":
    main()
