"""Request accounting: how many requests of each kind the simulator answered."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._zero()

    def _zero(self) -> None:
        self._counts: Counter[str] = Counter()
        self._commits = 0
        self._faults = 0
        self._bytes_in = 0
        self._bytes_out = 0
        self._job_polls = 0
        self._poll_bytes_in = 0
        self._poll_bytes_out = 0
        self._moves = 0

    def count_moves(self, n: int) -> None:
        """`move` operations, alone or inside a multi-config request."""
        with self._lock:
            self._moves += n

    def count_job_poll(self) -> None:
        """One `show jobs id N` op (also counted in requests): clients poll it while a commit runs."""
        with self._lock:
            self._job_polls += 1

    def count_bytes(self, received: int, sent: int, *, poll: bool = False) -> None:
        """Bytes of one API exchange as the simulator saw them: request line target plus body
        received, response body sent (HTTP headers and TLS framing are not counted); `poll`: the
        exchange was a `show jobs id` (its bytes are also counted apart)."""
        with self._lock:
            self._bytes_in += received
            self._bytes_out += sent
            if poll:
                self._poll_bytes_in += received
                self._poll_bytes_out += sent

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
            self._zero()

    def snapshot(self) -> dict[str, Any]:
        """{"requests": {kind: n, ..., "total": n}, "config": n (all config actions),
        "commits": number of commit jobs enqueued, "faults": faults fired,
        "bytes_in"/"bytes_out": API bytes received/sent,
        "job_polls": `show jobs id` ops among the requests, "poll_bytes_in"/"poll_bytes_out": their
        bytes (within bytes_in/bytes_out), "moves": move operations, single or
        within multi-config}."""
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
                "bytes_in": self._bytes_in,
                "bytes_out": self._bytes_out,
                "job_polls": self._job_polls,
                "poll_bytes_in": self._poll_bytes_in,
                "poll_bytes_out": self._poll_bytes_out,
                "moves": self._moves,
            }
