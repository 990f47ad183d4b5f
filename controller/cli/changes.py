"""`bmlb plan --against FILE|FIREWALL`: the change set against an exported running config or a live
firewall (read-only, through `bmlb audit`'s credentials path); controller/core/changes.py does the work.

Exit codes follow terraform plan: 0 success (with --detailed-exitcode: 0 no changes, 2 changes),
1 error. Nothing is ever written to a device.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import click

from controller.cli.terminal import echo

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2


class PlanError(Exception):
    pass


def sync_config(spec: Any, ownership_tag: str) -> Any:
    """The SyncConfig a sync of this Firewall runs with (as controller/runtime/fwlink.py builds it)."""
    from firewall.config import DriftMode, Rulebase, SyncConfig
    from firewall.model import Anchor, Position

    if spec is None:
        return SyncConfig(ownership_tag=ownership_tag)
    panorama = spec.type == "panorama"
    return SyncConfig(ownership_tag=spec.ownership_tag,
                      anchor=Anchor(Position(spec.placement.position), spec.placement.rule),
                      drift=DriftMode(spec.drift), vsys=spec.vsys,
                      device_group=spec.device_group if panorama else None, rulebase=Rulebase(spec.rulebase),
                      admin=spec.admin)


def read_export(path: str, config: Any) -> Any:
    from firewall import reader

    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise PlanError(f"cannot read {path}: {err.strerror}") from None
    try:
        root = ET.fromstring(data)
    except ET.ParseError as err:
        raise PlanError(f"{path}: not XML: {err}") from None
    try:
        return reader.read_export(root, config)
    except ValueError as err:
        raise PlanError(f"{path}: {err}") from None


def run(*, paths: tuple[str, ...], kustomizations: tuple[str, ...], recursive: bool, output: str, against: str,
        firewall_name: str | None, detailed: bool, api_key_file: str | None, ca_file: str | None,
        host: str | None, port: int | None) -> int:
    try:
        return _run(paths=paths, kustomizations=kustomizations, recursive=recursive, output=output,
                    against=against, firewall_name=firewall_name, detailed=detailed, api_key_file=api_key_file,
                    ca_file=ca_file, host=host, port=port)
    except PlanError as err:
        echo(f"bmlb plan: {err}", err=True)
        return EXIT_ERROR


def _run(*, paths: tuple[str, ...], kustomizations: tuple[str, ...], recursive: bool, output: str, against: str,
         firewall_name: str | None, detailed: bool, api_key_file: str | None, ca_file: str | None,
         host: str | None, port: int | None) -> int:
    from controller.cli.audit import AuditError, read_device
    from controller.core import changes
    from firewall.model import DesiredFirewall
    from firewall.order import AnchorMissing

    if output == "yaml":
        raise PlanError("-o yaml is not a change-set format with --against: use text, json or panos-set")
    docs, compiled = _compiled(paths, kustomizations, recursive)
    is_file = Path(against).is_file()
    firewall_name = _firewall_name(compiled, against, firewall_name, is_file=is_file)
    target = compiled.firewall(firewall_name)
    desired = target.desired if target else DesiredFirewall(ownership_tag="bmlb-managed")
    spec = target.spec if target else None
    config = sync_config(spec, desired.ownership_tag)

    if is_file:
        actual = read_export(against, config)
        label = against
    else:
        try:
            actual, endpoint, _ = read_device(
                spec, firewall_name, desired_tag=desired.ownership_tag, host=host, port=port, ca_file=ca_file,
                api_key_file=api_key_file, username=None, password_file=None, secrets=_secrets(docs),
                read_secret=None, allow_insecure=False, owned=False, config=config)
        except AuditError as err:
            raise PlanError(str(err)) from None
        label = f"Firewall {firewall_name} ({endpoint.host}:{endpoint.port}, read-only)"
    try:
        cs, plan = changes.plan_changes(desired, actual, config, firewall=firewall_name, against=label)
    except AnchorMissing as err:
        raise PlanError(f"placement: {err}") from None
    _print(cs, plan, config, output)
    if detailed and not cs.empty:
        return EXIT_CHANGES
    return EXIT_OK


def _compiled(paths: tuple[str, ...], kustomizations: tuple[str, ...], recursive: bool) -> tuple[list[Any], Any]:
    """The manifests and their plan; any error in them stops here (a partial plan would show the
    left-out objects' firewall rules as deleted)."""
    from controller.cli import manifest_files
    from controller.core import manifests
    from controller.core.problems import Severity
    from controller.core.validate import check

    if not paths and not kustomizations:
        raise PlanError("give manifests with -f FILE|DIR|- or -k DIR")
    try:
        docs, load_errors = manifest_files.load(paths, recursive=recursive, kustomizations=kustomizations)
    except manifests.InputError as err:
        raise PlanError(str(err)) from None
    findings, compiled = check(docs, load_errors)
    errors = [f for f in findings if f.severity is Severity.ERROR]
    if errors:
        for f in errors:
            echo(f"  {f}", err=True)
        raise PlanError(f"{len(errors)} errors in the manifests (bmlb validate shows them): no change set")
    return docs, compiled


def _firewall_name(compiled: Any, against: str, firewall_name: str | None, *, is_file: bool) -> str:
    """Which Firewall's plan is compared: the one --against names, else --firewall, else the only one."""
    configured = [t.name for t in compiled.firewalls if t.spec is not None]
    if not is_file and against in configured:  # a Firewall object: read it live, read-only
        if firewall_name not in (None, against):
            raise PlanError(f"--against {against} names a Firewall; --firewall {firewall_name} contradicts it")
        firewall_name = against
    elif not is_file:
        raise PlanError(f"--against {against}: neither a file nor a Firewall among the manifests "
                        f"(have: {', '.join(configured) or 'none'})")
    if firewall_name is None:
        if len(configured) > 1:
            raise PlanError(f"there are {len(configured)} Firewalls ({', '.join(configured)}); "
                            "choose one with --firewall")
        firewall_name = configured[0] if configured else "default"
    if compiled.firewall(firewall_name) is None and firewall_name != "default":
        raise PlanError(f"no Firewall named {firewall_name!r} (have: {', '.join(configured) or 'none'})")
    return firewall_name


def _print(cs: Any, plan: Any, config: Any, output: str) -> None:
    from controller.core import changes, render

    if output == "json":
        click.echo(changes.as_json(cs), nl=False)
    elif output == "panos-set":
        try:
            click.echo(changes.panos_set(plan, config), nl=False)
        except render.UnsafeValue as err:
            raise PlanError(f"refusing to print set commands: {err}") from None
    else:
        echo(changes.text(cs), nl=False)
    for s in cs.skipped:
        echo(f"bmlb plan: skipped {s}", err=True)


def _secrets(docs: list[Any]) -> dict[tuple[str, str], dict[str, str]]:
    import base64
    import binascii

    out = {}
    for d in docs:
        if d.body.get("kind") != "Secret":
            continue
        meta = d.body.get("metadata") or {}
        try:
            data = {str(k): base64.b64decode(str(v)).decode() for k, v in (d.body.get("data") or {}).items()}
        except (binascii.Error, UnicodeDecodeError, ValueError):
            continue
        data.update({str(k): str(v) for k, v in (d.body.get("stringData") or {}).items()})
        out[(str(meta.get("namespace") or "default"), str(meta.get("name") or ""))] = data
    return out
