"""One sync: read what we own, diff, lock, write in batches, commit once, unlock, report.

    report = sync(desired, device, config=SyncConfig(...), baseline=last.baseline)

Nothing is written, locked or committed when the plan is empty and we have no pending changes
of our own: an idempotent resync costs only reads. Objects the device refuses are reported
(`report.errors`) and the rest is still committed. Whole-sync failures raise `firewall.errors`.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from firewall import diff, elements, multiconfig, order, reader, writes
from firewall.config import SyncConfig
from firewall.device import Device, is_active
from firewall.diff import Baseline, Drift, Op, Plan, Skipped
from firewall.elements import Kind
from firewall.errors import (
    CommitFailed,
    CommitInProgress,
    ConfigurationError,
    DeviceRefused,
    ForeignPendingChanges,
    NotActive,
    Unreachable,
)
from firewall.model import DesiredFirewall
from firewall.writes import Write

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ObjectError:
    kind: str
    name: str
    message: str


@dataclass(frozen=True)
class SyncReport:
    plan: Plan
    applied: tuple[Op, ...] = ()
    errors: tuple[ObjectError, ...] = ()
    requests: int = 0
    write_requests: int = 0
    commit_job: int | None = None
    push_job: int | None = None
    dry_run: bool = False
    baseline: dict[str, str] = field(default_factory=dict)  # keep it for the next sync

    @property
    def drift(self) -> tuple[Drift, ...]:
        return self.plan.drift

    @property
    def skipped(self) -> tuple[Skipped, ...]:
        return self.plan.skipped

    @property
    def committed(self) -> bool:
        return self.commit_job is not None

    @property
    def ok(self) -> bool:
        return not self.errors and not self.plan.skipped


def sync(desired: DesiredFirewall, device: Device, *, config: SyncConfig, dry_run: bool = False,
         baseline: Baseline | None = None) -> SyncReport:
    return _Sync(desired, device, config, baseline).run(dry_run=dry_run)


class _Sync:
    def __init__(self, desired: DesiredFirewall, device: Device, config: SyncConfig,
                 baseline: Baseline | None) -> None:
        if desired.ownership_tag != config.ownership_tag:
            raise ConfigurationError(f"desired state is tagged {desired.ownership_tag!r}, the config says "
                                     f"{config.ownership_tag!r}")
        self.desired, self.device, self.config, self.baseline = desired, device, config, baseline
        self.start = device.requests
        self.applied: list[Op] = []
        self.errors: list[ObjectError] = []
        self.write_requests = 0

    def admin(self) -> str:
        admin = self.config.admin or self.device.username
        if not admin:
            raise ConfigurationError("no admin name to commit as: set SyncConfig.admin (API-key credentials)")
        return admin

    def plan(self) -> tuple[Plan, dict]:  # type: ignore[type-arg]
        snap = reader.read(self.device, self.config)
        try:
            return diff.diff(self.desired, snap, self.config, baseline=self.baseline), snap.raw
        except order.AnchorMissing as exc:
            raise ConfigurationError(str(exc)) from None

    def run(self, *, dry_run: bool) -> SyncReport:
        if self.config.ha_check:
            state = self.device.ha_state()
            if not is_active(state):
                raise NotActive(state or "unknown")
        admin = self.admin()
        pending = self.device.pending_admins()
        plan, raw = self.plan()
        dg = self.config.device_group
        push_due = dg is not None and dg in self.device.push_pending
        if dry_run or (plan.empty and admin not in pending and not push_due):
            return self.report(plan, dry_run=dry_run)
        foreign = [a for a in pending if a != admin]
        if foreign and not self.config.commit_foreign_pending and (not plan.empty or admin in pending):
            raise ForeignPendingChanges(foreign)
        locked = False
        try:
            if not plan.empty and self.config.lock:
                self.device.lock(self.config.lock_scope, "bmlb sync")
                locked = True
            plan = self.apply(plan, raw)
            job = self.commit(admin, plan) if (self.applied or admin in pending) else None
        finally:
            if locked:
                self.device.unlock(self.config.lock_scope)
        push = self.push(dg) if dg is not None and (job is not None or push_due) else None
        return self.report(plan, commit_job=job, push_job=push)

    def report(self, plan: Plan, *, dry_run: bool = False, commit_job: int | None = None,
               push_job: int | None = None) -> SyncReport:
        failed = {f"{e.kind}/{e.name}" for e in self.errors}
        baseline = {k: v for k, v in plan.baseline.items() if k not in failed}
        return SyncReport(plan, tuple(self.applied), tuple(self.errors), self.device.requests - self.start,
                          self.write_requests, commit_job, push_job, dry_run, baseline)

    # ------------------------------------------------------------------ writing

    def apply(self, plan: Plan, raw: dict) -> Plan:  # type: ignore[type-arg]
        """Apply the plan; on a transport failure re-read and re-plan (writes are keyed by name,
        so a replay can never duplicate an object)."""
        for attempt in range(self.config.retries + 1):
            try:
                self.write(writes.render(plan.ops, self.config, raw))
                return plan
            except Unreachable as exc:
                if attempt == self.config.retries or not exc.transient:
                    raise
                log.warning("writes interrupted (%s); re-reading and re-planning", exc)
                time.sleep(0.2 * 2 ** attempt)
                plan, raw = self.plan()
        return plan

    def use_multi(self) -> bool:
        if self.config.multi_config is not None:
            return self.config.multi_config
        return self.device.version >= multiconfig.MIN_VERSION and self.device.multi_config_ok

    def write(self, todo: Sequence[Write]) -> None:
        pending = list(todo)
        while pending:
            if not self.use_multi():
                for w in pending:
                    self.write_one(w)
                return
            batch = next(writes.batches(pending, max_ops=self.config.batch_ops, max_bytes=self.config.batch_bytes))
            self.write_requests += 1
            try:
                results = self.device.multi_config(batch)
            except DeviceRefused as exc:
                if len(batch) > 1 or "multi-config" in str(exc) or "Unsupported" in str(exc):
                    log.warning("multi-config refused (%s): one request per change", exc)
                    self.device.multi_config_ok = False
                    continue
                raise
            done = 0
            for r in results:
                if r.ok:
                    self.applied.append(batch[r.index].op)
                    done = r.index + 1
                else:
                    self.fail(batch[r.index].op, r.message or f"error code {r.code}")
                    done = r.index + 1
                    break
            if not results:
                raise DeviceRefused("multi-config: no sub-request was answered")
            pending = batch[done:] + pending[len(batch):]

    def write_one(self, w: Write) -> None:
        self.write_requests += 1
        try:
            self.device.write(w)
        except DeviceRefused as exc:
            self.fail(w.op, str(exc))
            return
        self.applied.append(w.op)

    def fail(self, op: Op, message: str) -> None:
        log.warning("device refused %s: %s", op, message)
        self.errors.append(ObjectError(op.kind.value, op.name, message))

    # ------------------------------------------------------------------ committing

    def commit(self, admin: str, plan: Plan) -> int | None:
        deadline = time.monotonic() + self.config.commit_timeout
        while True:
            try:
                job = self.device.commit(admin=admin, description=self.config.commit_description)
                break
            except CommitInProgress:
                if time.monotonic() + self.config.commit_retry_seconds > deadline:
                    raise
                time.sleep(self.config.commit_retry_seconds)
        if job is None:
            # Nothing left to commit: a commit of ours may already be running (a retried request).
            for running in self.device.unfinished_jobs(admin):
                self.wait(running, deadline, plan)
            return None
        self.wait(job, deadline, plan)
        return job

    def wait(self, job: int, deadline: float, plan: Plan) -> None:
        interval = min(0.05, self.config.poll_interval)
        while True:
            state = self.device.job(job)
            if state.findtext("status") == "FIN":
                break
            if time.monotonic() > deadline:
                raise CommitInProgress(f"job {job} still running after {self.config.commit_timeout:.0f} s")
            time.sleep(interval)
            interval = min(interval * 2, self.config.poll_interval)
        if (state.findtext("result") or "").strip() != "OK":
            lines = [(x.text or "").strip() for x in state.iter("line") if (x.text or "").strip()]
            blamed = blame(lines, [device_name(op) for op in plan.ops])
            raise CommitFailed(f"commit job {job} failed: {' / '.join(lines) or 'no details'}",
                               objects=blamed, lines=lines, job=job)

    def push(self, device_group: str) -> int | None:
        """Panorama: commit-all to the device group (after the commit to Panorama)."""
        self.device.push_pending.add(device_group)
        deadline = time.monotonic() + self.config.commit_timeout
        job = self.device.commit_all(device_group=device_group, description=self.config.commit_description)
        if job is not None:
            self.wait(job, deadline, Plan())
        self.device.push_pending.discard(device_group)
        return job


def device_name(op: Op) -> str:
    """The name the device knows an object by (a route's key also names its router and family)."""
    return elements.split_route_id(op.name)[2] if op.kind == Kind.ROUTE else op.name


def blame(lines: Sequence[str], names: Sequence[str]) -> list[str]:
    """Which of our object names the commit's error lines mention."""
    text = "\n".join(lines)
    return sorted({n for n in names if re.search(rf"(?<![\w.-]){re.escape(n)}(?![\w.-])", text)})
