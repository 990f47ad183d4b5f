"""The controller's link to each Firewall: credentials from its Secret, TLS from its CA bundle,
and one sync of the desired state per reconcile, reported as a FirewallOutcome."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller import conditions, specs
from controller.compiler import FirewallTarget
from controller.conditions import FirewallOutcome
from controller.kube import Kube, KubeError, now
from controller.metrics import Metrics
from controller.problems import ObjectRef

log = logging.getLogger("bmlb.fwlink")


@dataclass
class FirewallLinks:
    kube: Kube
    metrics: Metrics
    allow_insecure: bool = False
    reports: dict[str, Any] = field(default_factory=dict)
    _ca_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="bmlb-ca-")))

    def _ca_file(self, spec: specs.FirewallSpec) -> str | None:
        if not spec.ca_bundle:
            return None
        path = self._ca_dir / (hashlib.sha256(spec.ca_bundle.encode()).hexdigest()[:16] + ".pem")
        if not path.exists():
            path.write_text(spec.ca_bundle)
        return str(path)

    async def sync(self, target: FirewallTarget) -> FirewallOutcome:
        return await asyncio.to_thread(self._sync, target)

    def _sync(self, target: FirewallTarget) -> FirewallOutcome:
        spec = target.spec
        assert spec is not None
        try:
            secret = self.kube.read_secret(spec.credentials_secret.namespace, spec.credentials_secret.name)
        except KubeError as err:
            return FirewallOutcome(False, "CredentialsUnavailable", str(err))
        if spec.insecure_skip_tls_verify and not self.allow_insecure:
            log.warning("Firewall %s: insecureSkipTLSVerify is set; TLS is not verified", target.name)
        started = time.monotonic()
        outcome, report = sync_target(target, secret=secret, ca_file=self._ca_file(spec))
        self.reports[target.name] = report
        if report is not None:
            commits = int(getattr(report, "commits", 0) or 0)
            writes = int(getattr(report, "writes", 0) or 0)
            if commits:
                self.metrics.commits.labels(target.name).inc(commits)
                commit_time = getattr(report, "commit_seconds", None)
                if commit_time:
                    self.metrics.commit_seconds.labels(target.name).observe(commit_time)
            if writes:
                self.metrics.writes.labels(target.name).inc(writes)
        self._write_firewall_status(target, outcome, report)
        log.info("Firewall %s synced in %.2fs: %s", target.name, time.monotonic() - started, outcome.reason)
        return outcome

    def _write_firewall_status(self, target: FirewallTarget, outcome: FirewallOutcome, report: Any) -> None:
        ref = ObjectRef("Firewall", "", target.name)
        synced = conditions.Condition("FirewallSynced", "True" if outcome.ok else "False", outcome.reason,
                                      outcome.message)
        conds = [conditions.Condition("Accepted", "True", "Valid", "the spec is valid"), synced,
                 conditions.ready(synced)]
        status: dict[str, Any] = {
            "conditions": conditions.render(conds, old=[], generation=0, now=now()),
            "lastSyncTime": now(),
        }
        if report is not None:
            job = getattr(report, "commit_job", None)
            if job:
                status["lastCommitJob"] = str(job)
            status["managedObjects"] = int(getattr(report, "managed", 0) or 0)
            status["drift"] = [str(d) for d in getattr(report, "drift", ()) or ()][:100]
        try:
            self.kube.patch_status(ref, status)
        except KubeError as err:
            log.warning("Firewall %s status not written: %s", target.name, err)


def sync_target(target: FirewallTarget, *, secret: dict[str, str], ca_file: str | None
                ) -> tuple[FirewallOutcome, Any]:
    """Connect, sync once, and translate the engine's report or error into an outcome."""
    raise NotImplementedError  # wired to firewall.sync once the engine's API lands
