"""How a Firewall object becomes a device session: its credentials Secret, its endpoint and
its sync scope. The controller's sync (fwlink.py) and the CLI's reads (`bmlb audit`,
`bmlb changes`) build sessions only through here."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from pathlib import Path

from controller.core.specs import FirewallSpec
from firewall.config import DriftMode, Rulebase, SyncConfig
from firewall.device import Credentials, Endpoint
from firewall.model import Anchor, Position


def credentials(secret: Mapping[str, str], *, username: str | None = None) -> Credentials:
    """The credentials a Secret holds: apiKey (or api-key), else username and password;
    `username` (a CLI flag) wins over the Secret's."""
    return Credentials(api_key=secret.get("apiKey") or secret.get("api-key") or None,
                       username=username or secret.get("username") or None,
                       password=secret.get("password") or None)


def ca_file(bundle: str, folder: Path) -> str:
    """A Firewall's caBundle as a file in `folder` (named by its hash, written once): TLS
    verification reads certificates from a file."""
    path = folder / (hashlib.sha256(bundle.encode()).hexdigest()[:16] + ".pem")
    if not path.exists():
        path.write_text(bundle)
    return str(path)


def endpoint(spec: FirewallSpec | None, *, ca_file: str | None, insecure: bool, host: str | None = None,
             port: int | None = None) -> Endpoint:
    """Where to connect: the spec's host and port unless overridden (the CLI may name a device
    with no Firewall object at all)."""
    return Endpoint(host=host or (spec.host if spec else ""), port=port or (spec.port if spec else 443),
                    ca_bundle=ca_file, insecure_skip_tls_verify=insecure,
                    panorama=spec is not None and spec.type == "panorama")


def read_scope(spec: FirewallSpec | None, *, ownership_tag: str) -> SyncConfig:
    """Enough of a SyncConfig to read: which vsys or device group, which rulebase, whose tag."""
    panorama = spec is not None and spec.type == "panorama"
    return SyncConfig(ownership_tag=ownership_tag, vsys=spec.vsys if spec else "vsys1",
                      device_group=spec.device_group if spec and panorama else None,
                      rulebase=Rulebase(spec.rulebase) if spec else Rulebase.PRE)


def sync_config(spec: FirewallSpec) -> SyncConfig:
    """The whole SyncConfig the controller syncs with (raises ConfigurationError when the
    firewall package refuses it)."""
    return dataclasses.replace(
        read_scope(spec, ownership_tag=spec.ownership_tag),
        anchor=Anchor(Position(spec.placement.position), spec.placement.rule), drift=DriftMode(spec.drift),
        commit_foreign_pending=spec.commit.commit_foreign_pending, admin=spec.admin)
