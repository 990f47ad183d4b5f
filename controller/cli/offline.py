"""`bmlb validate` and `bmlb plan`: manifests in, verdicts and plans out, offline (plan --against
reads a device or an export: controller/cli/changes.py)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from controller.cli.terminal import echo
from controller.core.problems import Severity

if TYPE_CHECKING:
    from controller.core import manifests

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
    from controller.cli import manifest_files
    from controller.core import manifests

    if not paths and not kustomizations:
        echo(f"bmlb {command}: give manifests with -f FILE|DIR|- or -k DIR", err=True)
        sys.exit(cannot_run)
    try:
        return manifest_files.load(paths, recursive=recursive, kustomizations=kustomizations)
    except manifests.InputError as err:
        echo(f"bmlb {command}: {err}", err=True)
        sys.exit(cannot_run)


@click.command()
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


@click.command(cls=_ErrorIsOne)
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
