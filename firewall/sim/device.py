"""The simulated device: candidate and running config, admins and keys, locks, commits.

Every mutation happens under one re-entrant lock; reads copy what they return. Methods raise
`tree.ConfigError` for what a device refuses; `api` turns results and errors into XML.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import secrets
import string
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass

from firewall.sim import changes, incremental, jobs, network, refs, tree
from firewall.sim.changes import Change
from firewall.sim.defaults import FIREWALL_CONFIG, PANORAMA_CONFIG, SystemInfo
from firewall.sim.faults import Fault, Faults
from firewall.sim.tree import ConfigError

KEY_ALPHABET = string.ascii_letters + string.digits
INJECTED = "injected by the simulator"


@dataclass(frozen=True, slots=True)
class Lock:
    admin: str
    comment: str = ""


class Device:
    def __init__(
        self,
        *,
        system: SystemInfo | None = None,
        config_xml: str | None = None,
        users: dict[str, str] | None = None,
        commit_seconds: float = 0.2,
        faults: Faults | None = None,
        monitored_route_limit: int = network.DEFAULT_MONITORED_ROUTE_LIMIT,
    ) -> None:
        self.monitored_route_limit = monitored_route_limit
        self.vr_restarts = 0  # commits that changed a virtual router's ECMP settings (PAN-OS restarts it)
        self.system = system or SystemInfo()
        self.lock = threading.RLock()
        self.commit_seconds = commit_seconds
        self.faults = faults or Faults()
        self.users: dict[str, str] = dict(users or {"admin": "admin"})
        self._keys: dict[str, str] = {}  # key -> admin
        self._ids = itertools.count(1)
        self.changes: list[Change] = []
        self.config_locks: dict[str, Lock] = {}  # scope -> holder
        self.commit_locks: dict[str, Lock] = {}
        self.pushed: dict[str, ET.Element] = {}  # Panorama: device group -> last pushed config
        self.commits = 0
        default = PANORAMA_CONFIG if self.system.panorama else FIREWALL_CONFIG
        self.running = tree.new_tree(config_xml or default)
        tree.ensure_uuids(self.running)
        self.candidate = tree.copied(self.running)
        # The last commit snapshot and the candidate it was taken of: equal but at the positions in
        # _changed (local writes since) and what was appended since. The next snapshot copies only
        # those and shares the rest with it; it is never changed in place (the running config may
        # be it, and may share subtrees with it). None after any other write: a whole copy.
        self._base: ET.Element | None = None
        self._base_of: ET.Element | None = None
        self._changed: list[tuple[int, ...]] = []
        self._problems = self._check(self.candidate)
        # batches of this many changes look names up in an index: it pays for itself over many
        # lookups, while a few scan (and a write by path drops it)
        self.index_from = 16
        self._in_flight: set[int] = set()
        self.jobs = jobs.JobQueue(lambda: self.commit_seconds)

    def _check(self, config: ET.Element) -> frozenset[refs.Problem]:
        return refs.problems(config) | network.problems(config, monitored_route_limit=self.monitored_route_limit)

    def close(self) -> None:
        self.jobs.stop()

    # ---------------------------------------------------------------- admins and keys

    def keygen(self, user: str, password: str) -> str | None:
        with self.lock:
            if user not in self.users or self.users[user] != password:
                return None
            return self.key_for(user)

    def key_for(self, user: str) -> str:
        """The user's current key (a new one after keys expired); keys use [A-Za-z0-9=] only."""
        with self.lock:
            for key, owner in self._keys.items():
                if owner == user:
                    return key
            key = "".join(secrets.choice(KEY_ALPHABET) for _ in range(48)) + "=="
            self._keys[key] = user
            return key

    def admin_for_key(self, key: str) -> str | None:
        with self.lock:
            return self._keys.get(key)

    def add_admin(self, name: str, password: str) -> None:
        tree.check_name(name, "users")
        with self.lock:
            self.users[name] = password
            self._base = None
            self.running = tree.copied(self.running)  # it may share subtrees with commit snapshots
            for config in (self.candidate, self.running):
                users = tree.config_of(config).find("mgt-config/users")
                if users is not None and users.find(f"entry[@name='{name}']") is None:
                    ET.SubElement(users, "entry", {"name": name})

    def expire_keys(self) -> None:
        with self.lock:
            self._keys.clear()

    # ---------------------------------------------------------------- config reads

    def read(self, action: str, xpath: str) -> list[tuple[ET.Element, str | None]]:
        """Copies of what `xpath` selects in the candidate (get) or running (show) config."""
        with self.lock:
            source = self.candidate if action == "get" else self.running
            return [(copy.deepcopy(m.node), m.attribute) for m in tree.select(source, xpath)]

    # ---------------------------------------------------------------- config writes

    def write(self, change: Change) -> int:
        with self.lock:
            self._check_config_lock(change.admin)
            return self._write_all([change], strict=True)[0]

    def write_many(self, batch: list[Change], *, strict: bool) -> list[int | ConfigError]:
        """multi-config: apply in order; stop at the first failure (strict: and undo them all)."""
        with self.lock:
            if batch:
                self._check_config_lock(batch[0].admin)
            return self._write_all(batch, strict=strict)

    def _write_all(self, batch: list[Change], *, strict: bool) -> list[int | ConfigError]:
        if len(batch) > 1:
            done = self._write_batch(batch)
            if done is not None:
                return done
        results: list[int | ConfigError] = []
        # one change undoes itself (_write_one); only a batch needs a copy to roll back to
        saved = tree.copied(self.candidate) if len(batch) > 1 else None
        before_all = saved, self._problems, len(self.changes)
        for change in batch:
            try:
                results.append(self._write_one(change))
            except ConfigError as exc:
                if strict:
                    if before_all[0] is not None:
                        self.candidate, self._problems = before_all[0], before_all[1]
                    del self.changes[before_all[2] :]
                    if len(batch) == 1:
                        raise
                results.append(exc)
                break
        return results

    def _write_batch(self, batch: list[Change]) -> list[int | ConfigError] | None:
        """Apply a whole multi-config batch and check the tree once (the per-change checks cost
        a walk of the whole config each, quadratic for big batches). Any error: undo everything
        and return None, so the caller replays change by change and reports exactly like a device."""
        if self.faults.refusal("refuse_write", [e for c in batch for e in c.elements], count=False):
            return None  # replayed change by change: the refused one is answered as a device would
        if all(incremental.local(c) for c in batch):
            done = self._write_local_batch(batch)
            if done is not None:
                return done if done else None
        self._base = None
        snapshot = tree.copied(self.candidate)
        touched: list[int] = []
        checked_each = True  # every change took the local path, its references checked there
        try:
            for change in batch:
                if incremental.local(change):
                    try:
                        touched.append(incremental.write(self.candidate, change, self._problems))
                        continue
                    except incremental.NotLocal:
                        pass
                checked_each = False
                touched.append(changes.apply(self.candidate, change))
            if not checked_each:
                tree.ensure_uuids(self.candidate)
                found = self._check(self.candidate)
        except ConfigError:
            self.candidate = snapshot
            return None
        if not checked_each:
            if found - self._problems:
                self.candidate = snapshot
                return None
            self._problems = found
        for change, n in zip(batch, touched, strict=True):
            if n:
                change.id = next(self._ids)
                self.changes.append(change.copy())
        return list(touched)

    def _write_local_batch(self, batch: list[Change]) -> list[int | ConfigError] | None:
        """A batch of local writes, rolled back through each write's own undo (in reverse) instead
        of a copy of the whole candidate: a copy per batch made a burst cost O(config) per request.
        None: some change needs the full path (nothing left applied); []: a change was refused
        (nothing left applied; the caller replays change by change)."""
        undo: list[Callable[[], None]] = []
        touched: list[int] = []
        changed: list[tuple[int, ...]] = []
        outcome: str | None = None
        with tree.indexed() if len(batch) >= self.index_from else contextlib.nullcontext():
            try:
                for change in batch:
                    touched.append(incremental.write(self.candidate, change, self._problems, undo, changed))
            except incremental.NotLocal:
                outcome = "full"
            except ConfigError:
                outcome = "refused"
            if outcome is not None:
                for restore in reversed(undo):
                    restore()
                return None if outcome == "full" else []
        self._note(changed)
        for change, n in zip(batch, touched, strict=True):
            if n:
                change.id = next(self._ids)
                self.changes.append(change.copy())
        return list(touched)

    def _write_one(self, change: Change) -> int:
        if hit := self.faults.refusal("refuse_write", change.elements):
            raise ConfigError(12, f" {hit[0]} -> '{hit[1]}' is invalid")
        if incremental.local(change):
            changed: list[tuple[int, ...]] = []
            try:
                touched = incremental.write(self.candidate, change, self._problems, changed=changed)
            except incremental.NotLocal:
                pass
            else:
                self._note(changed)
                if touched:
                    change.id = next(self._ids)
                    self.changes.append(change.copy())
                return touched
        self._base = None
        snapshot = tree.copied(self.candidate)
        try:
            touched = changes.apply(self.candidate, change)
            tree.ensure_uuids(self.candidate)
            found = self._check(self.candidate)
            new = sorted(found - self._problems)
            if new:
                if change.action == "delete":
                    raise ConfigError(
                        10,
                        f" {_last_name(change.xpath)} cannot be deleted because of references from:",
                        *sorted({f" {p.owner} -> {p.field}" for p in new}),
                    )
                raise ConfigError(12, *(line for p in new for line in p.lines()))
        except ConfigError:
            self.candidate = snapshot
            raise
        self._problems = found
        if touched:
            change.id = next(self._ids)
            self.changes.append(change.copy())
        return touched

    def _check_config_lock(self, admin: str) -> None:
        for scope, holder in self.config_locks.items():
            if holder.admin != admin:
                raise ConfigError(0, f"Configuration is locked by {holder.admin} (scope {scope})")

    def inject_change(self, admin: str, xpath: str) -> None:
        """A pending change by `admin` that alters nothing (a fault: foreign pending changes)."""
        with self.lock:
            self.changes.append(Change(admin, "touch", xpath, id=next(self._ids)))

    def revert(self) -> None:
        with self.lock:
            self.candidate = tree.copied(self.running)
            self._problems = self._check(self.candidate)
            self.changes = [c for c in self.changes if c.id in self._in_flight]

    def pending_admins(self) -> list[str]:
        with self.lock:
            return sorted({c.admin for c in self.changes})

    def journal(self) -> list[Change]:
        with self.lock:
            return [c.copy() for c in self.changes]

    # ---------------------------------------------------------------- locks

    def add_config_lock(self, admin: str, scope: str, comment: str = "") -> None:
        with self.lock:
            holder = self.config_locks.get(scope)
            if holder and holder.admin == admin:
                raise ConfigError(0, f"You already own a config lock for scope {scope}")
            if holder:
                raise ConfigError(0, f"Config for scope {scope} is currently locked by {holder.admin}")
            self.config_locks[scope] = Lock(admin, comment)

    def remove_config_lock(self, admin: str, scope: str) -> None:
        with self.lock:
            holder = self.config_locks.get(scope)
            if holder is None:
                raise ConfigError(0, f"Config is not currently locked for scope {scope}")
            if holder.admin != admin:
                raise ConfigError(0, f"Config lock for scope {scope} is held by {holder.admin}")
            del self.config_locks[scope]

    def add_commit_lock(self, admin: str, scope: str, comment: str = "") -> None:
        with self.lock:
            if scope in self.commit_locks:
                raise ConfigError(0, f"Commit lock is already held by {self.commit_locks[scope].admin}")
            self.commit_locks[scope] = Lock(admin, comment)

    def remove_commit_lock(self, admin: str, scope: str) -> None:
        with self.lock:
            holder = self.commit_locks.get(scope)
            if holder is None or holder.admin != admin:
                raise ConfigError(0, f"Commit lock is not currently held by {admin}")
            del self.commit_locks[scope]

    # ---------------------------------------------------------------- commits

    def commit(self, admin: str, *, admins: list[str] | None, force: bool = False,
               description: str = "") -> jobs.Job | None:
        """Enqueue a commit of everything (admins None) or of the named admins' changes.

        Returns None when there is nothing to commit.
        """
        with self.lock:
            for holder in self.commit_locks.values():
                if holder.admin != admin:
                    raise ConfigError(0, f"Commit lock is currently held by {holder.admin}")
            if self.faults.take("commit_in_progress", "commit"):
                raise ConfigError(13, "Another commit/validate is in progress. Please try again later")
            todo = [c for c in self.changes if c.id not in self._in_flight
                    and (admins is None or c.admin in admins)]
            if not todo and not force:
                return None
            failure = self.faults.take("commit_fail", "commit")
            ids = {c.id for c in todo}
            # Every pending change is this commit's: what it commits is the candidate itself, whose
            # reference problems each write kept exact (incremental.py). Replaying the changes on a
            # copy of the running config and checking it all again cost seconds at 50,000 objects.
            whole = admins is None or (not self._in_flight and len(todo) == len(self.changes))
            self._in_flight |= ids
            snapshot, ecmp_as = self._snapshot() if whole else (None, None)
            known = self._problems if whole else None
            replay = [c.copy() for c in todo]
            for scope in [s for s, lock in self.config_locks.items() if lock.admin == admin]:
                del self.config_locks[scope]
            for scope in [s for s, lock in self.commit_locks.items() if lock.admin == admin]:
                del self.commit_locks[scope]
            self.commits += 1

            def work(job: jobs.Job) -> tuple[bool, list[str]]:
                return self._finish_commit(ids, snapshot, replay, failure, known, ecmp_as)

            return self.jobs.submit(user=admin, type="Commit", work=work, description=description)

    def _note(self, changed: list[tuple[int, ...]]) -> None:
        """Positions local writes changed, for the next snapshot (dropped past a bound: a whole copy)."""
        if self._base is None or self._base_of is not self.candidate or len(self._changed) > 10_000:
            self._base, self._changed = None, []
        else:
            self._changed += changed

    def _snapshot(self) -> tuple[ET.Element, ET.Element | None]:
        """A copy of the candidate to commit, sharing what no write changed with the last one;
        and that last one when no network element was copied (the ECMP settings are its own)."""
        base, grafted = self._base, None
        if base is not None and self._base_of is self.candidate:
            grafted = tree.grafted(base, self.candidate, self._changed, watch="network")
        new, network = grafted if grafted is not None else (tree.copied(self.candidate), True)
        self._base, self._base_of, self._changed = new, self.candidate, []
        return new, None if network else base

    def _finish_commit(self, ids: set[int], snapshot: ET.Element | None, replay: list[Change],
                       failure: Fault | None, known: frozenset[refs.Problem] | None = None,
                       ecmp_as: ET.Element | None = None) -> tuple[bool, list[str]]:
        """`ecmp_as`: a tree whose ECMP settings the snapshot shares (a walk of both saved)."""
        with self.lock:
            self._in_flight -= ids
            if failure is not None:
                return False, [*(failure.lines or ("Validation Error:", " commit failed (injected fault)")),
                               "Commit failed"]
            if snapshot is not None:
                new_running = snapshot
            else:
                new_running = tree.copied(self.running)
                try:
                    with tree.indexed():  # a name looked up per change scanned its container: O(N^2)
                        for change in replay:
                            changes.apply(new_running, change)
                except ConfigError as exc:
                    return False, ["Validation Error:", *exc.lines, "Commit failed"]
                tree.ensure_uuids(new_running)
                tree.copy_uuids(new_running, self.candidate)
            if hit := self.faults.refusal("refuse_commit", [new_running]):
                return False, ["Validation Error:", f" {hit[0]} -> '{hit[1]}' is invalid", "Commit failed"]
            # No problem known in the candidate: none in its copy. Known ones may be stale (a later
            # write can mend one without the local check noticing): those are checked again.
            problems = frozenset() if known is not None and not known else self._check(new_running)
            if problems:
                return False, ["Validation Error:", *(line for p in sorted(problems) for line in p.lines()),
                               "Commit failed"]
            if ecmp_as is not self.running and \
                    network.ecmp_settings(new_running) != network.ecmp_settings(self.running):
                self.vr_restarts += 1
            self.running = new_running
            self.changes = [c for c in self.changes if c.id not in ids]
            return True, ["Configuration committed successfully"]

    def commit_all(self, admin: str, device_group: str | None, description: str = "") -> jobs.Job:
        """Panorama push of the running device-group config (reads the DG's device list)."""
        with self.lock:
            if self.faults.take("commit_in_progress", "commit-all"):
                raise ConfigError(13, "Another commit/validate is in progress. Please try again later")
            failure = self.faults.take("commit_fail", "commit-all")
            groups = tree.config_of(self.running).findall("devices/entry/device-group/entry")
            chosen = [g for g in groups if device_group in (None, g.get("name"))]
            if device_group is not None and not chosen:
                raise ConfigError(12, f"device-group {device_group} does not exist")
            devices = [(d.get("name", ""), d.get("name", "")) for g in chosen for d in g.findall("devices/entry")]
            self.commits += 1

            def work(job: jobs.Job) -> tuple[bool, list[str]]:
                if failure is not None:
                    return False, list(failure.lines or ("push failed (injected fault)",))
                with self.lock:
                    for g in chosen:
                        self.pushed[g.get("name", "")] = copy.deepcopy(g)
                return True, ["Push succeeded"]

            return self.jobs.submit(user=admin, type="CommitAll", work=work, description=description,
                                    devices=devices)

    # ---------------------------------------------------------------- state

    def restore_ids(self, start: int) -> None:
        self._ids = itertools.count(start)

    def recheck(self) -> None:
        with self.lock:
            self._problems = self._check(self.candidate)


def _last_name(xpath: str) -> str:
    from firewall.sim import xpath as xp

    try:
        last = xp.split_last(xp.alternatives(xpath)[0])[1]
        return last.attributes().get("name", last.name)
    except (xp.XPathError, IndexError):
        return xpath
