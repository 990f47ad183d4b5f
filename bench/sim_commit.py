"""Simulator cost of a one-Service change at N Services, in process: a multi-config of two edits
(the Service's service object and its security rule) and a commit, as bmlb sends them.

    .venv/bin/python bench/sim_commit.py [--services 10000] [--rounds 5]

Each Service holds five objects (an address, a service, a tag, a security rule and a NAT rule):
10,000 Services are 50,000 objects. Printed: the write and the commit (enqueue to job done) per
round, and their medians; beside them, in the same run, the same changes committed from a whole
copy of the candidate (what every commit did before the snapshot shared what no write changed).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from firewall.sim.changes import Change
from firewall.sim.defaults import FIREWALL_CONFIG, VSYS1_XPATH
from firewall.sim.device import Device


def _service(i: int, port: int) -> str:
    return (f"<entry name='svc-{i}'><protocol><tcp><port>{port}</port></tcp></protocol>"
            f"<tag><member>t-{i}</member></tag></entry>")


def _rule(i: int) -> str:
    return (f"<entry name='r-{i}'><from><member>untrust</member></from><to><member>k8s</member></to>"
            f"<source><member>any</member></source><destination><member>a-{i}</member></destination>"
            f"<service><member>svc-{i}</member></service><application><member>any</member></application>"
            f"<action>allow</action><tag><member>t-{i}</member></tag></entry>")


def config(services: int) -> str:
    addresses = "".join(f"<entry name='a-{i}'><ip-netmask>10.{i // 65536}.{i // 256 % 256}.{i % 256}</ip-netmask>"
                        f"<tag><member>t-{i}</member></tag></entry>" for i in range(services))
    tags = "".join(f"<entry name='t-{i}'/>" for i in range(services))
    svcs = "".join(_service(i, 1000 + i % 50000) for i in range(services))
    rules = "".join(_rule(i) for i in range(services))
    nat = "".join(f"<entry name='n-{i}'><from><member>untrust</member></from><to><member>untrust</member></to>"
                  f"<source><member>any</member></source><destination><member>a-{i}</member></destination>"
                  f"<service>svc-{i}</service><destination-translation><translated-address>10.200.0.1"
                  f"</translated-address></destination-translation></entry>" for i in range(services))
    return (FIREWALL_CONFIG.replace("<address/>", f"<address>{addresses}</address>", 1)
            .replace("<service/>", f"<service>{svcs}</service>", 1)
            .replace("<tag/>", f"<tag>{tags}</tag>", 1)
            .replace("<security><rules/>", f"<security><rules>{rules}</rules>", 1)
            .replace("<nat><rules/>", f"<nat><rules>{nat}</rules>", 1))


def change(i: int, port: int) -> list[Change]:
    rule = ET.fromstring(_rule(i))
    ET.SubElement(rule, "description").text = f"port {port}"
    service = ET.fromstring(_service(i, port))
    return [Change("admin", "edit", f"{VSYS1_XPATH}/service/entry[@name='svc-{i}']", [service]),
            Change("admin", "edit", f"{VSYS1_XPATH}/rulebase/security/rules/entry[@name='r-{i}']", [rule])]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--services", type=int, default=10000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    t0 = time.perf_counter()
    device = Device(config_xml=config(args.services), commit_seconds=0.0)
    print(f"device with {args.services} Services built in {time.perf_counter() - t0:.1f} s")
    medians = {}
    for how in ("shared", "whole copy"):
        writes, commits = [], []
        for r in range(args.rounds):
            n = r + (args.rounds if how == "whole copy" else 0)
            i = (n * 7919) % args.services
            t0 = time.perf_counter()
            results = device.write_many(change(i, 60000 + n), strict=True)
            t1 = time.perf_counter()
            assert results == [1, 1], results
            if how == "whole copy":
                device._base = None  # the next snapshot copies the whole candidate
            job = device.commit("admin", admins=["admin"])
            assert job is not None
            assert device.jobs.wait_idle(60)
            t2 = time.perf_counter()
            assert job.result == "OK", job.details
            writes.append(t1 - t0)
            commits.append(t2 - t1)
            print(f"{how} round {r}: write {t1 - t0:.3f} s, commit {t2 - t1:.3f} s")
        medians[how] = statistics.median(commits)
        print(f"{how}: median write {statistics.median(writes):.3f} s, commit {medians[how]:.3f} s, "
              f"total {statistics.median(writes) + medians[how]:.3f} s")
    print(f"commit, shared / whole copy: {medians['shared'] / medians['whole copy']:.2f}")
    device.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
