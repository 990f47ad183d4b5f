"""One sync: read what we own, diff, lock, write in batches, commit once, unlock, report.

    report = sync(desired, device, config=SyncConfig(...), baseline=last.baseline)

Nothing is written, locked or committed when the plan is empty and we have no pending changes
of our own: an idempotent resync costs only reads. Whole-sync failures raise `firewall.errors`.

Quarantine: an object the device refuses, at write (a multi-config sub-request or a single
write) or at commit (the failed job's details name it), is taken out of the sync: a commit
culprit is reverted in the candidate to what the running config holds, and the sync is
re-planned and committed without it, so every other object converges. It is reported in
`report.errors` with the device's message about that object only, and held in
`report.quarantine`: pass that to the next sync, which leaves the object as the device has it
until its desired value changes or its retry is due (`retry_refused` seconds after the first
refusal, doubling with each refusal of the same value, at most `MAX_RETRY`). A desired set that
names two objects of one kind alike is refused (`DuplicateNames`) before anything is read.

Reading only what changed: pass the last report's `view` (firewall/view.py). While it is younger
than `max_age` seconds, nobody has committed since (no job after its marker) and no admin has
pending changes, the sync reads only the entries of the objects whose desired value changed
(firewall/delta.py) and writes those. It reads everything, as without a view, on the first sync,
once the view is `max_age` old (the periodic resync, where drift is found), when the device
changed underneath, after any error (a sync that fails or refuses anything makes no view), and
for a change to most of the objects the view holds (delta.worth_reading); the changed entries are
read delta.READ_CHUNK to a request.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import re
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice

from firewall import commitnote, delta, diff, elements, multiconfig, order, reader, writes, xpaths
from firewall import view as views
from firewall.config import SyncConfig
from firewall.device import Device, is_active
from firewall.diff import Baseline, Drift, Op, OpType, Plan, Skipped
from firewall.elements import Kind, Obj
from firewall.errors import (
    CommitFailed,
    CommitInProgress,
    ConfigurationError,
    DeviceRefused,
    DuplicateNames,
    ForeignPendingChanges,
    NotActive,
    Unreachable,
)
from firewall.model import DesiredFirewall
from firewall.snapshot import Key, Snapshot
from firewall.view import View
from firewall.writes import Write

log = logging.getLogger(__name__)


MAX_ROUNDS = 8  # re-plans after refusals, and commits after a commit blamed some of ours
RETRY_REFUSED = 60.0  # seconds an unchanged refused object is left alone before it is tried again
MAX_RETRY = 3600.0
MAX_AGE = 300.0  # seconds a view is used before the next sync reads everything (a resync)


@dataclass(frozen=True, slots=True)
class ObjectError:
    """One object the device refused; `name` is its key name (a route's "router/family/name")."""

    kind: str
    name: str
    message: str  # the device's words about this object only
    phase: str = "write"  # write | commit
    deleting: bool = False  # a refused delete: the object is still on the device

    @property
    def device_name(self) -> str:
        return elements.split_route_id(self.name)[2] if self.kind == Kind.ROUTE.value else self.name


@dataclass(frozen=True, slots=True)
class Refused:
    """A quarantined object: the digest of the desired value the device refused, and why."""

    digest: str
    message: str
    phase: str
    retry_at: float  # time.time() from which it is tried again
    refusals: int = 1  # of this same desired value in a row


Quarantine = Mapping[str, Refused]  # "kind/name" (diff.key_text) -> Refused


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
    baseline: Baseline = field(default_factory=dict)  # keep it for the next sync
    quarantine: dict[str, Refused] = field(default_factory=dict)  # and this
    view: View | None = None  # and this: what the device holds after a clean sync
    full_read: bool = True  # False: only the changed objects' entries were read
    seconds: float = 0.0  # the whole sync
    commit_seconds: float = 0.0  # of which committing (and pushing): enqueueing and waiting for the jobs
    device_seconds: float = 0.0  # of the rest, waiting on the device's answers (reads, writes, checks)

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
         baseline: Baseline | None = None, quarantine: Quarantine | None = None,
         retry_refused: float = RETRY_REFUSED, view: View | None = None, max_age: float = MAX_AGE) -> SyncReport:
    """`view`: the last report's, to read only what changed (`baseline` then comes from it)."""
    job = _Sync(desired, device, config, baseline, quarantine or {}, retry_refused, view, max_age)
    del view  # a sync that reads everything drops the old view first: at 50,000 objects it is ~100 MB
    return job.run(dry_run=dry_run)


def duplicates(desired: DesiredFirewall) -> list[tuple[str, str]]:
    """(kind, name) of every name two desired objects of one kind share (routes: per table)."""
    keys: Counter[tuple[str, str]] = Counter()
    for group in (desired.tags, desired.addresses, desired.services, desired.security_rules, desired.nat_rules):
        keys.update((elements.kind_of(o).value, o.name) for o in group)
    keys.update((Kind.ROUTE.value, elements.route_key_name(r)) for r in desired.static_routes)
    # addresses share their namespace with address groups, services with service groups; both
    # are ours alone, so one name per kind is the whole rule here
    return sorted(k for k, n in keys.items() if n > 1)


class _Sync:
    def __init__(self, desired: DesiredFirewall, device: Device, config: SyncConfig,
                 baseline: Baseline | None, quarantine: Quarantine, retry_refused: float,
                 view: View | None = None, max_age: float = MAX_AGE) -> None:
        if desired.ownership_tag != config.ownership_tag:
            raise ConfigurationError(f"desired state is tagged {desired.ownership_tag!r}, the config says "
                                     f"{config.ownership_tag!r}")
        self.current = views.current(desired, config, view)
        groups = views.groups_of(desired)
        implicit = 0 if any(t.name == config.ownership_tag for t in desired.tags) else 1
        if len(self.current) != sum(map(len, groups)) + implicit and (dup := duplicates(desired)):
            raise DuplicateNames(dup)  # (counted only when some key was seen twice)
        if baseline is None and view is not None:
            baseline = view.baseline
        self.desired, self.device, self.config, self.baseline = desired, device, config, baseline
        self.start = device.requests
        self.applied: list[Op] = []
        self.errors: list[ObjectError] = []  # refusals of this round that are not quarantined
        self.write_requests = 0
        now = time.time()
        # Refused before, unchanged since, not yet due for another try: left as the device has it.
        self.retry_refused = retry_refused
        self.held: dict[Key, Refused] = {}
        self.before: dict[Key, Refused] = {}  # due for a retry: refused again, it waits longer
        for text, refused in quarantine.items():
            key = _key(text)
            obj = self.want.get(key) if key is not None else None
            if key is None or obj is None or elements.digest(obj) != refused.digest:
                continue
            if now < refused.retry_at:
                self.held[key] = refused
            else:
                self.before[key] = refused
        self.derived: dict[Key, str] = {}  # held because they refer to a held object the device lacks
        self.snap: Snapshot | None = None  # the last full read, less its entries (`snap_owned`: their keys)
        self.snap_owned: frozenset[Key] = frozenset()
        self.view, self.max_age = view, max_age
        self.marker: int | None = None  # the device's last job id before this sync read anything
        self.read_at = 0.0
        self.read_mark = 0  # len(self.applied) at the last full read
        self.foreign_pending = False
        self.full_read = True
        self.started = time.monotonic()
        self.commit_seconds = 0.0
        self.device_started = device.seconds
        self.commit_device = 0.0  # device seconds within commit_seconds

    @functools.cached_property
    def want(self) -> dict[Key, Obj]:
        """The desired objects as the diff sees them (computed only when something was refused)."""
        return diff.wanted_keyed(self.current, self.config.ownership_tag)

    def admin(self) -> str:
        admin = self.config.admin or self.device.username
        if not admin:
            raise ConfigurationError("no admin name to commit as: set SyncConfig.admin (API-key credentials)")
        return admin

    def plan(self) -> tuple[Plan, dict]:  # type: ignore[type-arg]
        self.read_at, self.read_mark, self.full_read = time.monotonic(), len(self.applied), True
        snap = self.snap = reader.read(self.device, self.config, self.known)
        self.snap_owned = frozenset(snap.owned)
        try:
            desired = self.without_held(snap)
            plan = diff.diff(desired, snap, self.config, baseline=self.baseline,
                             keyed=self.current if desired is self.desired else None)
        except order.AnchorMissing as exc:
            raise ConfigurationError(str(exc)) from None
        if self.held:  # a held delete (the commit refused it) is not tried again in this sync
            plan = dataclasses.replace(plan, ops=tuple(op for op in plan.ops if (op.kind, op.name) not in self.held))
        # Only an update merges what bmlb does not model into its entry; the rest is let go
        # before the writes begin.
        updates = {(op.kind, op.name) for op in plan.ops if op.type == diff.OpType.UPDATE}
        raw = {key: entry for key, entry in snap.raw.items() if key in updates}
        # After the plan, only which objects of ours the device holds is read (the next view, a
        # failed commit's culprits): the parsed entries are let go before the writes. At a burst's
        # full read, ~30,000 of them stayed beside everything else through minutes of writes.
        self.snap = dataclasses.replace(snap, raw={}, owned={})
        return plan, raw

    def known(self, key: Key) -> Obj | None:
        """What the plan will compare this key's entry to (see snapshot.Known)."""
        obj = self.current.get(key)
        return None if obj is None else diff.want_of(obj, self.config.ownership_tag)

    def without_held(self, snap: Snapshot) -> DesiredFirewall:
        """The desired state with every held object as the device has it (or absent), so the
        plan neither writes nor deletes it; objects referring to a held object the device lacks
        are held with it (the device would refuse them for the missing reference)."""
        self.derived = {}
        if not self.held:
            return self.desired
        absent = {_device_name(key) for key in self.held if key not in snap.owned}
        changed = True
        while changed:
            changed = False
            for key, obj in self.want.items():
                if key in self.held or key in self.derived or key in snap.owned:
                    continue
                missing = sorted(elements.references(obj) & absent)
                if missing:
                    self.derived[key] = f"refers to {', '.join(missing)}, which the device refused"
                    absent.add(_device_name(key))
                    changed = True
        out: dict[str, list[Obj]] = {}
        groups = {"tags": self.desired.tags, "addresses": self.desired.addresses,
                  "services": self.desired.services, "security_rules": self.desired.security_rules,
                  "nat_rules": self.desired.nat_rules, "static_routes": self.desired.static_routes}
        for field_name, group in groups.items():
            kept: list[Obj] = []
            for obj in group:
                key = _key_of(obj)
                if key in self.held or key in self.derived:
                    if key in snap.owned:
                        kept.append(snap.owned[key])  # keep what works on the device as it is
                    continue
                kept.append(obj)
            out[field_name] = kept
        return dataclasses.replace(self.desired, **{k: tuple(v) for k, v in out.items()})  # type: ignore[arg-type]

    def run(self, *, dry_run: bool) -> SyncReport:
        if self.config.ha_check:
            state = self.device.ha_state()
            if not is_active(state):
                raise NotActive(state or "unknown")
        admin = self.admin()
        pending = self.device.pending_admins()
        self.foreign_pending = any(a != admin for a in pending)
        first_plan = self.incremental(pending)
        if first_plan is None:
            self.marker = None if self.config.panorama else self.device.last_job()
            first_plan = self.plan()
        plan, raw = first_plan
        dg = self.config.device_group
        push_due = dg is not None and dg in self.device.push_pending
        if dry_run or (plan.empty and admin not in pending and not push_due):
            return self.report(plan, dry_run=dry_run)
        foreign = [a for a in pending if a != admin]
        if foreign and not self.config.commit_foreign_pending and (not plan.empty or admin in pending):
            raise ForeignPendingChanges(foreign)
        first = plan
        locked = False
        job = None
        last: CommitFailed | None = None
        try:
            if not plan.empty and self.config.lock:
                self.device.lock(self.config.lock_scope, "bmlb sync")
                locked = True
            for _ in range(MAX_ROUNDS):
                plan = self.converge(plan, raw)
                if not (self.applied or admin in pending):
                    break
                try:
                    job = self.commit(admin, plan)
                    break
                except CommitFailed as exc:
                    # what is held so far stays held for the next sync, even when this one fails
                    exc.quarantine = self.quarantine()
                    if not self.quarantine_culprits(exc):
                        raise
                    exc.quarantine = self.quarantine()
                    last = exc
                    pending = [admin]  # the reverts are pending changes of ours
                    if self.config.lock:
                        self.device.lock(self.config.lock_scope, "bmlb sync")  # a commit releases it
                        locked = True
                    plan, raw = self.plan()
            else:
                assert last is not None  # every round ended in a commit failure
                raise last
        finally:
            if locked:
                self.device.unlock(self.config.lock_scope)
        push = self.push(dg) if dg is not None and (job is not None or push_due) else None
        plan = dataclasses.replace(first, baseline=plan.baseline)
        return self.report(plan, commit_job=job, push_job=push)

    def incremental(self, pending: list[str]) -> tuple[Plan, dict] | None:  # type: ignore[type-arg]
        """The plan from the view and a read of the changed entries; None: read everything (and
        the view is let go before that read)."""
        found = self._incremental(pending)
        if found is None:
            self.view = None
        return found

    def _incremental(self, pending: list[str]) -> tuple[Plan, dict] | None:  # type: ignore[type-arg]
        v = self.view
        if v is None or v.config != self.config or self.config.panorama or pending or self.held or self.before \
                or time.monotonic() - v.read_at >= self.max_age:
            return None
        if self.device.newer_job(v.marker):
            log.info("the device ran a job since the last verified sync: reading everything")
            return None
        keys = delta.touched(v, self.current)
        try:
            wanted = delta.to_read(keys, v, self.current)
            if not delta.worth_reading(wanted, v):
                raise delta.Stale(f"{len(wanted)} of {len(v.owned)} objects changed")
            found = delta.entries(*(self.device.get(xpath) for xpath in delta.read_xpaths(wanted, self.config)))
            plan, raw = delta.plan(self.desired, self.current, v, keys, found, self.config)
        except delta.Stale as exc:
            log.info("reading everything: %s", exc)
            return None
        except DeviceRefused as exc:  # e.g. a device that will not answer this XPath union
            log.warning("reading the changed entries was refused (%s): reading everything", exc)
            return None
        self.marker, self.read_at, self.full_read = v.marker, v.read_at, False
        return plan, raw

    def next_view(self, plan: Plan, baseline: Baseline, commit_job: int | None) -> View | None:
        """What the device holds after this sync, when it ended clean; None: read everything next."""
        if self.errors or self.held or self.derived or self.foreign_pending or self.marker is None \
                or self.config.panorama:
            return None
        marker = self.marker
        if commit_job is not None:
            if commit_job != marker + 1:
                return None  # another job ran between our read and our commit
            marker = commit_job
        elif len(self.applied) > self.read_mark:
            return None  # written but committed by a job we do not know
        ops = self.applied[self.read_mark:]
        base = self.view
        same = base is not None and self.current is base.desired  # made from equal groups (views.current)
        orders = base.rule_order if same and base is not None else views.rule_orders(self.desired)
        groups = views.groups_of(self.desired)
        if self.snap is not None:
            return views.from_snapshot(self.snap, self.snap_owned, ops, config=self.config, desired=self.current,
                                       rule_order=orders,
                                       baseline=baseline, skipped=plan.skipped, drift=plan.drift, marker=marker,
                                       read_at=self.read_at, groups=groups)
        assert base is not None
        owned, rulebases = views.applied(base.owned, base.order, ops)
        if not (same and owned is base.owned):
            owned = views.desired_keys(owned, self.current)
        return View(self.config, owned, base.foreign, rulebases, base.routers, self.current, orders, baseline,
                    marker, self.read_at, plan.skipped, tuple(d for d in plan.drift if not d.restored),
                    base.clashes | views.clashes_of(plan.skipped, base.foreign), groups)

    def converge(self, plan: Plan, raw: dict) -> Plan:  # type: ignore[type-arg]
        """Apply the plan; while the device refuses objects, re-plan without them and apply again
        (a rule placed after a refused one must then be placed anew)."""
        for _ in range(MAX_ROUNDS):
            held = len(self.held)
            self.errors = []
            plan = self.apply(plan, raw)
            if len(self.held) == held:
                return plan
            plan, raw = self.plan()
        return plan

    def report(self, plan: Plan, *, dry_run: bool = False, commit_job: int | None = None,
               push_job: int | None = None) -> SyncReport:
        errors = [*self.errors]
        for key, refused in sorted(self.held.items(), key=lambda kv: (kv[0][0].rank, kv[0][1])):
            errors.append(ObjectError(key[0].value, key[1], refused.message, refused.phase, key not in self.want))
        for key, why in sorted(self.derived.items(), key=lambda kv: (kv[0][0].rank, kv[0][1])):
            errors.append(ObjectError(key[0].value, key[1], why, "write"))
        failed = {(e.kind, e.name) for e in errors}
        # The plan's own (a fresh dict, or the view's when nothing changed): nobody writes into one.
        baseline = {k: v for k, v in plan.baseline.items() if (k[0].value, k[1]) not in failed} if failed \
            else plan.baseline
        view = None if dry_run else self.next_view(plan, baseline, commit_job)
        return SyncReport(plan, tuple(self.applied), tuple(errors), self.device.requests - self.start,
                          self.write_requests, commit_job, push_job, dry_run, baseline, self.quarantine(),
                          view=view, full_read=self.full_read, seconds=time.monotonic() - self.started,
                          commit_seconds=self.commit_seconds,
                          device_seconds=self.device.seconds - self.device_started - self.commit_device)

    def quarantine(self) -> dict[str, Refused]:
        return {diff.key_text(*key): r for key, r in self.held.items()}

    # ------------------------------------------------------------------ writing

    def apply(self, plan: Plan, raw: dict) -> Plan:  # type: ignore[type-arg]
        """Apply the plan; on a transport failure re-read and re-plan (writes are keyed by name,
        so a replay can never duplicate an object)."""
        for attempt in range(self.config.retries + 1):
            try:
                self.write(plan.ops, raw)
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

    def write(self, ops: Sequence[Op], raw: Mapping[Key, ET.Element]) -> None:
        """Write `ops` in order, each rendered when its batch is made: a burst's 50,000 writes were
        ~5 MB held from the first batch to the last."""
        parents: dict[Kind, str] = {}

        def render(op: Op) -> Write:
            return writes.render_one(op, self.config, raw, parents)

        pending = list(ops)
        held = len(self.held)
        while pending:
            if len(self.held) > held:
                # Moves were planned around an object that is now held: converge() re-plans them.
                pending = [op for op in pending if op.type != OpType.MOVE]
                if not pending:
                    return
            if not self.use_multi():
                self.write_one(render(pending.pop(0)))
                continue
            # At most one batch's worth rendered: a write past the batch's end would be serialised
            # (to measure it) and thrown away.
            batch = next(writes.batches(map(render, islice(pending, self.config.batch_ops)),
                                        max_ops=self.config.batch_ops, max_bytes=self.config.batch_bytes))
            self.write_requests += 1
            whole = "multi-config: no sub-request was answered"
            try:
                results = self.device.multi_config(batch)
            except DeviceRefused as exc:
                results, whole = [], str(exc)
            if not results:
                # The request as a whole was refused: one of its changes may be what the device
                # cannot parse. Find out change by change, and keep multi-config unless every
                # change was fine alone (then multi-config itself is what the device refuses).
                refused = len(self.errors) + len(self.held)
                for w in batch:
                    self.write_one(w)
                if len(self.errors) + len(self.held) == refused:
                    log.warning("multi-config refused (%s): one request per change from now on", whole)
                    self.device.multi_config_ok = False
                pending = pending[len(batch):]
                continue
            done = 0
            for r in results:
                if r.ok:
                    self.applied.append(batch[r.index].op)
                    done = r.index + 1
                else:
                    self.fail(batch[r.index].op, r.message or f"error code {r.code}")
                    done = r.index + 1
                    break
            for w in batch[:done]:
                w.sent()
            pending = [w.op for w in batch[done:]] + pending[len(batch):]

    def write_one(self, w: Write) -> None:
        self.write_requests += 1
        try:
            self.device.write(w)
        except DeviceRefused as exc:
            self.fail(w.op, str(exc))
            return
        finally:
            w.sent()
        self.applied.append(w.op)

    def fail(self, op: Op, message: str) -> None:
        log.warning("device refused %s: %s", op, message)
        key = (op.kind, op.name)
        if op.type in (OpType.CREATE, OpType.UPDATE) and key in self.want:
            self.held[key] = self.refused(key, message, "write")
        else:  # a delete or a move: nothing to hold back; tried again next sync
            self.errors.append(ObjectError(op.kind.value, op.name, message, "write", op.type == OpType.DELETE))

    def refused(self, key: Key, message: str, phase: str) -> Refused:
        obj = self.want.get(key)
        before = self.before.get(key)
        count = before.refusals + 1 if before is not None else 1
        wait = min(MAX_RETRY, self.retry_refused * 2 ** (count - 1))
        return Refused(elements.digest(obj) if obj is not None else "", message, phase, time.time() + wait, count)

    # ------------------------------------------------------------------ quarantine at commit

    def ours(self) -> dict[str, list[Key]]:
        """Our objects by the name the device knows them by (desired ones and owned ones)."""
        keys = set(self.want) | self.snap_owned
        foreign = self.snap.foreign if self.snap else frozenset()
        out: dict[str, list[Key]] = {}
        for key in sorted(keys - foreign, key=lambda k: (k[0].rank, k[1])):
            if key[0] == Kind.TAG and key[1] == self.config.ownership_tag:
                continue  # every object of ours carries it: never the culprit
            out.setdefault(_device_name(key), []).append(key)
        return out

    def quarantine_culprits(self, exc: CommitFailed) -> bool:
        """Revert the objects of ours that a failed commit names and hold them; False when it
        names none (then the failure is the whole sync's)."""
        ours = self.ours()
        named = blame(exc.lines, list(ours))
        culprits = [k for n in named for k in ours[n] if k not in self.held]
        if not culprits:
            return False
        for key in culprits:
            name = _device_name(key)
            about = [line for line in exc.lines if blame([line], [name])] or [f"the commit failed on {name}"]
            log.warning("commit job %s refused %s %s: quarantined", exc.job, key[0].value, key[1])
            self.held[key] = self.refused(key, " / ".join(about), "commit")
        self.revert(culprits, ours)
        return True

    def revert(self, culprits: list[Key], ours: dict[str, list[Key]]) -> None:
        """Put each culprit back in the candidate as the running config has it (deleting it when
        it is not there). Referrers of ours that block a delete are reverted first."""
        todo = list(culprits)
        for _ in range(MAX_ROUNDS):
            if not todo:
                return
            # rules and routes before the objects they may refer to
            todo.sort(key=lambda k: (-k[0].rank, k[1]))
            blocked: list[Key] = []
            for key in todo:
                xpath = xpaths.entry(self.config, key[0], key[1])
                running = self.device.running(xpath)
                op = Op(OpType.DELETE if running is None else OpType.UPDATE, key[0], key[1])
                w = Write("delete", xpath, op) if running is None else Write("edit", xpath, op, _clean(running))
                self.write_requests += 1
                try:
                    self.device.write(w)
                except DeviceRefused as exc:
                    referrers = [k for n in blame([str(exc)], list(ours)) for k in ours[n]
                                 if k != key and k not in todo]
                    if not referrers:
                        raise
                    for k in referrers:
                        self.held.setdefault(k, self.refused(k, f"refers to {key[1]}, which the device refused",
                                                             "commit"))
                    blocked += [*referrers, key]
            todo = list(dict.fromkeys(blocked))
        raise CommitFailed("could not revert the objects the commit refused", objects=[], lines=[])

    # ------------------------------------------------------------------ committing

    def commit(self, admin: str, plan: Plan) -> int | None:
        started, waited = time.monotonic(), self.device.seconds
        try:
            return self._commit(admin, plan)
        finally:
            self.commit_seconds += time.monotonic() - started
            self.commit_device += self.device.seconds - waited

    def _commit(self, admin: str, plan: Plan) -> int | None:
        deadline = time.monotonic() + self.config.commit_timeout
        while True:
            try:
                job = self.device.commit(admin=admin, description=self.description())
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

    def description(self) -> str:
        """What changed and whose objects (firewall/commitnote.py), after the configured text."""
        default = SyncConfig.__dataclass_fields__["commit_description"].default
        prefix = "bmlb" if self.config.commit_description == default else self.config.commit_description
        owners = {key: owner for op in self.applied
                  if (owner := getattr(self.current.get(key := (op.kind, op.name)), "owner", None)) is not None}
        return commitnote.describe(self.applied, owners, prefix=prefix)

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
        started, waited = time.monotonic(), self.device.seconds
        deadline = started + self.config.commit_timeout
        job = self.device.commit_all(device_group=device_group, description=self.description())
        if job is not None:
            self.wait(job, deadline, Plan())
        self.device.push_pending.discard(device_group)
        self.commit_seconds += time.monotonic() - started
        self.commit_device += self.device.seconds - waited
        return job


def device_name(op: Op) -> str:
    """The name the device knows an object by (a route's key also names its router and family)."""
    return elements.split_route_id(op.name)[2] if op.kind == Kind.ROUTE else op.name


def blame(lines: Sequence[str], names: Sequence[str]) -> list[str]:
    """Which of our object names the commit's error lines mention."""
    text = "\n".join(lines)
    return sorted({n for n in names if re.search(rf"(?<![\w.-]){re.escape(n)}(?![\w.-])", text)})


def _key(text: str) -> Key | None:
    kind, _, name = text.partition("/")
    try:
        return Kind(kind), name
    except ValueError:
        return None


def _key_of(obj: Obj) -> Key:
    kind = elements.kind_of(obj)
    return (kind, elements.route_key_name(obj)) if kind == Kind.ROUTE else (kind, obj.name)  # type: ignore[arg-type]


def _device_name(key: Key) -> str:
    return elements.split_route_id(key[1])[2] if key[0] == Kind.ROUTE else key[1]


def _clean(entry: ET.Element) -> ET.Element:
    """A running-config entry as we write it back (the device assigns uuids itself)."""
    entry.attrib.pop("uuid", None)
    for sub in entry.iter():
        sub.attrib.pop("uuid", None)
    return entry
