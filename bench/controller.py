"""Controller benchmark: a burst of LoadBalancer Services with NAT and security rules, applied at
once against the real test API server and the PAN-OS simulator (commit time 0).

    .venv/bin/python bench/controller.py [--services 1000] [--rss-services 10000] [--baseline 200]

Prints, side by side in one run: bmlb (debounced: every change within the window -> one sync ->
one commit) vs the baseline of syncing on every change (debounce 0), on the same burst; then the
full-size burst: time to convergence, firewall API requests and commits, controller peak RSS;
then the controller's peak RSS holding --rss-services Services.
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures as cf
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import kubernetes  # noqa: E402

from controller.localcluster import Cluster, apply_crds, process  # noqa: E402
from firewall.sim import Simulator  # noqa: E402
from tests.apiserver.server import ApiServer, ensure_built  # noqa: E402


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def objects(ns: str, n: int, pub_pool: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(n):
        name = f"s{i:05d}"
        out.append({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
                    "spec": {"type": "LoadBalancer", "loadBalancerClass": "bmlb.io/ipvs",
                             "ports": [{"name": "https", "port": 443, "targetPort": 8443}]}})
        if pub_pool:
            out.append({"apiVersion": "bmlb.io/v1alpha1", "kind": "NATRule",
                        "metadata": {"name": name, "namespace": ns},
                        "spec": {"service": {"name": name, "port": 443}, "public": {"pool": pub_pool},
                                 "from": {"zones": ["untrust"]}}})
            out.append({"apiVersion": "bmlb.io/v1alpha1", "kind": "SecurityPolicy",
                        "metadata": {"name": name, "namespace": ns},
                        "spec": {"services": {"names": [name]},
                                 "rules": [{"name": "inet", "from": {"zones": ["untrust"]}},
                                           {"name": "office", "from": {"zones": ["trust"],
                                                                       "addresses": ["192.0.2.0/24"]}}]}})
    return out


def ready_count(cluster: Cluster, ns: str) -> int:
    items = cluster.custom.list_namespaced_custom_object("bmlb.io", "v1alpha1", ns, "natrules")["items"]
    return sum(1 for it in items for c in (it.get("status") or {}).get("conditions") or []
               if c.get("type") == "Ready" and c.get("status") == "True")


def vip_count(cluster: Cluster, ns: str) -> int:
    return sum(1 for s in cluster.core.list_namespaced_service(ns).items
               if s.status and s.status.load_balancer and s.status.load_balancer.ingress)


def run_burst(api: ApiServer, cluster: Cluster, sim: Simulator, work: Path, *, n: int, debounce: float,
              label: str) -> dict[str, float]:
    ns = f"bench-{label}"
    cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    cluster.apply({"apiVersion": "bmlb.io/v1alpha1", "kind": "VIPPool", "metadata": {"name": f"{ns}-vips"},
                   "spec": {"addresses": ["10.100.0.0/16"] if label == "full" else ["10.101.0.0/20"],
                            "zone": "k8s", "namespaces": [ns]}})
    cluster.apply({"apiVersion": "bmlb.io/v1alpha1", "kind": "VIPPool", "metadata": {"name": f"{ns}-pub"},
                   "spec": {"addresses": ["198.18.0.0/20"] if label == "full" else ["198.19.0.0/21"],
                            "zone": "untrust", "purpose": "Public", "autoAssign": False, "namespaces": [ns]}})
    with process(["controller", "--kubeconfig", str(api.kubeconfig), "--namespace", ns, "--peering", "",
                  "--debounce", str(debounce), "--resync", "3600"], env=api.env(),
                 log=work / f"controller-{label}.log") as proc:
        time.sleep(3)
        sim.wait_for_jobs()
        sim.reset_stats()
        t0 = time.monotonic()
        with cf.ThreadPoolExecutor(8) as pool:
            list(pool.map(cluster.apply, objects(ns, n, f"{ns}-pub")))
        created = time.monotonic() - t0
        while ready_count(cluster, ns) < n:
            if proc.poll() is not None:
                raise SystemExit(f"controller died: see {work}/controller-{label}.log")
            time.sleep(0.5)
        converged = time.monotonic() - t0
        sim.wait_for_jobs()
        stats = sim.stats_snapshot()
        rss = peak_rss_mb(proc.pid)
    _clean(cluster, ns)
    return {"n": n, "create_s": created, "converged_s": converged, "requests": stats["requests"].get("total", 0),
            "writes": stats["writes"], "commits": stats["commits"], "rss_mb": rss}


def _clean(cluster: Cluster, ns: str) -> None:
    for plural in ("natrules", "securitypolicies"):
        for it in cluster.custom.list_namespaced_custom_object("bmlb.io", "v1alpha1", ns, plural)["items"]:
            name = it["metadata"]["name"]
            cluster.custom.patch_namespaced_custom_object("bmlb.io", "v1alpha1", ns, plural, name,
                                                          {"metadata": {"finalizers": None}})
            cluster.custom.delete_namespaced_custom_object("bmlb.io", "v1alpha1", ns, plural, name)
    for s in cluster.core.list_namespaced_service(ns).items:
        cluster.core.patch_namespaced_service(s.metadata.name, ns, {"metadata": {"finalizers": None}})
        cluster.core.delete_namespaced_service(s.metadata.name, ns)
    for plural in ("vippools",):
        for suffix in ("-vips", "-pub"):
            cluster.custom.delete_cluster_custom_object("bmlb.io", "v1alpha1", plural, ns + suffix)


def rss_at(api: ApiServer, cluster: Cluster, work: Path, n: int) -> dict[str, float]:
    ns = "bench-rss"
    cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    cluster.apply({"apiVersion": "bmlb.io/v1alpha1", "kind": "VIPPool", "metadata": {"name": "rss-vips"},
                   "spec": {"addresses": ["10.120.0.0/16"], "zone": "k8s", "namespaces": [ns]}})
    t0 = time.monotonic()
    with cf.ThreadPoolExecutor(8) as pool:
        list(pool.map(cluster.apply, objects(ns, n, "")))
    created = time.monotonic() - t0
    with process(["controller", "--kubeconfig", str(api.kubeconfig), "--namespace", ns, "--peering", "",
                  "--debounce", "1", "--resync", "3600"], env=api.env(), log=work / "controller-rss.log") as proc:
        t1 = time.monotonic()
        while vip_count(cluster, ns) < n:
            if proc.poll() is not None:
                raise SystemExit(f"controller died: see {work}/controller-rss.log")
            time.sleep(1.0)
        allocated = time.monotonic() - t1
        time.sleep(2)
        rss = peak_rss_mb(proc.pid)
    return {"n": n, "create_s": created, "allocated_s": allocated, "rss_mb": rss}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--services", type=int, default=1000)
    ap.add_argument("--baseline", type=int, default=200, help="burst size for the side-by-side comparison")
    ap.add_argument("--rss-services", type=int, default=10000)
    args = ap.parse_args()
    ensure_built()
    work = Path(tempfile.mkdtemp(prefix="bmlb-bench-"))
    with ApiServer(work / "api") as api, Simulator.start(commit_seconds=0.0) as sim:
        cluster = Cluster(kubernetes.config.new_client_from_config(config_file=str(api.kubeconfig)), api.kubeconfig)
        apply_crds(cluster)
        cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bmlb-system"}})
        cluster.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "fw", "namespace": "bmlb-system"},
                       "data": {"apiKey": base64.b64encode(sim.api_key("admin").encode()).decode(),
                                "username": base64.b64encode(b"admin").decode()}})
        cluster.apply({"apiVersion": "bmlb.io/v1alpha1", "kind": "Firewall", "metadata": {"name": "edge"},
                       "spec": {"host": sim.host, "port": sim.port, "caBundle": Path(sim.ca_file).read_text(),
                                "credentialsSecret": {"name": "fw", "namespace": "bmlb-system"},
                                "routing": {"mode": "none"}}})
        if args.baseline:
            print(f"# burst of {args.baseline} Services (+1 NATRule, +1 SecurityPolicy with 2 rules each), "
                  "side by side")
            b = run_burst(api, cluster, sim, work, n=args.baseline, debounce=2.0, label="bmlb")
            s = run_burst(api, cluster, sim, work, n=args.baseline, debounce=0.0, label="baseline")
            print(f"{'':24}{'bmlb (debounce 2s)':>20}{'sync per change':>20}{'ratio':>10}")
            for key, fmt in (("converged_s", "{:.1f}"), ("requests", "{:.0f}"), ("writes", "{:.0f}"),
                             ("commits", "{:.0f}"), ("rss_mb", "{:.0f}")):
                ratio = (s[key] / b[key]) if b[key] else float("nan")
                print(f"{key:24}{fmt.format(b[key]):>20}{fmt.format(s[key]):>20}{ratio:>10.1f}x")
        if args.services:
            print(f"\n# full burst: {args.services} Services with NAT and security rules")
            f = run_burst(api, cluster, sim, work, n=args.services, debounce=2.0, label="full")
            print(f"created in {f['create_s']:.1f}s, converged (all NATRules Ready) in {f['converged_s']:.1f}s; "
                  f"firewall: {f['requests']:.0f} API requests, {f['writes']:.0f} writes, {f['commits']:.0f} commits; "
                  f"controller peak RSS {f['rss_mb']:.0f} MB")
        if args.rss_services:
            r = rss_at(api, cluster, work, args.rss_services)
            print(f"\n# {r['n']} Services held: all allocated {r['allocated_s']:.1f}s after controller start; "
                  f"controller peak RSS {r['rss_mb']:.0f} MB")
    print(f"logs: {work}")


if __name__ == "__main__":
    main()
