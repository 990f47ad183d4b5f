"""How a sync runs: where on the device, what we own, how to place rules, drift and commit policy."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from firewall import names
from firewall.errors import ConfigurationError
from firewall.model import Anchor, Position


class DriftMode(enum.Enum):
    REPORT = "report"  # say which attribute of which object differs; restore nothing
    ENFORCE = "enforce"  # restore the desired state


class Rulebase(enum.Enum):
    PRE = "pre"
    POST = "post"


@dataclass(frozen=True, slots=True)
class SyncConfig:
    """`device_group` set: Panorama (its `rulebase`); else the firewall's `vsys`.

    Ownership: addresses, services and rules are ours when they carry `ownership_tag`; tags and
    static routes cannot carry tags, so they are ours when named `ownership_tag` or starting with
    `owned_prefix`. Nothing else is ever edited, moved or deleted.
    `commit_foreign_pending`: proceed when other admins have pending changes (the commit is still
    a partial commit of `admin`'s changes only).
    `admin`: whose changes we commit; default the user the API key belongs to (see Device.admin).
    `multi_config`: None = by PAN-OS version; False = one request per change.
    """

    ownership_tag: str = "bmlb-managed"
    owned_prefix: str = "bmlb-"
    anchor: Anchor = field(default_factory=Anchor)
    nat_anchor: Anchor | None = None  # None: same as `anchor` (a before/after rule must then be in both)
    drift: DriftMode = DriftMode.ENFORCE
    commit_foreign_pending: bool = False
    vsys: str = "vsys1"
    device_group: str | None = None
    rulebase: Rulebase = Rulebase.PRE
    admin: str | None = None
    lock: bool = True
    lock_scope: str = "shared"
    ha_check: bool = True
    multi_config: bool | None = None
    batch_ops: int = 500
    batch_bytes: int = 1_000_000
    commit_timeout: float = 600.0
    commit_retry_seconds: float = 5.0
    poll_interval: float = 0.5
    retries: int = 3
    commit_description: str = "bmlb sync"

    def __post_init__(self) -> None:
        if not names.is_valid_tag(self.ownership_tag):
            raise ConfigurationError(f"invalid ownership tag {self.ownership_tag!r}")
        for anchor in (self.anchor, self.nat_anchor):
            if anchor is None:
                continue
            needs_rule = anchor.position in (Position.BEFORE, Position.AFTER)
            if needs_rule != (anchor.rule is not None):
                raise ConfigurationError(f"anchor {anchor.position.value} {'needs' if needs_rule else 'takes no'} rule")
            if anchor.rule is not None and not names.is_valid_name(anchor.rule):
                raise ConfigurationError(f"invalid anchor rule name {anchor.rule!r}")
        for value, what in ((self.vsys, "vsys"), (self.device_group, "device group"), (self.admin, "admin")):
            if value is not None and not names.is_valid_name(value):
                raise ConfigurationError(f"invalid {what} {value!r}")
        if len(self.commit_description) > 512:
            raise ConfigurationError("commit description is longer than 512 characters")

    @property
    def panorama(self) -> bool:
        return self.device_group is not None

    def anchor_for(self, rulebase: str) -> Anchor:
        return self.nat_anchor if rulebase == "nat" and self.nat_anchor is not None else self.anchor

    def owns_name(self, name: str) -> bool:
        return name == self.ownership_tag or name.startswith(self.owned_prefix)
