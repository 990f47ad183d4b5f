"""A sync does not keep what it sent: each write's serialised body is dropped once the device
answered it, so a burst's writes are never all held as text at once (a 10,000-Service estate's
first sync: ~30,000 bodies)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from firewall import sync, writes
from firewall.device import Device
from firewall.sim import Simulator
from tests.firewall.sync_fixtures import config, fw_device, web

__all__ = ["fw_device"]


def test_sent_bodies_are_not_kept(fw_device: Device, panos_sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nor are the writes themselves made before their batch: while one batch is out, the writes
    alive (oracle: the garbage collector's count, the test's own record aside) are that batch's,
    and each is rendered once."""
    import gc

    rendered: list[writes.Write] = []
    sent_batches: list[int] = []
    alive: list[int] = []
    real_render, real_multi = writes.render_one, fw_device.multi_config

    def render_one(*a: Any, **kw: Any) -> writes.Write:
        out = real_render(*a, **kw)
        rendered.append(out)
        return out

    def multi_config(batch: Any) -> Any:
        # what is still held as text while this batch is out: this batch, and nothing sent before
        sent_batches.append(sum(w.holds_body for w in rendered))
        everything = gc.get_objects()
        alive.append(sum(1 for o in everything if type(o) is writes.Write
                         and any(r is not rendered and r is not everything for r in gc.get_referrers(o))))
        del everything
        return real_multi(batch)

    monkeypatch.setattr(writes, "render_one", render_one)
    monkeypatch.setattr(fw_device, "multi_config", multi_config)
    desired = web(12)
    report = sync.sync(desired, fw_device, config=config(batch_ops=5))
    assert report.committed and not report.errors
    made = 12 * 5 + 3  # + one service object and two tags
    assert len(sent_batches) == -(-made // 5)
    assert len(rendered) == made  # each write rendered once: none past a batch's end
    assert max(sent_batches) <= 5, sent_batches
    assert max(alive) <= 5, alive
    assert not [w for w in rendered if w.holds_body]
    # what the simulator itself committed, in its own `set` rendering
    running = [line.split() for line in panos_sim.set_commands("running")]
    assert [w[4] for w in running if w[:4] == ["set", "rulebase", "security", "rules"] and w[5] == "from"] == \
        [r.name for r in desired.security_rules]
    assert len({w[4] for w in running if w[:4] == ["set", "rulebase", "nat", "rules"]}) == 12


def test_entries_read_are_not_kept_through_the_writes(fw_device: Device, panos_sim: Simulator,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A full read's parsed entries are let go once the plan is made: while the writes are out,
    an entry the plan does not change is held by nobody (oracle: the garbage collector's referrers;
    only the test's own record may hold it). A 10,000-Service burst's full read had kept ~30,000
    of them through minutes of writes."""
    import gc
    import types

    from firewall import snapshot

    first = web(12)
    assert sync.sync(first, fw_device, config=config()).committed
    changed = dataclasses.replace(first, nat_rules=tuple(
        dataclasses.replace(r, description=f"{r.description} (moved)") if i % 2 else r
        for i, r in enumerate(first.nat_rules)))

    read: list[Any] = []  # the parsed entries, and their keys beside them
    keys: list[Any] = []
    real_ours, real_multi = snapshot.ours, fw_device.multi_config

    def ours(kind: Any, key_name: str, *a: Any) -> Any:
        obj, why = real_ours(kind, key_name, *a)
        if obj is not None:
            read.append(obj)
            keys.append((kind, key_name))
        return obj, why

    held: list[list[str]] = []

    def holders(i: int) -> list[Any]:
        return [r for r in gc.get_referrers(read[i]) if r is not read and not isinstance(r, types.FrameType)]

    def multi_config(batch: Any) -> Any:
        written = {(w.op.kind, w.op.name) for w in batch}
        gc.collect()
        held.append([keys[i][1] for i in range(len(read)) if keys[i] not in written and holders(i)])
        return real_multi(batch)

    monkeypatch.setattr(snapshot, "ours", ours)
    monkeypatch.setattr(fw_device, "multi_config", multi_config)
    report = sync.sync(changed, fw_device, config=config())  # no view given: it reads everything
    assert report.committed and not report.errors and report.full_read
    assert len(read) == 12 * 5 + 3 and held, (len(read), held)
    assert held == [[]] * len(held), held[0][:5]


def test_entries_read_as_desired_are_held_as_the_desired_values(fw_device: Device, panos_sim: Simulator,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A full read keeps an entry the device holds exactly as desired as the desired object, and
    one that differs as the device has it but with the desired object's strings and tuples where
    they are equal (a 10,000-Service estate's read parsed ~50,000 copies of them: the snapshot held
    53 MB, now 9-16 MB): the plan updates exactly those that differ, and the simulator then holds
    what was desired (its own `set` rendering is the oracle)."""
    from firewall import reader
    from firewall.model import Owner

    def owned(obj: Any) -> Any:  # as the compiler makes them: with an owner, which the device never holds
        return dataclasses.replace(obj, owner=Owner("Service", "web", obj.name, "u1", 1))

    base = web(12)
    first = dataclasses.replace(base, addresses=tuple(map(owned, base.addresses)),
                                security_rules=tuple(map(owned, base.security_rules)),
                                nat_rules=tuple(map(owned, base.nat_rules)))
    assert sync.sync(first, fw_device, config=config()).committed
    moved = {r.name for i, r in enumerate(first.nat_rules) if i % 3 == 0}
    second = dataclasses.replace(first, nat_rules=tuple(
        dataclasses.replace(r, description=f"{r.description} (moved)") if r.name in moved else r
        for r in first.nat_rules))
    snaps: list[Any] = []
    real_read = reader.read

    def read(*a: Any) -> Any:
        snaps.append(real_read(*a))
        return snaps[-1]

    monkeypatch.setattr(reader, "read", read)
    report = sync.sync(second, fw_device, config=config())  # no view given: it reads everything
    assert report.committed and not report.errors and report.full_read
    assert {op.name for op in report.applied} == moved
    (snap,) = snaps
    desired = {o.name: o for o in (*second.addresses, *second.security_rules, *second.nat_rules)}
    shared = [n for (_, n), o in snap.owned.items() if n in desired and o.description is desired[n].description]
    assert sorted(shared) == sorted(set(desired) - moved)
    for name in moved:  # read as the device had it: the old text; what it holds as desired, held once
        entry = snap.owned[(next(k for k, n in snap.owned if n == name), name)]
        assert entry.description == desired[name].description.removesuffix(" (moved)")
        for f in dataclasses.fields(entry):
            mine, theirs = getattr(entry, f.name), getattr(desired[name], f.name)
            if f.name not in ("description", "owner") and isinstance(mine, (str, tuple)) and mine:
                assert mine is theirs, (name, f.name)
    running = panos_sim.set_commands("running")
    for name in moved:
        assert any(f"rules {name} description" in line and "(moved)" in line for line in running), name
    again = sync.sync(second, fw_device, config=config())
    assert again.plan.empty and not again.committed
