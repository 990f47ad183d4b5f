"""Offline validate/plan benchmark: an estate of N Services + N NATRules + N SecurityPolicies
(3N + 3 objects in one file), validated and planned in-process, beside the C YAML loader merely
reading the same file (PyYAML's CSafeLoader: the baseline; bmlb's strict load builds the same
objects with its own constructor, so it can take less). Each step is timed on its first call in
the process: templates, validators and CEL programs are built inside the timed validate.

    .venv/bin/python bench/offline.py [--services 1000]

Target (issue 13): validate of the 3,003-object estate under 3 s and within 3x of the C loader.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from controller.cli import manifest_files  # noqa: E402
from controller.core import render, schema, schemacel, validate  # noqa: E402
from controller.core.validate import check  # noqa: E402


def estate(n: int) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = [
        {"apiVersion": "bmlb.io/v1alpha1", "kind": "VIPPool", "metadata": {"name": "vips"},
         "spec": {"addresses": ["10.64.0.0/16"], "zone": "k8s"}},
        {"apiVersion": "bmlb.io/v1alpha1", "kind": "VIPPool", "metadata": {"name": "public"},
         "spec": {"addresses": ["198.18.0.0/16"], "zone": "untrust", "purpose": "Public", "autoAssign": False}},
        {"apiVersion": "bmlb.io/v1alpha1", "kind": "Firewall", "metadata": {"name": "edge"},
         "spec": {"host": "fw.example.net", "credentialsSecret": {"name": "c", "namespace": "bmlb-system"}}},
    ]
    for i in range(n):
        ns, name = f"team-{i % 50}", f"svc-{i}"
        docs.append({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
                     "spec": {"type": "LoadBalancer", "loadBalancerClass": "bmlb.io/ipvs",
                              "ports": [{"name": "https", "port": 443, "targetPort": 8443}]}})
        docs.append({"apiVersion": "bmlb.io/v1alpha1", "kind": "NATRule", "metadata": {"name": name, "namespace": ns},
                     "spec": {"service": {"name": name, "port": 443}, "public": {"pool": "public"},
                              "from": {"zones": ["untrust"]}}})
        docs.append({"apiVersion": "bmlb.io/v1alpha1", "kind": "SecurityPolicy",
                     "metadata": {"name": name, "namespace": ns},
                     "spec": {"services": {"names": [name]}, "rules": [
                         {"name": "inet", "from": {"zones": ["untrust"]}, "applications": ["ssl"]},
                         {"name": "office", "from": {"zones": ["trust"], "addresses": ["192.0.2.0/24"]}}]}})
    return docs


def timed(fn: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def _timing(module: Any, name: str) -> list[float]:
    """Wrap module.name so that each call's seconds are appended to the list returned (to split
    the timed check into the compile and the rest without timing anything twice)."""
    fn = getattr(module, name)
    seconds: list[float] = []

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        t, out = timed(lambda: fn(*args, **kwargs))
        seconds.append(t)
        return out

    setattr(module, name, wrapped)
    return seconds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--services", type=int, default=1000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "estate.yaml"
        path.write_text(yaml.safe_dump_all(estate(args.services), sort_keys=False))
        size = path.stat().st_size
        c_loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        t_floor, raw = timed(lambda: list(yaml.load_all(path.read_text(), Loader=c_loader)))
        t_py, _ = timed(lambda: list(yaml.load_all(path.read_text(), Loader=yaml.SafeLoader)))
        t_load, (docs, errors) = timed(lambda: manifest_files.load([path]))
        compile_seconds = _timing(validate, "compile")
        t_check, (findings, compiled) = timed(lambda: check(docs, errors))
        t_compile = sum(compile_seconds)
        t_plan, out = timed(lambda: render.plan_panos_set(compiled))
        crd_bodies = [d.body for d in docs if schema.crd_for(d.body) is not None]
        schemacel.cache_verdicts = False
        t_nocache, plain = timed(lambda: [schema.validate(b) for b in crd_bodies])
        schemacel.cache_verdicts = True
        schemacel.VERDICTS.clear()
        t_cache, cached = timed(lambda: [schema.validate(b) for b in crd_bodies])
        assert plain == cached, "the CEL verdict cache changed a verdict"
    errs = sum(1 for f in findings if f.severity.value == "error")
    total = t_load + t_check
    print(f"estate: {len(raw)} objects, {size / 1e6:.1f} MB of YAML; {errs} errors; "
          f"{len(out.splitlines())} set lines")
    print(f"{'step':<44}{'seconds':>9}")
    for label, t in (("C YAML loader (CSafeLoader, the baseline)", t_floor),
                     ("pure-Python YAML loader (old bmlb)", t_py),
                     ("bmlb load (strict, C parser)", t_load), ("bmlb schema + CEL + compile", t_check),
                     ("  of it: compile (controller/core/compiler)", t_compile),
                     ("  of it: the rest (identity, schema, CEL)", t_check - t_compile),
                     ("bmlb validate total (load + check)", total), ("bmlb plan -o panos-set rendering", t_plan),
                     (f"schema + CEL of {len(crd_bodies)} CRs, CEL cache off", t_nocache),
                     (f"schema + CEL of {len(crd_bodies)} CRs, CEL cache on", t_cache)):
        print(f"{label:<44}{t:>9.2f}")
    print(f"CEL verdict cache: {t_nocache / t_cache:.1f}x faster schema + CEL, same verdicts; "
          f"load average {os.getloadavg()}")
    ratio = total / t_floor if t_floor else float("inf")
    print(f"validate / C loader: {ratio:.1f}x (target <= 3x): {'met' if ratio <= 3 else 'NOT met'}; "
          f"validate {total:.2f} s (target < 3 s): {'met' if total < 3 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
