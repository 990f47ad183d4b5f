"""The PAN-OS simulator in its own process, as a bench sees a firewall: another machine.

In the bench's own process the simulator shares its interpreter lock with the bench's clients,
and a sync's "waiting on the device" grew with whatever else the bench did. Here the bench reads
the simulator's CPU from /proc and drives it over its /sim/ admin endpoints
(firewall/sim/server.py).
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


class SimProcess:
    def __init__(self, *, commit_seconds: float = 0.0) -> None:
        self.host = "127.0.0.1"
        self.dir = tempfile.mkdtemp(prefix="bmlb-sim-")
        self.proc = subprocess.Popen([sys.executable, "-m", "firewall.sim", "--port", "0", "--commit-seconds",
                                      str(commit_seconds), "--cert-dir", self.dir], stdout=subprocess.PIPE,
                                     text=True, cwd=ROOT)
        info: dict[str, str] = {}
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            key, _, value = line.partition(":")
            info[key.strip()] = value.strip()
            if line.startswith("admin endpoints"):
                break
        self.port, self.key, self.ca_file = int(info["port"]), info["api key"], info["ca file"]
        self._tls = ssl.create_default_context(cafile=self.ca_file)

    def __enter__(self) -> SimProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def api_key(self, admin: str = "admin") -> str:
        assert admin == "admin", "the simulator process starts with one administrator"
        return self.key

    def _admin(self, method: str, path: str, data: Any = None, timeout: float = 30) -> Any:
        body = None if data is None else json.dumps(data).encode()
        req = urllib.request.Request(f"https://{self.host}:{self.port}{path}", data=body, method=method)
        with urllib.request.urlopen(req, context=self._tls, timeout=timeout) as resp:
            return json.loads(resp.read())

    def stats_snapshot(self) -> dict[str, Any]:
        return self._admin("GET", "/sim/stats")

    def reset_stats(self) -> None:
        self._admin("DELETE", "/sim/stats")

    def wait_for_jobs(self, timeout: float = 30.0) -> bool:
        return bool(self._admin("GET", f"/sim/jobs?wait={timeout}", timeout=timeout + 10)["idle"])

    def busy_jobs(self) -> int:
        return int(self._admin("GET", "/sim/jobs")["busy"])

    def set_commit_seconds(self, seconds: float) -> None:
        self._admin("POST", "/sim/commit-time", {"seconds": seconds})

    def cpu(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
