"""A sync does not keep what it sent: each write's serialised body is dropped once the device
answered it, so a burst's writes are never all held as text at once (a 10,000-Service estate's
first sync: ~30,000 bodies)."""

from __future__ import annotations

from typing import Any

import pytest

from firewall import sync, writes
from firewall.device import Device
from firewall.sim import Simulator
from tests.firewall.sync_fixtures import config, fw_device, web

__all__ = ["fw_device"]


def test_sent_bodies_are_not_kept(fw_device: Device, panos_sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    rendered: list[writes.Write] = []
    sent_batches: list[int] = []
    real_render, real_multi = writes.render, fw_device.multi_config

    def render(*a: Any, **kw: Any) -> list[writes.Write]:
        out = real_render(*a, **kw)
        rendered.extend(out)
        return out

    def multi_config(batch: Any) -> Any:
        # what is still held as text while this batch is out: this batch, and nothing sent before
        sent_batches.append(sum(w.holds_body for w in rendered))
        return real_multi(batch)

    monkeypatch.setattr(writes, "render", render)
    monkeypatch.setattr(fw_device, "multi_config", multi_config)
    desired = web(12)
    report = sync.sync(desired, fw_device, config=config(batch_ops=5))
    assert report.committed and not report.errors
    assert len(rendered) == 12 * 5 + 3  # + one service object and two tags
    assert len(sent_batches) == -(-len(rendered) // 5)
    assert max(sent_batches) <= 5, sent_batches
    assert not [w for w in rendered if w.holds_body]
    # what the simulator itself committed, in its own `set` rendering
    running = [line.split() for line in panos_sim.set_commands("running")]
    assert [w[4] for w in running if w[:4] == ["set", "rulebase", "security", "rules"] and w[5] == "from"] == \
        [r.name for r in desired.security_rules]
    assert len({w[4] for w in running if w[:4] == ["set", "rulebase", "nat", "rules"]}) == 12
