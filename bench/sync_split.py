"""Where a firewall sync's time goes: bmlb's own work vs the simulator's, measured apart.

    .venv/bin/python bench/sync_split.py [--services 1000] [--before 0] [--rounds 2]

The simulator runs in its own process (in bench/firewall.py it shares this process and its
interpreter lock), so the CPU seconds of each side are read separately: this process's for the
client, /proc for the simulator's. Each round, on a fresh simulator with instant commits, syncs
`--services` Services (5 objects each) onto a device holding `--before` Services already synced
(given that sync's view, as the controller does), then does the same with pan-os-python's bulk
calls (bench/firewall.py's `bulk`: refreshall per container, create_similar per type, one
commit), and prints both sides' CPU and the ratio.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.firewall import bulk
from bench.simproc import SimProcess
from firewall import sync
from firewall.config import SyncConfig
from firewall.device import Credentials, Endpoint, connect
from firewall.model import DesiredFirewall
from tests.firewall.sync_fixtures import OWN, web


def one(label: str, desired: DesiredFirewall, before: int, cfg: SyncConfig) -> float:
    """One strategy on a fresh simulator; its client CPU seconds."""
    sim = SimProcess()
    try:
        dev = connect(Endpoint(sim.host, sim.port, ca_bundle=sim.ca_file, timeout=600), Credentials(api_key=sim.key))
        view = sync.sync(web(before), dev, config=cfg).view if before else None
        sim_cpu, cpu, wall = sim.cpu(), time.process_time(), time.monotonic()
        extra = ""
        if label == "bmlb":
            r = sync.sync(desired, dev, config=cfg, view=view)
            assert not r.errors, r.errors
            less = r.seconds - r.commit_seconds
            extra = (f"sync less its commit {less:.2f} s (waiting on the device {r.device_seconds:.2f} s, "
                     f"bmlb's own {less - r.device_seconds:.2f} s); {r.requests} requests, "
                     f"read {'everything' if r.full_read else 'changed entries only'}")
        else:
            bulk(desired)(sim)  # type: ignore[arg-type]
        cpu, sim_cpu, wall = time.process_time() - cpu, sim.cpu() - sim_cpu, time.monotonic() - wall
    finally:
        sim.close()
    print(f"  {label:<6} wall {wall:6.2f} s  client CPU {cpu:6.2f} s  simulator CPU {sim_cpu:6.2f} s  {extra}",
          flush=True)
    return cpu


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--services", type=int, default=1000)
    ap.add_argument("--before", type=int, default=0, help="Services already synced (with a view)")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    cfg = SyncConfig(ownership_tag=OWN, admin="admin", poll_interval=0.05, commit_retry_seconds=0.5,
                     commit_timeout=3600)
    desired = web(args.services)
    print(f"{args.services} Services ({5 * args.services + 3} objects) onto {args.before} already synced; "
          f"commits instant; simulator in its own process; load average {os.getloadavg()[0]:.1f}")
    for _ in range(args.rounds):
        ours, theirs = (one(label, desired, args.before, cfg) for label in ("bmlb", "bulk"))
        print(f"  client CPU bmlb / pan-os-python bulk: {ours / theirs:.2f}; load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
