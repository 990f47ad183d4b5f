"""The end-to-end lab's host side: the control plane at host speed, the VM for the kernel.

    python -m tests.e2e.host COMMAND...
    (tests/run.sh: COMMAND = tests/kernel/run-in-vm.sh .venv/bin/python -m pytest tests/e2e/test_lab.py)

Starts on this machine's loopback: the test API server (kapilite + etcd), the PAN-OS simulator,
`bmlb controller`, and the lab's control service (the simulator's RUNNING config as XML, the
controller's log, SIGKILL and restart of the controller). Applies the CRDs, bmlb's namespace, the
firewall's credentials and the Firewall object. Then runs COMMAND with:
- BMLB_VM_NET: qemu user-mode networking with restrict=on, whose only reachable addresses are
  10.0.2.100:PORT for the API server's and the control service's ports (guestfwd runs one
  tests/e2e/hostpipe.py per connection, to 127.0.0.1:PORT here);
- BMLB_E2E_LAB: a JSON file in the checkout (the VM mounts it) with those ports and the kubeconfig.

Why the split: under TCG (CI machines have no KVM) every Python process costs ~45 s of emulated
start-up and the controller's work ~30x its host time. Only what needs the VM's kernel runs there:
the agents (IPVS in their node namespaces), the firewall twin (nftables, routes), pods and clients.
The controller on the host reaches the simulator directly; the agents reach the API server through
the VM's user-mode NIC.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import shlex
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import kubernetes

from controller.cli.kapilite import ApiServer
from controller.cli.localcluster import ROOT, Cluster, apply_crds
from firewall.sim import Simulator
from tests.e2e import world as w

GUEST_HOST = "10.0.2.100"  # what the guest dials; slirp forwards it to 127.0.0.1 here
STATE = ROOT / ".e2e"


class ControlPlane:
    """The API server, the simulator and the controller, and what the VM may ask of them."""

    def __init__(self, api: ApiServer, sim: Simulator, logdir: Path) -> None:
        self.api, self.sim, self.logdir = api, sim, logdir
        self.controller: w.Process | None = None
        self._lock = threading.Lock()

    def start_controller(self) -> None:
        with self._lock:
            self.controller = w.spawn(
                "controller", ["controller", "--kubeconfig", str(self.api.kubeconfig), "--namespace", w.HOME,
                               "--peering", "", "--debounce", "0.3", "--resync", "3600"],
                env=self.api.env(), logdir=self.logdir)

    def kill_controller(self) -> None:
        with self._lock:
            if self.controller is not None:
                self.controller.kill()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()

    def running(self) -> str:
        return self.sim.running_xml()

    def log(self, n: int) -> str:
        return self.controller.tail(n) if self.controller else ""

    def commits(self) -> int:
        """Commit jobs the simulator has seen (queued or done)."""
        return int(self.sim.device.commits)


def handler(plane: ControlPlane) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: one hostpipe process per client, not per request

        def log_message(self, *args: Any) -> None:
            pass

        def reply(self, code: int, body: bytes = b"", ctype: str = "text/plain", **headers: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path == "/running":
                # A long poll: the VM's twin asks with the ETag it holds and hears back when the
                # running config changed, or after 10 s (polling from the VM costs emulated CPU).
                held, deadline = self.headers.get("If-None-Match"), time.monotonic() + 10.0
                while True:
                    xml = plane.running().encode()
                    tag = hashlib.sha1(xml).hexdigest()
                    if tag != held or time.monotonic() > deadline:
                        break
                    time.sleep(0.05)
                if tag == held:
                    self.reply(304, ETag=tag)
                else:
                    self.reply(200, xml, "application/xml", ETag=tag)
            elif self.path.startswith("/log"):
                self.reply(200, plane.log(8000).encode())
            elif self.path == "/controller":
                alive = plane.controller is not None and plane.controller.popen.poll() is None
                self.reply(200, json.dumps({"alive": alive, "commits": plane.commits()}).encode(), "application/json")
            else:
                self.reply(404)

        def do_POST(self) -> None:
            if self.path == "/controller/kill":
                plane.kill_controller()
            elif self.path == "/controller/start":
                plane.start_controller()
            else:
                return self.reply(404)
            self.reply(204)

    return Handler


def firewall_objects(cluster: Cluster, sim: Simulator) -> None:
    cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": w.HOME}})
    cluster.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "edge-creds", "namespace": w.HOME},
                   "data": {"apiKey": base64.b64encode(sim.api_key("admin").encode()).decode(),
                            "username": base64.b64encode(b"admin").decode()}})
    cluster.apply({"apiVersion": "bmlb.io/v1alpha1", "kind": "Firewall", "metadata": {"name": "edge"},
                   "spec": {"host": sim.host, "port": sim.port, "caBundle": Path(sim.ca_file).read_text(),
                            "credentialsSecret": {"name": "edge-creds", "namespace": w.HOME},
                            "routing": {"mode": "routed", "ecmp": {"maxPaths": 2}, "split": 8,
                                        "pathMonitor": {"enabled": False}}}})


def netdev(ports: list[int]) -> str:
    pipe = f"{Path(sys.executable)} -S {ROOT / 'tests/e2e/hostpipe.py'}"
    assert "," not in pipe, pipe  # qemu's option syntax
    return "user,id=n0,restrict=on," + ",".join(f"guestfwd=tcp:{GUEST_HOST}:{p}-cmd:{pipe} {p}" for p in ports)


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    t0 = time.monotonic()
    STATE.mkdir(exist_ok=True)
    logdir = STATE / "logs"
    logdir.mkdir(exist_ok=True)
    for old in logdir.glob("*.log"):
        old.unlink()
    with contextlib.ExitStack() as stack:
        api = stack.enter_context(ApiServer(build=True))
        sim = stack.enter_context(Simulator.start(commit_seconds=0.05, config_xml=w.sim_config()))
        client = kubernetes.config.new_client_from_config(config_file=str(api.kubeconfig))
        stack.callback(client.close)
        cluster = Cluster(client, api.kubeconfig)
        apply_crds(cluster)
        firewall_objects(cluster, sim)
        plane = ControlPlane(api, sim, logdir)
        plane.start_controller()
        stack.callback(plane.stop)
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler(plane))
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, name="lab-control", daemon=True).start()
        stack.callback(server.shutdown)
        ctl_port = server.server_address[1]
        kubeconfig = STATE / "kubeconfig"
        kubeconfig.write_text(api.kubeconfig.read_text())
        lab = {"guest_host": GUEST_HOST, "api_port": api.port, "ctl_port": ctl_port, "kubeconfig": str(kubeconfig),
               "logdir": str(logdir)}
        (STATE / "lab.json").write_text(json.dumps(lab, indent=2) + "\n")
        env = dict(os.environ, BMLB_VM_NET=netdev([api.port, ctl_port]), BMLB_E2E_LAB=str(STATE / "lab.json"))
        print(f"[e2e host {time.monotonic() - t0:5.1f}s] control plane up (API :{api.port}, simulator "
              f":{sim.port}, control :{ctl_port}, logs {logdir}); running {shlex.join(argv)}", flush=True)
        rc = subprocess.run(argv, env=env, check=False).returncode
        if rc:
            print(plane.log(6000))
        return rc


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
