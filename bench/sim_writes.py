"""Simulator write path: multi-config batches of 500 address entries into one container, timed
per batch as the container grows, beside the old path in the same run (a copy of the whole
candidate per batch to roll back to, and a scan of the container per name looked up).

    .venv/bin/python bench/sim_writes.py [--entries 20000]

What it shows: a burst of N objects cost the simulator O(N^2) (issue 13's 10,000-Service burst);
now each batch costs the same whatever the container holds.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from firewall.sim.changes import Change
from firewall.sim.device import Device

ADDRESS = "/config/devices/entry[@name='localhost.localdomain']/vsys/entry[@name='vsys1']/address"
BATCH = 500


def run(entries: int, *, old: bool) -> list[tuple[int, float]]:
    device = Device(commit_seconds=0.0)
    if old:  # the path every batch took before: copy the candidate, scan for each name
        device._write_local_batch = lambda batch: None  # type: ignore[method-assign]
    out = []
    for b in range(entries // BATCH):
        batch = [Change("admin", "set", ADDRESS, [ET.fromstring(
            f"<entry name='a{b}-{i}'><ip-netmask>10.{b % 256}.{i // 256}.{i % 256}</ip-netmask></entry>")])
            for i in range(BATCH)]
        t0 = time.perf_counter()
        results = device.write_many(batch, strict=True)
        out.append((b * BATCH, time.perf_counter() - t0))
        assert results == [1] * BATCH, results[:3]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--entries", type=int, default=20000)
    args = ap.parse_args()
    new, old = run(args.entries, old=False), run(args.entries, old=True)
    print(f"{'entries before the batch':>26}{'now (s)':>10}{'old path (s)':>14}")
    step = max(1, len(new) // 5)
    for (n, t_new), (_, t_old) in [*list(zip(new, old, strict=True))[::step], (new[-1], old[-1])]:
        print(f"{n:>26}{t_new:>10.3f}{t_old:>14.3f}")
    last_new, last_old = new[-1][1], old[-1][1]
    first_new = sum(t for _, t in new[1:4]) / 3
    flat = last_new <= 3 * first_new
    print(f"last batch: {last_new:.3f} s now vs {last_old:.3f} s old ({last_old / last_new:.0f}x); "
          f"flat in the container's size (last <= 3x the early batches): {'met' if flat else 'NOT met'}; "
          f"load average {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
