"""Compile benchmark: one more change into a converged estate of N Services + N NATRules + N
SecurityPolicies, compiled with the operator's compile cache, beside a full compile of the same
snapshot from scratch in the same run (what every reconcile did before the cache).

    .venv/bin/python bench/compile.py [--services 10000] [--rounds 3] [--selectors]

--selectors: each SecurityPolicy selects its Service by a label (matchLabels) instead of by name.

Both run as the operator runs them: the cyclic collector paused during the compile. Each round
changes a different Service (another port) and adds a Service + NATRule + SecurityPolicy; every
cached result is checked equal to the fresh one. Issue 13's target: a one-Service change at
10,000 Services reconciled (firewall + status) within 2 s; the compile is the part printed here.
"""

from __future__ import annotations

import argparse
import copy
import gc
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from offline import estate  # noqa: E402

from controller.core.compile_cache import CompileCache  # noqa: E402
from controller.core.compiler import Compiled, compile  # noqa: E402
from controller.core.snapshot import Snapshot, ref_of  # noqa: E402


def converged(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The estate as the cluster holds it once bmlb ran: uids, creation times, recorded addresses."""
    out = []
    for i, d in enumerate(docs):
        d = copy.deepcopy(d)
        d["metadata"].update(uid=f"uid-{i}", generation=1, creationTimestamp="2026-01-01T00:00:00Z",
                             resourceVersion=str(i + 1))
        out.append(d)
    compiled = compile(Snapshot.of(out))
    by_ref = {a.ref: a for a in compiled.allocations}
    for d in out:
        a = by_ref.get(ref_of(d))
        if a is None:
            continue
        if d["kind"] == "Service":
            d["status"] = {"loadBalancer": {"ingress": [{"ip": str(ip)} for ip in a.addresses]}}
        elif d["kind"] == "NATRule":
            d["status"] = {"public": f"{a.addresses[0]}:{d['spec']['service']['port']}"}
    return out


def by_label(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each Service labelled app=<name>, each SecurityPolicy selecting it by that label."""
    for d in docs:
        if d["kind"] == "Service":
            d["metadata"]["labels"] = {"app": d["metadata"]["name"]}
        elif d["kind"] == "SecurityPolicy":
            d["spec"]["services"] = {"selector": {"matchLabels": {"app": d["metadata"]["name"]}}}
    return docs


def timed(fn: Any) -> tuple[float, Compiled]:
    gc.disable()
    try:
        t0 = time.perf_counter()
        out = fn()
        return time.perf_counter() - t0, out
    finally:
        gc.enable()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--services", type=int, default=10000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--selectors", action="store_true", help="policies select their Service by label")
    args = ap.parse_args()
    docs = converged(by_label(estate(args.services)) if args.selectors else estate(args.services))
    cache = CompileCache()
    t_first, _ = timed(lambda: compile(Snapshot.of(docs), cache=cache))
    services = [i for i, d in enumerate(docs) if d["kind"] == "Service"]
    print(f"estate: {len(docs)} objects; first compile with an empty cache {t_first:.2f} s")
    print(f"{'round':<7}{'full compile (s)':>18}{'cached compile (s)':>20}{'ratio':>8}  equal")
    fulls, cached = [], []
    for r in range(args.rounds):
        i = services[(r * 7919) % len(services)]
        changed = copy.deepcopy(docs[i])
        changed["spec"]["ports"].append({"name": f"extra{r}", "port": 8000 + r, "targetPort": 8000 + r})
        docs[i] = changed
        ns, name = f"team-new-{r}", f"svc-new-{r}"
        for kind, spec in (("Service", {"type": "LoadBalancer", "loadBalancerClass": "bmlb.io/ipvs",
                                        "ports": [{"name": "https", "port": 443, "targetPort": 8443}]}),
                           ("NATRule", {"service": {"name": name, "port": 443}, "public": {"pool": "public"},
                                        "from": {"zones": ["untrust"]}}),
                           ("SecurityPolicy", {"services": {"names": [name]},
                                               "rules": [{"name": "inet", "from": {"zones": ["untrust"]}}]})):
            docs.append({"apiVersion": "v1" if kind == "Service" else "bmlb.io/v1alpha1", "kind": kind,
                         "metadata": {"name": name, "namespace": ns, "uid": f"uid-new-{kind}-{r}",
                                      "creationTimestamp": "2026-01-02T00:00:00Z"}, "spec": spec})
        snap = Snapshot.of(docs)
        t_cached, got = timed(lambda snap=snap: compile(snap, cache=cache))
        t_full, want = timed(lambda snap=snap: compile(snap))
        same = got == want
        fulls.append(t_full)
        cached.append(t_cached)
        print(f"{r + 1:<7}{t_full:>18.2f}{t_cached:>20.2f}{t_cached / t_full:>8.2f}  {same}")
        if not same:
            print("the cached compile differs from the fresh one")
            return 1
    print(f"best: full {min(fulls):.2f} s, cached {min(cached):.2f} s "
          f"(ratio {min(cached) / min(fulls):.2f}); hits/misses {cache.stats()}")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB; "
          f"load average {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
