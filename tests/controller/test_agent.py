"""The node agent against the real API server, with the memory IPVS backend."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from controller.cli.localcluster import Cluster, process, wait_for
from tests.controller.estate import pool, service, slice_


def _table(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _servers(path: Path) -> dict[str, list[str]]:
    data = _table(path) or {"table": {"services": []}}
    return {f"{s['protocol']} {s['address']}:{s['port']}": sorted(f"{r['address']}:{r['port']}/{r['weight']}"
                                                                   for r in s["real_servers"])
            for s in data["table"]["services"]}


def test_agent_follows_vips_and_endpoints(cluster: Cluster, ns: str, run_controller, apiserver: Any,
                                          tmp_path: Path) -> None:
    cluster.apply(pool(f"{ns}-vips", "10.79.0.0/29", namespaces=[ns]))
    cluster.apply(service(ns, "web", (80, 8080), externalTrafficPolicy="Local"))
    cluster.apply(slice_(ns, "web", [(80, 8080)], [("10.244.1.1", "n1"), ("10.244.2.1", "n2")]))
    run_controller()
    state = tmp_path / "n1.json"
    args = ["agent", "--node", "n1", "--backend", "memory", "--kubeconfig", str(apiserver.kubeconfig),
            "--state-file", str(state)]
    with process(args, env=apiserver.env(), log=tmp_path / "agent.log"):
        want = {"tcp 10.79.0.0:80": ["10.244.1.1:8080/1"]}
        wait_for("n1's local endpoint only", lambda: _servers(state) == want or None, timeout=40)
        # Endpoint churn: a second local endpoint appears, the first becomes unready.
        cluster.apply(slice_(ns, "web", [(80, 8080)], [("10.244.1.2", "n1"), ("10.244.2.1", "n2")]))
        want = {"tcp 10.79.0.0:80": ["10.244.1.2:8080/1"]}
        wait_for("churn applied", lambda: _servers(state) == want or None, timeout=30)
        # The Service goes away: its virtual service and VIP go with it.
        cluster.delete("Service", "web", ns)
        wait_for("table emptied", lambda: _servers(state) == {} or None, timeout=30)


def test_agent_serves_liveness_and_stops_on_sigterm(cluster: Cluster, ns: str, apiserver: Any,
                                                    tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = ["agent", "--node", "n9", "--backend", "memory", "--kubeconfig", str(apiserver.kubeconfig),
            "--state-file", str(tmp_path / "n9.json"), "--health", f"http://127.0.0.1:{port}/healthz"]
    with process(args, env=apiserver.env(), log=tmp_path / "agent.log") as proc:
        def probe(path: str) -> tuple[int, bytes] | None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
                    return r.status, r.read()
            except urllib.error.HTTPError as err:
                return err.code, b""
            except OSError:
                return None

        status, body = wait_for("liveness answers", lambda: probe("/healthz"), timeout=40)
        assert status == 200 and json.loads(body)["node"] == "n9"
        assert probe("/elsewhere") == (404, b"")
        wait_for("first sync", lambda: _table(tmp_path / "n9.json"), timeout=30)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        print(f"\nagent stopped {time.monotonic() - started:.2f} s after SIGTERM")


def test_agent_imports_no_kopf() -> None:
    """kopf's import was 31 of the agent's 45 s start-up under software emulation."""
    code = "import sys, controller.cli, controller.runtime.agent; print('kopf' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.stdout.strip() == "False"
