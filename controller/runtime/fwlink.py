"""The controller's link to each Firewall: credentials from its Secret, TLS from its CA bundle,
and one sync of the desired state per reconcile, reported as a FirewallOutcome."""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.core import conditions, specs
from controller.core.compiler import FirewallTarget
from controller.core.conditions import FirewallOutcome
from controller.core.problems import ObjectRef
from controller.core.reasons import Reason
from controller.runtime import fwsession
from controller.runtime.clock import now
from controller.runtime.kube import Kube, KubeError
from controller.runtime.metrics import Metrics
from firewall import sync as fwsync
from firewall.device import Device, connect
from firewall.diff import Baseline
from firewall.elements import Kind, split_route_id
from firewall.errors import FirewallError
from firewall.sync import SyncReport
from firewall.view import View

log = logging.getLogger("bmlb.fwlink")


@dataclass
class FirewallLinks:
    kube: Kube
    metrics: Metrics
    allow_insecure: bool = False
    devices: dict[str, tuple[object, Device]] = field(default_factory=dict)
    baselines: dict[str, Baseline] = field(default_factory=dict)
    quarantines: dict[str, dict[str, fwsync.Refused]] = field(default_factory=dict)
    views: dict[str, View] = field(default_factory=dict)  # the last verified device view per Firewall
    resync: float | None = None  # overrides every Firewall's resyncSeconds (how old a view may get)
    _ca_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="bmlb-ca-")))

    def _ca_file(self, spec: specs.FirewallSpec) -> str | None:
        return fwsession.ca_file(spec.ca_bundle, self._ca_dir) if spec.ca_bundle else None

    async def sync(self, target: FirewallTarget) -> FirewallOutcome:
        return await asyncio.to_thread(self._sync, target)

    def _sync(self, target: FirewallTarget) -> FirewallOutcome:
        spec = target.spec
        assert spec is not None
        try:
            secret = self.kube.read_secret(spec.credentials_secret.namespace, spec.credentials_secret.name)
        except KubeError as err:
            return FirewallOutcome(False, Reason.CredentialsUnavailable,
                                   f"the credentials Secret of Firewall {target.name} cannot be read",
                                   detail=str(err))
        if spec.insecure_skip_tls_verify and not self.allow_insecure:
            log.warning("Firewall %s: insecureSkipTLSVerify is set; TLS is not verified", target.name)
        started = time.monotonic()
        max_age = float(self.resync if self.resync is not None else spec.resync_seconds)
        outcome, report = sync_target(target, secret=secret, ca_file=self._ca_file(spec), devices=self.devices,
                                      baselines=self.baselines, quarantines=self.quarantines, views=self.views,
                                      max_age=max_age)
        if report is not None:
            if report.committed:
                self.metrics.commits.labels(target.name).inc()
            if report.write_requests:
                self.metrics.writes.labels(target.name).inc(report.write_requests)
        self._write_firewall_status(target, outcome, report, ecmp=self._ecmp(target) if outcome.ok else None)
        how = "" if report is None else (f" (commit {report.commit_seconds:.2f}s; device {report.device_seconds:.2f}s; "
                                         f"read {'everything' if report.full_read else 'changed objects only'})")
        log.info("Firewall %s synced in %.2fs%s: %s: %s", target.name, time.monotonic() - started, how,
                 outcome.reason, outcome.detail or outcome.message)
        return outcome

    def _ecmp(self, target: FirewallTarget) -> conditions.Condition | None:
        """Routed mode: does the virtual router use as many paths as routing.ecmp.maxPaths? Read
        only: bmlb never changes ECMP settings (PAN-OS restarts the virtual router for that)."""
        spec = target.spec
        cached = self.devices.get(target.name)
        if spec is None or spec.routing.mode != "routed" or spec.type != "firewall" or cached is None:
            return None
        vr, want = spec.routing.virtual_router, spec.routing.ecmp.max_paths
        try:
            have = cached[1].ecmp_max_path(vr)
        except FirewallError as err:
            return conditions.Condition("ECMPMatches", "Unknown", Reason.Unreadable, f"virtual router {vr}: {err}")
        if have is None:
            return conditions.Condition("ECMPMatches", "False", Reason.NoVirtualRouter, f"no virtual router {vr!r}")
        if have != want:
            return conditions.Condition(
                "ECMPMatches", "False", Reason.Mismatch,
                f"virtual router {vr} uses {have} path(s) ({'ECMP off' if have == 1 else f'max-path {have}'}), "
                f"routing.ecmp.maxPaths is {want}: set ECMP on the device (bmlb never changes it: that restarts "
                "the virtual router) or change maxPaths")
        return conditions.Condition("ECMPMatches", "True", Reason.Matches, f"virtual router {vr} uses {have} path(s)")

    def _write_firewall_status(self, target: FirewallTarget, outcome: FirewallOutcome, report: Any,
                               ecmp: conditions.Condition | None = None) -> None:
        ref = ObjectRef("Firewall", "", target.name)
        synced = conditions.Condition("FirewallSynced", "True" if outcome.ok else "False", outcome.reason,
                                      outcome.detail or outcome.message)
        conds = [conditions.Condition("Accepted", "True", Reason.Valid, "the spec is valid"), synced,
                 conditions.ready(synced), *([ecmp] if ecmp else [])]
        status: dict[str, Any] = {
            "conditions": conditions.render(conds, old=[], generation=0, now=now()),
            "lastSyncTime": now(),
        }
        if report is not None:
            if report.commit_job is not None:
                status["lastCommitJob"] = str(report.commit_job)
            d = target.desired
            status["managedObjects"] = sum(len(x) for x in (d.tags, d.addresses, d.services, d.security_rules,
                                                             d.nat_rules, d.static_routes))
            status["drift"] = [str(x) for x in report.drift][:100]
        try:
            self.kube.patch_status(ref, status)
        except KubeError as err:
            log.warning("Firewall %s status not written: %s", target.name, err)


# Whole-sync failures whose text is the device's (it may name any object, of any namespace):
# objects hear only the reason; the Firewall's own status carries the words.
_DEVICE_WORDS = frozenset({Reason.CommitFailed, Reason.DeviceRefused, Reason.DuplicateNames, Reason.SyncFailed})


def failure(target: str, err: FirewallError) -> FirewallOutcome:
    reason = err.reason
    text = str(err)
    message = (f"the sync of Firewall {target} failed ({reason}); the Firewall's status has the details"
               if reason in _DEVICE_WORDS else text)
    failed = frozenset(getattr(err, "objects", ()) or ())
    return FirewallOutcome(False, reason, message, failed, detail=text)


def outcome_of(report: SyncReport, *, drift_mode: str) -> FirewallOutcome:
    refused = tuple((e.device_name, Reason.DeviceRefused, f"{e.message} (at {e.phase}; set aside, the rest is in sync)")
                    for e in report.errors)
    refused += tuple((split_route_id(s.name)[2] if s.kind == Kind.ROUTE else s.name, Reason.Skipped, s.reason)
                     for s in report.skipped)
    kept = frozenset(e.device_name for e in report.errors if e.deleting)
    drift = f", {len(report.drift)} drifted objects {'restored' if drift_mode == 'enforce' else 'reported'}" \
        if report.drift else ""
    what = f"{len(report.applied)} changes, commit job {report.commit_job}" if report.committed else "no change"
    message = f"in sync ({what}{drift})"
    detail = message
    if refused:
        message += f"; {len(refused)} objects set aside"
        detail += "; set aside: " + "; ".join(f"{name} ({reason}): {why}" for name, reason, why in refused)
    retry_in = max(0.0, min(r.retry_at for r in report.quarantine.values()) - time.time()) \
        if report.quarantine else None
    return FirewallOutcome(True, Reason.Synced, message, refused=refused, kept=kept, detail=detail, retry_in=retry_in)


def sync_target(target: FirewallTarget, *, secret: dict[str, str], ca_file: str | None,
                devices: dict[str, tuple[object, Device]], baselines: dict[str, Baseline],
                quarantines: dict[str, dict[str, fwsync.Refused]] | None = None,
                views: dict[str, View] | None = None, max_age: float = fwsync.MAX_AGE
                ) -> tuple[FirewallOutcome, SyncReport | None]:
    """Connect (or reuse the connection), sync once, and translate the report or error. With
    `views`, a sync reads only what changed while the last verified view is under `max_age`
    seconds old (the Firewall's resyncSeconds: drift is found within one resync period)."""
    spec = target.spec
    assert spec is not None
    endpoint = fwsession.endpoint(spec, ca_file=ca_file, insecure=spec.insecure_skip_tls_verify)
    creds = fwsession.credentials(secret)
    try:
        config = fwsession.sync_config(spec)
        key = (endpoint, creds)
        cached = devices.get(target.name)
        if cached is None or cached[0] != key:
            devices[target.name] = (key, connect(endpoint, creds))
        device = devices[target.name][1]
        quarantine = quarantines.get(target.name) if quarantines is not None else None
        # Popped, not held here: a sync that reads everything lets the old view go first; a failed sync leaves none.
        report = fwsync.sync(target.desired, device, config=config, baseline=baselines.get(target.name),
                             quarantine=quarantine, view=views.pop(target.name, None) if views is not None else None,
                             max_age=max_age)
    except FirewallError as err:
        if not err.transient:
            devices.pop(target.name, None)  # reconnect next time: credentials or TLS may have changed
        held = getattr(err, "quarantine", None)
        if quarantines is not None and held:
            quarantines[target.name] = dict(held)
        return failure(target.name, err), None
    baselines[target.name] = report.baseline  # the view's own: neither changes it
    if views is not None and report.view is not None:
        views[target.name] = report.view
    if quarantines is not None:
        quarantines[target.name] = dict(report.quarantine)
    return outcome_of(report, drift_mode=spec.drift), report
