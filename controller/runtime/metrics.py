"""Prometheus metrics of the controller, in a registry of its own (no global state)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from controller.core.pools import Pool
from controller.core.problems import Problem, Severity


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        buckets = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
        self.sync_seconds = Histogram("bmlb_firewall_sync_seconds", "Duration of one firewall sync",
                                      ["firewall"], registry=r, buckets=buckets)
        self.commit_seconds = Histogram("bmlb_firewall_commit_seconds", "Duration of a firewall commit job",
                                        ["firewall"], registry=r, buckets=buckets)
        self.reconcile_seconds = Histogram("bmlb_reconcile_seconds", "Duration of one full reconcile",
                                           registry=r, buckets=buckets)
        self.commits = Counter("bmlb_firewall_commits_total", "Commits made", ["firewall"], registry=r)
        self.writes = Counter("bmlb_firewall_writes_total", "Firewall write operations", ["firewall"], registry=r)
        self.errors = Counter("bmlb_errors_total", "Errors by reason", ["reason"], registry=r)
        self.problems = Gauge("bmlb_problems", "Invalid or unmet requests, by severity", ["severity"], registry=r)
        self.queue_depth = Gauge("bmlb_queue_depth", "Changes seen but not yet reconciled", registry=r)
        self.oldest_unapplied = Gauge("bmlb_oldest_unapplied_change_seconds",
                                      "Age of the oldest change not yet applied", registry=r)
        self.allocated = Gauge("bmlb_addresses_allocated", "Addresses held, by pool", ["pool"], registry=r)

    def count(self, problems: Iterable[Problem], pools: Iterable[Pool], allocated: Mapping[str, int]) -> None:
        """A compile's problems by severity and allocated addresses by pool."""
        problems = list(problems)
        for sev in Severity:
            self.problems.labels(sev.value).set(sum(1 for p in problems if p.severity is sev))
        for pool in pools:
            self.allocated.labels(pool.name).set(allocated.get(pool.name, 0))

    def track_oldest(self, age: Callable[[], float]) -> None:
        self.oldest_unapplied.set_function(age)

    def serve(self, port: int, addr: str = "0.0.0.0") -> None:
        start_http_server(port, addr=addr, registry=self.registry)


def memory() -> str:
    """The process's resident memory now and at its highest, as Linux counts it ("" elsewhere)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            fields = dict(line.split(":", 1) for line in f if line.startswith(("VmRSS", "VmHWM")))
    except OSError:
        return "memory unknown"
    try:
        return f"RSS {int(fields['VmRSS'].split()[0]) >> 10} MB (peak {int(fields['VmHWM'].split()[0]) >> 10} MB)"
    except (KeyError, ValueError, IndexError):
        return "memory unknown"
