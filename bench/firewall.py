"""Benchmark: bmlb's firewall sync vs the naive pan-os-python way, against the simulator.

    .venv/bin/python bench/firewall.py [--services 200] [--rules 1000]

Burst: N Services, each with a VIP and a public address, a NAT rule and two security rules.
  bmlb            sync(): reads per container, multi-config batches, one partial commit
  naive/commit    pan-os-ansible style per object: refresh(), create() or apply(), commit each
  naive/1 commit  the same, one commit at the end
No-op resync over R managed rules: bmlb vs naive refresh()+equal() per object.
Counts are the simulator's (every HTTP request after connecting); commit duration ~0.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from panos import objects, policies
from panos.errors import PanObjectMissing
from panos.firewall import Firewall

from firewall import sync
from firewall.config import SyncConfig
from firewall.device import Credentials, Endpoint, connect
from firewall.model import DesiredFirewall
from firewall.sim import Simulator
from tests.firewall.sync_fixtures import OWN, web

CONFIG = SyncConfig(ownership_tag=OWN, poll_interval=0.01, commit_retry_seconds=0.05)


def pan_objects(desired: DesiredFirewall) -> list[Any]:
    out: list[Any] = [objects.Tag(t.name, color=t.color, comments=t.comments or None) for t in desired.tags]
    out += [objects.AddressObject(a.name, a.value, description=a.description, tag=list(a.tags))
            for a in desired.addresses]
    out += [objects.ServiceObject(s.name, s.protocol.value, destination_port=s.port, tag=list(s.tags))
            for s in desired.services]
    out += [policies.SecurityRule(r.name, fromzone=list(r.from_zones), tozone=list(r.to_zones),
                                  source=list(r.sources), destination=list(r.destinations),
                                  application=list(r.applications), service=list(r.services),
                                  action=r.action.value, tag=list(r.tags)) for r in desired.security_rules]
    out += [policies.NatRule(n.name, fromzone=list(n.from_zones), tozone=list(n.to_zones),
                             source=list(n.sources), destination=list(n.destination), service=n.service,
                             destination_translated_address=n.translated_address,
                             destination_translated_port=n.translated_port, tag=list(n.tags))
            for n in desired.nat_rules]
    return out


def naive(sim: Simulator, desired: DesiredFirewall, *, commit_each: bool) -> None:
    fw = Firewall(sim.host, api_key=sim.api_key(), port=sim.port, timeout=30, interval=0.005)
    fw.refresh_system_info()
    base = fw.add(policies.Rulebase())
    sim.reset_stats()
    for obj in pan_objects(desired):
        (base if isinstance(obj, policies.SecurityRule | policies.NatRule) else fw).add(obj)
        probe = type(obj)(obj.name)
        obj.parent.add(probe)
        try:
            probe.refresh()
            if not probe.equal(obj):
                obj.apply()
        except PanObjectMissing:
            obj.create()
        obj.parent.remove(probe)
        if commit_each:
            fw.commit(sync=True)
    if not commit_each:
        fw.commit(sync=True)


def naive_noop(sim: Simulator, desired: DesiredFirewall) -> None:
    fw = Firewall(sim.host, api_key=sim.api_key(), port=sim.port, timeout=30, interval=0.005)
    fw.refresh_system_info()
    base = fw.add(policies.Rulebase())
    sim.reset_stats()
    for obj in pan_objects(desired):
        (base if isinstance(obj, policies.SecurityRule | policies.NatRule) else fw).add(obj)
        probe = type(obj)(obj.name)
        obj.parent.add(probe)
        probe.refresh()
        if not probe.equal(obj):
            obj.apply()


def measure(label: str, run: Callable[[Simulator], None], prepare: Callable[[Simulator], None] | None = None,
            ) -> dict[str, Any]:
    with Simulator.start(commit_seconds=0.0) as sim:
        if prepare:
            prepare(sim)
        sim.reset_stats()
        start = time.perf_counter()
        run(sim)
        wall = time.perf_counter() - start
        sim.wait_for_jobs()
        stats = sim.stats_snapshot()
    row = {"label": label, "requests": stats["requests"].get("total", 0), "writes": stats["writes"],
           "commits": stats["commits"], "wall": wall}
    print(f"  {label:<34} {row['requests']:>8} {row['writes']:>7} {row['commits']:>8} {wall:>9.2f}s", flush=True)
    return row


def bmlb(desired: DesiredFirewall) -> Callable[[Simulator], None]:
    def run(sim: Simulator) -> None:
        dev = connect(Endpoint(sim.host, sim.port, ca_bundle=sim.ca_file, timeout=600),
                      Credentials(api_key=sim.api_key()))
        sim.reset_stats()
        report = sync.sync(desired, dev, config=SyncConfig(**{**_cfg(), "admin": "admin"}))
        assert not report.errors, report.errors
    return run


def _cfg() -> dict[str, Any]:
    return {f: getattr(CONFIG, f) for f in CONFIG.__dataclass_fields__}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--services", type=int, default=200)
    parser.add_argument("--rules", type=int, default=1000)
    args = parser.parse_args()
    burst = web(args.services)
    n_objects = len(pan_objects(burst))
    print(f"burst: {args.services} Services = {n_objects} objects "
          f"({len(burst.security_rules)} security rules, {len(burst.nat_rules)} NAT rules)")
    print(f"  {'':<34} {'requests':>8} {'writes':>7} {'commits':>8} {'wall':>10}")
    ours = measure("bmlb sync", bmlb(burst))
    each = measure("naive: commit per object", lambda s: naive(s, burst, commit_each=True))
    once = measure("naive: one final commit", lambda s: naive(s, burst, commit_each=False))
    print(f"  requests: naive/commit-each ÷ bmlb = {each['requests'] / ours['requests']:.0f}x, "
          f"naive/one-commit ÷ bmlb = {once['requests'] / ours['requests']:.0f}x; "
          f"wall: {each['wall'] / ours['wall']:.0f}x and {once['wall'] / ours['wall']:.0f}x")

    big = web(args.rules // 2)
    print(f"no-op resync: {len(big.security_rules)} managed security rules + {len(big.nat_rules)} NAT rules")
    print(f"  {'':<34} {'requests':>8} {'writes':>7} {'commits':>8} {'wall':>10}")

    def setup(sim: Simulator) -> None:
        bmlb(big)(sim)

    noop = measure("bmlb no-op resync", bmlb(big), prepare=setup)
    naive_row = measure("naive no-op (refresh+equal)", lambda s: naive_noop(s, big), prepare=setup)
    print(f"  requests: naive ÷ bmlb = {naive_row['requests'] / noop['requests']:.0f}x")
    ok = (once["requests"] >= 50 * ours["requests"] and ours["commits"] == 1
          and noop["writes"] == 0 and noop["commits"] == 0)
    print(f"targets (>= 50x fewer requests than naive, 1 commit, 0 writes/0 commits on no-op): "
          f"{'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
