"""`bmlb audit`: read what bmlb owns on a firewall (read-only), compile the cluster, and report
owners, orphans, drift, any-source rules and NAT mismatches (controller/core/audit.py)."""

from __future__ import annotations

import dataclasses
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click

from controller.cli.terminal import echo
from controller.core.snapshot import Body, Snapshot
from controller.runtime import clock

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


class AuditError(Exception):
    """Anything that stops the audit before a report exists (exit 2)."""


@click.command("audit")
@click.option("--kubeconfig", envvar="KUBECONFIG", default=None,
              help="Read the cluster through this kubeconfig (default: in-cluster, then ~/.kube/config).")
@click.option("-f", "--filename", "paths", multiple=True, type=click.Path(exists=True, allow_dash=True),
              help="Read manifests (file or folder, - for standard input; repeatable) instead of a cluster.")
@click.option("-k", "--kustomize", "kustomizations", multiple=True, type=click.Path(exists=True, file_okay=False),
              help="Read a kustomization (rendered with `kubectl kustomize`; repeatable) instead of a cluster.")
@click.option("-R", "--recursive", is_flag=True, help="With -f: descend into sub-folders.")
@click.option("--firewall", "firewall_name", default=None, help="The Firewall object to audit (default: the only one).")
@click.option("--host", default=None, help="Override the Firewall's host.")
@click.option("--port", type=int, default=None, help="Override the Firewall's port.")
@click.option("--ca-file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="CA bundle (PEM) to verify the firewall with, instead of the Firewall's caBundle.")
@click.option("--api-key-file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="File holding an API key (instead of the Firewall's credentials Secret).")
@click.option("--username", default=None, help="Username (with --password-file).")
@click.option("--password-file", type=click.Path(exists=True, dir_okay=False), default=None)
@click.option("-o", "--output", type=click.Choice(["text", "json", "html", "markdown"]), default="text",
              show_default=True, help="markdown: for a ticket.")
@click.option("--service", "service", default=None, metavar="NS/NAME",
              help="The exposure matrix of this Service alone.")
@click.option("--out", "out_file", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write the report here instead of standard output.")
@click.option("--strict", is_flag=True,
              help="Any-source allow rules, shadowed rules and routes to unhealthy nodes are findings too (exit 1).")
@click.option("--allow-insecure", is_flag=True,
              help="Honour a Firewall's insecureSkipTLSVerify (without it, such a Firewall is refused).")
def audit(kubeconfig: str | None, paths: tuple[str, ...], kustomizations: tuple[str, ...], recursive: bool,
          firewall_name: str | None,
          host: str | None, port: int | None, ca_file: str | None, api_key_file: str | None, username: str | None,
          password_file: str | None, output: str, service: str | None, out_file: str | None, strict: bool,
          allow_insecure: bool) -> None:
    """Audit a firewall against the cluster: every bmlb object and its Kubernetes owner, orphans,
    drift per attribute, allow rules open to any source, NAT rules not pointing at the Service VIP.

    Also, from the whole rulebase on the device (foreign rules included): managed rules shadowed or
    made redundant by an earlier rule, each managed rule's position among foreign ones, who can
    reach each Service (the exposure matrix), and bmlb's static routes with the health of the node
    behind each next hop.

    Read-only on both sides. Exit 0: clean; 1: findings (orphans, stale owners, drift, NAT
    mismatches; with --strict also any-source rules, shadowed rules, routes to unhealthy nodes);
    2: the audit could not run.
    """
    from controller.cli import audit_render

    try:
        report = run(kubeconfig=kubeconfig, paths=paths, kustomizations=kustomizations, recursive=recursive,
                     firewall_name=firewall_name,
                     host=host, port=port, ca_file=ca_file, api_key_file=api_key_file, username=username,
                     password_file=password_file, allow_insecure=allow_insecure, service=service)
    except AuditError as err:
        echo(f"bmlb audit: {err}", err=True)
        sys.exit(EXIT_ERROR)
    rendered = {"json": audit_render.as_json, "html": audit_render.html, "text": audit_render.text,
                "markdown": audit_render.markdown}[output](report)
    if out_file:
        Path(out_file).write_text(rendered)
        s = report.summary()
        click.echo(f"wrote {out_file}: {s['objects']} objects, {s['orphans']} orphans, {s['drift']} drift, "
                   f"{s['any_source']} any-source, {s['nat_mismatches']} NAT mismatches, {s['shadowed']} shadowed, "
                   f"{s['exposure']} exposure rows", err=True)
    elif output == "text":
        echo(rendered, nl=False)
    else:
        click.echo(rendered, nl=False)
    sys.exit(EXIT_CLEAN if report.clean(strict=strict) else EXIT_FINDINGS)


def run(*, kubeconfig: str | None, paths: tuple[str, ...], recursive: bool, firewall_name: str | None,
        host: str | None, port: int | None, ca_file: str | None, api_key_file: str | None, username: str | None,
        password_file: str | None, allow_insecure: bool = False, kustomizations: tuple[str, ...] = (),
        service: str | None = None) -> Any:
    from controller.core.audit import audit as audit_core
    from controller.core.compiler import compile
    from controller.core.specs import FirewallSpec

    secrets: dict[tuple[str, str], dict[str, str]] = {}
    if paths or kustomizations:
        snapshot, secrets = _from_manifests(paths, recursive, kustomizations)
        origin = "manifests " + ", ".join([*paths, *(f"kustomize:{k}" for k in kustomizations)])
        read_secret = None
    else:
        snapshot, read_secret = _from_cluster(kubeconfig)
        origin = f"cluster ({kubeconfig or 'default kubeconfig'})"

    compiled = compile(snapshot)
    names = [t.name for t in compiled.firewalls if t.spec is not None]
    if firewall_name is None:
        if len(names) > 1:
            raise AuditError(f"there are {len(names)} Firewalls ({', '.join(names)}); choose one with --firewall")
        firewall_name = names[0] if names else None
    if firewall_name is None:  # no Firewall object: audit the plan of the default target at --host
        if not host:
            raise AuditError("no Firewall object found; give --firewall, or --host and credentials")
        target = compiled.firewall("default")
        from firewall.model import DesiredFirewall

        desired = target.desired if target else DesiredFirewall(ownership_tag="bmlb-managed")
        spec: FirewallSpec | None = None
        firewall_name = "default"
    else:
        target = compiled.firewall(firewall_name)
        if target is None or target.spec is None:
            raise AuditError(f"no Firewall named {firewall_name!r} (have: {', '.join(names) or 'none'})")
        desired, spec = target.desired, target.spec

    present = {f"{(s.get('metadata') or {}).get('namespace')}/{(s.get('metadata') or {}).get('name')}"
               for s in snapshot.services}
    if service is not None and service not in present:
        raise AuditError(f"--service {service}: no such Service (give NAMESPACE/NAME)")
    actual, endpoint, policy = read_device(spec, firewall_name, desired_tag=desired.ownership_tag, host=host,
                                           port=port, ca_file=ca_file, api_key_file=api_key_file, username=username,
                                           password_file=password_file, secrets=secrets, read_secret=read_secret,
                                           allow_insecure=allow_insecure, owned=True, with_policy=True)
    source = (("firewall", f"{endpoint.host}:{endpoint.port}"), ("cluster", origin),
              ("at", clock.now()))
    return audit_core(actual=actual, desired=desired, snapshot=snapshot, firewall=firewall_name, source=source,
                      policy=policy, service=service)


def read_device(spec: Any, firewall_name: str, *, desired_tag: str, host: str | None, port: int | None,
                ca_file: str | None, api_key_file: str | None, username: str | None, password_file: str | None,
                secrets: dict[tuple[str, str], dict[str, str]], read_secret: Any, allow_insecure: bool,
                owned: bool, config: Any = None, with_policy: bool = False) -> tuple[Any, Any, Any]:
    """Read-only: (what bmlb owns as a DesiredFirewall if `owned`, else the firewall.snapshot
    Snapshot; the Endpoint read; with_policy: the whole running rulebase for the audit's
    effectiveness and exposure analyses, else None), with the credentials and TLS settings
    `bmlb audit` uses.
    AuditError when it cannot (credentials, TLS policy, the device's answer)."""
    from controller.runtime import fwsession
    from firewall import reader
    from firewall.device import connect
    from firewall.errors import FirewallError

    creds = _credentials(spec, api_key_file=api_key_file, username=username, password_file=password_file,
                         secrets=secrets, read_secret=read_secret)
    ca, scratch = ca_file, None
    if ca is None and spec is not None and spec.ca_bundle:
        scratch = Path(tempfile.mkdtemp(prefix="bmlb-audit-ca-"))
        ca = fwsession.ca_file(spec.ca_bundle, scratch)
    insecure = bool(spec and spec.insecure_skip_tls_verify and not ca_file)
    if insecure and not allow_insecure:
        raise AuditError(f"Firewall {firewall_name!r} sets insecureSkipTLSVerify; refusing an unverified "
                         "connection without --allow-insecure (or give --ca-file)")
    endpoint = fwsession.endpoint(spec, ca_file=ca, insecure=insecure, host=host, port=port)
    try:
        if config is None:
            config = fwsession.read_scope(spec, ownership_tag=desired_tag)
        device = connect(endpoint, creds)
        actual = reader.read_owned(device, config) if owned else reader.read(device, config)
        policy = _policy(device, config) if with_policy else None
    except FirewallError as err:
        raise AuditError(f"firewall {endpoint.host}:{endpoint.port}: {type(err).__name__}: {err}") from None
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    return actual, endpoint, policy


def _policy(device: Any, config: Any) -> Any:
    """The whole rulebase, objects, zones, interfaces and routes of the RUNNING config (what is in
    effect; two reads: the device entry and shared)."""
    from controller.core import audit_rulebase
    from controller.core.audit_inputs import parse_owner
    from firewall import xpaths

    return audit_rulebase.parse(device.running(xpaths.DEVICE), device.running("/config/shared"),
                                vsys=config.vsys, device_group=config.device_group, rulebase=config.rulebase.value,
                                ownership_tag=config.ownership_tag, owner_of=parse_owner)


def _credentials(spec: Any, *, api_key_file: str | None, username: str | None, password_file: str | None,
                 secrets: dict[tuple[str, str], dict[str, str]], read_secret: Any) -> Any:
    from controller.runtime import fwsession
    from firewall.device import Credentials

    if api_key_file or password_file:
        key = Path(api_key_file).read_text().strip() if api_key_file else None
        password = Path(password_file).read_text().strip() if password_file else None
        if not key and not (username and password):
            raise AuditError("--api-key-file, or --username with --password-file, is needed")
        return Credentials(api_key=key or None, username=username, password=password)
    if spec is None:
        raise AuditError("no Firewall object names a credentials Secret: give --api-key-file "
                         "or --username/--password-file")
    ref = (spec.credentials_secret.namespace, spec.credentials_secret.name)
    if read_secret is not None:
        data = read_secret(*ref)
    elif ref in secrets:
        data = secrets[ref]
    else:
        raise AuditError(f"Secret {ref[0]}/{ref[1]} is not among the manifests: give --api-key-file "
                         "or --username/--password-file")
    creds = fwsession.credentials(data, username=username)
    if not creds.api_key and not (creds.username and creds.password):
        raise AuditError(f"Secret {ref[0]}/{ref[1]} holds no apiKey, nor username and password")
    return creds


def _from_manifests(paths: Iterable[str], recursive: bool, kustomizations: Iterable[str] = ()
                    ) -> tuple[Snapshot, dict[tuple[str, str], dict[str, str]]]:
    import base64

    from controller.cli import manifest_files
    from controller.core import manifests

    try:
        docs, errors = manifest_files.load(paths, recursive=recursive, kustomizations=kustomizations)
    except manifests.InputError as err:
        raise AuditError(str(err)) from None
    if errors:
        raise AuditError("; ".join(str(e) for e in errors))
    secrets = {}
    for d in docs:
        if d.body.get("kind") == "Secret":
            meta = d.body.get("metadata") or {}
            data = {k: base64.b64decode(v).decode() for k, v in (d.body.get("data") or {}).items()}
            data.update(d.body.get("stringData") or {})
            secrets[(str(meta.get("namespace") or "default"), str(meta.get("name") or ""))] = data
    return Snapshot.of(d.body for d in docs), secrets


def _from_cluster(kubeconfig: str | None) -> tuple[Snapshot, Any]:
    from controller.core import kinds
    from controller.core.snapshot import DEFAULT_LEASE_NAMESPACE
    from controller.runtime.informer import Watched
    from controller.runtime.kube import Kube, KubeError
    from controller.runtime.kubeapi import ApiError, ConfigError

    try:
        kube = Kube.from_config(kubeconfig)
    except (ConfigError, OSError) as err:
        raise AuditError(f"kubeconfig: {err}") from None

    def items(kind: kinds.Kind, namespace: str | None = None) -> list[Body]:
        """Every object of `kind`, as the API server holds it."""
        out: list[Body] = []
        for page in kube.api.pages(Watched(kind.kind, kind.group, kind.version, kind.plural, namespace).path):
            listed = page.get("items")
            out += [{**it, "kind": kind.kind, "apiVersion": kind.api_version}
                    for it in (listed if isinstance(listed, list) else []) if isinstance(it, dict)]
        return out

    bodies: list[Body] = []
    try:
        for kind in (kinds.SERVICE, kinds.ENDPOINT_SLICE, kinds.NODE, *kinds.CUSTOM):
            bodies += items(kind)
        bodies += items(kinds.LEASE, DEFAULT_LEASE_NAMESPACE)
    except ApiError as err:
        raise AuditError(f"reading the cluster: {err.status} {err.reason}") from None
    except Exception as err:  # urllib3 raises many kinds of connection errors
        raise AuditError(f"reading the cluster: {type(err).__name__}: {err}") from None

    def read_secret(namespace: str, name: str) -> dict[str, str]:
        try:
            return kube.read_secret(namespace, name)
        except KubeError as err:
            raise AuditError(str(err)) from None

    return dataclasses.replace(Snapshot.of(bodies), now=time.time()), read_secret
