"""The audit's rulebase analyses at scale: N managed rules (one per Service, each from its own
/16 to its own VIP and port) under a foreign deny, and the exposure matrix of N Services over
four zones. Pure, in-process (controller/core/shadowing.py, controller/core/exposure.py).

    .venv/bin/python bench/audit_rulebase.py [--services 1000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from controller.core import exposure as exp  # noqa: E402
from controller.core import shadowing as sh  # noqa: E402
from controller.core.audit_rulebase import Policy, Rule  # noqa: E402


def policy(n: int) -> Policy:
    addrs = {f"v{i}": ("ip-netmask", f"10.96.{i // 250}.{i % 250 + 1}/32") for i in range(n)}
    svcs = {f"tcp-{p}": (("tcp", str(p)),) for p in range(8000, 8000 + n)}
    rules = [Rule("deny-bad", 1, action="deny", sources=("198.51.100.0/24",))]
    rules += [Rule(f"bmlb_{i}", i + 2, ("trust",), ("k8s",), (f"10.{i % 200}.0.0/16",), (f"v{i}",),
                   services=(f"tcp-{8000 + i}",), managed=True) for i in range(n)]
    return Policy(addresses=addrs, services=svcs, security=tuple(rules),
                  zones={z: () for z in ("trust", "untrust", "k8s", "dmz")})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--services", type=int, default=1000)
    n = parser.parse_args().services
    p = policy(n)
    started = time.perf_counter()
    found = sh.findings(p)
    findings_s = time.perf_counter() - started
    targets = [exp.Target(f"ns/s{i}", (p.addresses[f"v{i}"][1].split("/")[0],), (exp.Port("tcp", 8000 + i),))
               for i in range(n)]
    started = time.perf_counter()
    rows = exp.matrix(p, targets, lambda _ip: "k8s")
    matrix_s = time.perf_counter() - started
    print(f"{n + 1} security rules: shadowing {findings_s:.2f} s ({len(found)} findings); "
          f"exposure of {n} Services x 4 zones {matrix_s:.2f} s ({len(rows)} rows)")


if __name__ == "__main__":
    main()
