"""Request accounting: how many requests of each kind the simulator answered."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._commits = 0
        self._faults = 0

    def count(self, request_kind: str) -> None:
        """Count one request; `request_kind` is "keygen", "op", "commit" or "config.<action>"."""
        with self._lock:
            self._counts[request_kind] += 1
            self._counts["total"] += 1

    def count_commit(self) -> None:
        with self._lock:
            self._commits += 1

    def count_fault(self) -> None:
        with self._lock:
            self._faults += 1

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
            self._commits = 0
            self._faults = 0

    def snapshot(self) -> dict[str, Any]:
        """{"requests": {kind: n, ..., "total": n}, "config": n (all config actions),
        "commits": number of commit jobs enqueued, "faults": faults fired}."""
        with self._lock:
            requests = dict(self._counts)
            return {
                "requests": requests,
                "config": sum(n for k, n in requests.items() if k.startswith("config.")),
                "writes": sum(
                    n
                    for k, n in requests.items()
                    if k in {f"config.{a}" for a in ("set", "edit", "delete", "move", "rename", "multi-config")}
                ),
                "commits": self._commits,
                "faults": self._faults,
            }
