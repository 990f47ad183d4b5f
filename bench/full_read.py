"""A full read of the device (what every first sync and periodic resync does): bmlb's reader, which
parses each container's answer as it arrives (firewall/stream_get.py), beside the same read through
pan-os-python's xapi, which reads each answer whole and parses it into one tree (the way bmlb read
until session 15), in the same run, alternated; and bmlb's reader as a sync calls it, beside the
desired objects (an entry read as desired is kept as the desired object, one that differs keeps
the desired object's equal strings and tuples: firewall/snapshot.py `Known`, session 21).

    .venv/bin/python bench/full_read.py [--services 10000] [--rounds 2]

The simulator runs in its own process and holds the estate bmlb writes for N Services (NAT + 2
security rules each: 5N+3 objects). Printed per read: the Python heap's peak during the read above
what was alive before it (tracemalloc: ElementTree and expat allocate through Python's allocator),
what the read leaves alive (the snapshot), and the read's wall time in a separate untraced run; and
whether both reads give the same snapshot.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import os
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.simproc import SimProcess
from firewall import diff, reader, snapshot, sync, xpaths
from firewall import view as views
from firewall.config import SyncConfig
from firewall.device import Credentials, Device, Endpoint, connect
from firewall.model import DesiredFirewall, Owner
from tests.firewall.sync_fixtures import OWN, web


def whole(dev: Device, cfg: SyncConfig) -> snapshot.Snapshot:
    """The baseline: each container's answer read whole by pan-os-python's xapi, then the same parse."""
    def containers():  # type: ignore[no-untyped-def]
        for kind in snapshot.READ_KINDS:
            result = dev.get(xpaths.container(cfg, kind))
            container = result[0] if result is not None and len(result) else None
            del result
            yield kind, container
            del container
    return snapshot.build(containers(), cfg)


def with_owners(desired: DesiredFirewall) -> DesiredFirewall:
    """As the compiler makes them: each object with its owner (the device never holds one)."""
    def owned(group: tuple) -> tuple:  # type: ignore[type-arg]
        return tuple(dataclasses.replace(o, owner=Owner("Service", "web", o.name, "uid", 1)) for o in group)
    return dataclasses.replace(desired, addresses=owned(desired.addresses),
                               security_rules=owned(desired.security_rules), nat_rules=owned(desired.nat_rules))


def beside(desired: DesiredFirewall, cfg: SyncConfig) -> Callable[[Device, SyncConfig], snapshot.Snapshot]:
    """bmlb's read as a sync makes it (firewall/sync.py `_Sync.known`)."""
    current = views.by_key(desired, cfg)

    def known(key: snapshot.Key) -> object:
        obj = current.get(key)
        return None if obj is None else diff.want_of(obj, cfg.ownership_tag)

    return lambda dev, c: reader.read(dev, c, known)  # type: ignore[arg-type]


def measure(read: Callable[[Device, SyncConfig], snapshot.Snapshot], dev: Device,
            cfg: SyncConfig) -> tuple[float, float, float, snapshot.Snapshot]:
    """(peak MB above the start, MB left alive, seconds untraced, the snapshot)."""
    gc.collect()
    started = time.perf_counter()
    snap = read(dev, cfg)
    seconds = time.perf_counter() - started
    del snap
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    snap = read(dev, cfg)
    gc.collect()
    alive, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return (peak - base) / 2**20, (alive - base) / 2**20, seconds, snap


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--services", type=int, default=10000)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    cfg = SyncConfig(ownership_tag=OWN, admin="admin", poll_interval=0.05, commit_retry_seconds=0.5,
                     commit_timeout=3600)
    with SimProcess() as sim:
        dev = connect(Endpoint(sim.host, sim.port, ca_bundle=sim.ca_file, timeout=600),
                      Credentials(api_key=sim.api_key()))
        desired = with_owners(web(args.services))
        report = sync.sync(desired, dev, config=cfg)
        assert not report.errors, report.errors
        sim.wait_for_jobs(timeout=3600)
        print(f"a full read of {args.services} Services' objects ({5 * args.services + 3} managed) from the "
              f"simulator (own process, HTTPS)")
        print(f"{'':34}{'peak (MB)':>11}{'left alive (MB)':>17}{'wall (s)':>10}")
        rows: dict[str, list[tuple[float, float, float]]] = {"bmlb": [], "xapi": [], "sync": []}
        names = {"bmlb": "bmlb (parsed as it arrives)", "xapi": "pan-os-python xapi (whole)",
                 "sync": "bmlb, desired beside (a sync)"}
        snaps = {}
        for r in range(args.rounds):
            for label, read in (("bmlb", reader.read), ("xapi", whole), ("sync", beside(desired, cfg))):
                peak, alive, seconds, snaps[label] = measure(read, dev, cfg)
                rows[label].append((peak, alive, seconds))
                print(f"{names[label] + ' ' + str(r + 1):<34}{peak:>11.1f}{alive:>17.1f}{seconds:>10.2f}", flush=True)
            same = snaps["bmlb"] == snaps["xapi"] == snaps["sync"]
            snaps.clear()
            print(f"  same snapshot from all three: {'yes' if same else 'NO'}")
    beside_peak, beside_alive = min(p for p, _, _ in rows["sync"]), min(a for _, a, _ in rows["sync"])
    alone_alive = min(a for _, a, _ in rows["bmlb"])
    print(f"a sync's read, desired objects beside: peak {beside_peak:.1f} MB, left alive {beside_alive:.1f} MB "
          f"(alone: {alone_alive:.1f} MB; ratio {beside_alive / alone_alive:.2f})")
    ours, theirs = min(p for p, _, _ in rows["bmlb"]), min(p for p, _, _ in rows["xapi"])
    t_ours, t_theirs = min(s for _, _, s in rows["bmlb"]), min(s for _, _, s in rows["xapi"])
    print(f"best peak: bmlb {ours:.1f} MB, xapi whole {theirs:.1f} MB (ratio {ours / theirs:.2f}); best wall: "
          f"{t_ours:.2f} s vs {t_theirs:.2f} s (ratio {t_ours / t_theirs:.2f}); load average {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
