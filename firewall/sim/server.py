"""The HTTPS server, the in-process `Simulator` handle and the `bmlb firewall-sim` entry point.

HTTP surface (loopback only):
  POST|GET /api/            the PAN-OS XML API (see api.py)
  GET    /sim/stats         request accounting, JSON       DELETE /sim/stats   reset it
  GET    /sim/faults        active request faults, JSON    POST /sim/faults    add: {"kind": ..} or a list
  DELETE /sim/faults        clear faults, injected locks and injected pending changes
  GET    /sim/config?which=running|candidate&format=xml|set    export the config
  POST   /sim/admins        {"name": .., "password": ..}   add an administrator
  GET    /sim/jobs[?wait=S] jobs not yet finished, JSON; with wait, first wait up to S s for none
  POST   /sim/commit-time   {"seconds": ..}   how long each later commit takes
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import socket
import ssl
import struct
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from firewall.sim import api, export, state, tls, tree
from firewall.sim.accounting import Stats
from firewall.sim.control import AdminSession, FaultControl
from firewall.sim.defaults import SystemInfo
from firewall.sim.device import Device


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], sim: Simulator, context: ssl.SSLContext) -> None:
        self.sim = sim
        self.context = context
        super().__init__(address, _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The TLS handshake runs in the request's own thread, so a silent client blocks nobody.
        try:
            tls_sock = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            self.RequestHandlerClass(tls_sock, client_address, self)
        finally:
            try:
                tls_sock.close()
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    _sent = 0
    _poll = False

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self._sent = 0
        self._poll = False
        try:
            if url.path in ("/api", "/api/"):
                self._api(url.query, body)
                self.server.sim.stats.count_bytes(len(self.path) + len(body), self._sent, poll=self._poll)
            elif url.path.startswith("/sim/"):
                self._admin(url.path, url.query, body)
            else:
                self._send(404, "text/plain", b"not found")
        except (ConnectionError, ssl.SSLError, TimeoutError):
            self.close_connection = True

    def _api(self, query: str, body: bytes) -> None:
        params = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
        params.update(urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        sim = self.server.sim
        kind = api.request_kind(params)
        sim.stats.count(kind)
        if kind == "op" and "<jobs><id>" in params.get("cmd", "").replace(" ", ""):
            sim.stats.count_job_poll()
            self._poll = True
        elif kind == "config.move":
            sim.stats.count_moves(1)
        elif kind == "config.multi-config":
            sim.stats.count_moves(params.get("element", "").count("<move "))
        faults = sim.device.faults
        if fault := faults.take("latency", kind):
            sim.stats.count_fault()
            sim.stopping.wait(fault.seconds)
        if faults.take("reset", kind):
            sim.stats.count_fault()
            self._reset()
            return
        if fault := faults.take("timeout", kind):
            sim.stats.count_fault()
            sim.stopping.wait(fault.seconds)
            self._reset()
            return
        if fault := faults.take("http_error", kind):
            sim.stats.count_fault()
            self._send(fault.status, "text/html", f"<html><body>HTTP {fault.status}</body></html>".encode())
            return
        with sim.session():
            reply = api.handle(sim.device, params)
        if kind in ("commit", "commit-all") and "<job>" in reply.body:
            sim.stats.count_commit()
        sim.changed()
        self._send(reply.status, "application/xml; charset=UTF-8", reply.body.encode(),
                   reason="Invalid Credential" if reply.status == 403 else None)

    def _admin(self, path: str, query: str, body: bytes) -> None:
        sim = self.server.sim
        method = self.command
        try:
            if path == "/sim/stats":
                if method == "DELETE" or (method == "POST" and query == "reset"):
                    sim.reset_stats()
                self._json(200, sim.stats_snapshot())
            elif path == "/sim/faults":
                if method == "POST":
                    data = json.loads(body or b"{}")
                    items = data if isinstance(data, list) else [data]
                    self._json(200, [sim.faults.add_dict(item) for item in items])
                    return
                if method == "DELETE":
                    sim.faults.clear()
                self._json(200, sim.faults.active())
            elif path == "/sim/config":
                q = dict(urllib.parse.parse_qsl(query))
                which = q.get("which", "running")
                if q.get("format") == "set":
                    self._send(200, "text/plain; charset=UTF-8", "\n".join(sim.set_commands(which)).encode())
                else:
                    xml = sim.running_xml() if which == "running" else sim.candidate_xml()
                    self._send(200, "application/xml; charset=UTF-8", xml.encode())
            elif path == "/sim/jobs":
                wait = dict(urllib.parse.parse_qsl(query)).get("wait")
                idle = sim.wait_for_jobs(float(wait)) if wait else not sim.device.jobs.busy()
                self._json(200, {"idle": idle, "busy": sum(1 for j in sim.device.jobs.all() if j.status != "FIN")})
            elif path == "/sim/commit-time" and method == "POST":
                seconds = float(json.loads(body or b"{}")["seconds"])
                if not 0 <= seconds < 3600:
                    raise ValueError(f"commit time {seconds} s: want 0 <= seconds < 3600")
                sim.device.commit_seconds = seconds
                self._json(200, {"seconds": seconds})
            elif path == "/sim/admins" and method == "POST":
                data = json.loads(body or b"{}")
                sim.add_admin(str(data["name"]), str(data["password"]))
                self._json(200, {"name": data["name"], "key": sim.api_key(str(data["name"]))})
            else:
                self._json(404, {"error": f"unknown endpoint {method} {path}"})
        except (ValueError, KeyError, TypeError, tree.ConfigError) as exc:
            self._json(400, {"error": str(exc)})

    def _json(self, status: int, data: Any) -> None:
        self._send(status, "application/json", json.dumps(data, indent=1, sort_keys=True).encode())

    def _send(self, status: int, ctype: str, data: bytes, reason: str | None = None) -> None:
        self.send_response(status, reason)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self._sent = len(data)

    def _reset(self) -> None:
        """Abort the connection: SO_LINGER 0 makes close() send a TCP RST."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass


class Simulator:
    """A PAN-OS XML API simulator serving HTTPS on 127.0.0.1.

        with Simulator.start() as sim:
            fw = panos.firewall.Firewall("127.0.0.1", api_key=sim.api_key(), port=sim.port)
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        users: dict[str, str] | None = None,
        system: SystemInfo | None = None,
        panorama: bool = False,
        config_xml: str | None = None,
        commit_seconds: float = 0.2,
        state_file: str | Path | None = None,
        cert_dir: str | Path | None = None,
        monitored_route_limit: int | None = None,
        max_sessions: int = 5,
    ) -> None:
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError(f"the simulator listens on loopback only, not {host}")
        self.host = host
        self._requested_port = port
        system = system or (SystemInfo.for_panorama() if panorama else SystemInfo())
        self.device = Device(system=system, config_xml=config_xml, users=users,
                             commit_seconds=commit_seconds)
        if monitored_route_limit is not None:
            self.device.monitored_route_limit = monitored_route_limit
        self.state_file = Path(state_file) if state_file else None
        if self.state_file and self.state_file.exists():
            state.load(self.device, self.state_file)
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if cert_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="panos-sim-")
            cert_dir = self._tmp.name
        self.certs = tls.ensure_certs(Path(cert_dir))
        self.stats = Stats()
        self.faults = FaultControl(self.device)
        self.stopping = threading.Event()
        # At most `max_sessions` API requests are worked on at once; the others wait their turn.
        # Unverified: Palo Alto advises few concurrent API clients; the number 5 and queueing
        # (rather than refusing) are this simulator's choice, not documented device behaviour.
        self._sessions = threading.BoundedSemaphore(max_sessions)
        self._in_flight = 0
        self._in_flight_lock = threading.Lock()
        self.max_in_flight = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._saved = ""

    @classmethod
    def start(cls, **kwargs: Any) -> Simulator:
        sim = cls(**kwargs)
        sim.serve()
        return sim

    def serve(self) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.certs.cert_file, self.certs.key_file)
        self._server = _Server((self.host, self._requested_port), self, context)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="panos-sim", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self.device.close()
        self.changed()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Simulator:
        if self._server is None:
            self.serve()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        """One API request being worked on (see max_sessions)."""
        with self._sessions:
            with self._in_flight_lock:
                self._in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self._in_flight)
            try:
                yield
            finally:
                with self._in_flight_lock:
                    self._in_flight -= 1

    # ---------------------------------------------------------------- where and who

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the simulator is not serving")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    @property
    def ca_file(self) -> str:
        return str(self.certs.ca_file)

    @property
    def users(self) -> dict[str, str]:
        return dict(self.device.users)

    def api_key(self, user: str = "admin") -> str:
        if user not in self.device.users:
            raise KeyError(f"no such admin: {user}")
        return self.device.key_for(user)

    def add_admin(self, name: str, password: str | None = None) -> AdminSession:
        self.device.add_admin(name, password if password is not None else name)
        return self.as_admin(name)

    def as_admin(self, name: str) -> AdminSession:
        if name not in self.device.users:
            self.device.add_admin(name, name)
        return AdminSession(self.device, name)

    # ---------------------------------------------------------------- observing

    def stats_snapshot(self) -> dict[str, Any]:
        return self.stats.snapshot()

    def reset_stats(self) -> None:
        self.stats.reset()

    def running_xml(self) -> str:
        with self.device.lock:
            return tree.to_string(tree.config_of(self.device.running))

    def candidate_xml(self) -> str:
        with self.device.lock:
            return tree.to_string(tree.config_of(self.device.candidate))

    def set_commands(self, which: str = "running") -> list[str]:
        with self.device.lock:
            config = self.device.running if which == "running" else self.device.candidate
            return export.set_commands(tree.config_of(config), multi_vsys=self.device.system.multi_vsys)

    def pending_admins(self) -> list[str]:
        return self.device.pending_admins()

    def wait_for_jobs(self, timeout: float = 30.0) -> bool:
        ok = self.device.jobs.wait_idle(timeout)
        self.changed()
        return ok

    def changed(self) -> None:
        """Save the state file if the config changed since the last save."""
        if self.state_file is None:
            return
        with self.device.lock:
            marker = (tree.to_string(self.device.running) + tree.to_string(self.device.candidate)
                      + str([c.id for c in self.device.changes]))
            if marker == self._saved:
                return
            state.save(self.device, self.state_file)
            self._saved = marker


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bmlb firewall-sim", description="PAN-OS XML API simulator (HTTPS, loopback)")
    parser.add_argument("--port", type=int, default=8443)
    parser.add_argument("--state", help="load/save running and candidate config here")
    parser.add_argument("--user", default="admin")
    parser.add_argument("--password", default="admin")
    parser.add_argument("--commit-seconds", type=float, default=0.2, help="how long a commit job runs")
    parser.add_argument("--max-sessions", type=int, default=5, help="API requests worked on at once (unverified)")
    parser.add_argument("--panorama", action="store_true", help="act as Panorama (device groups, commit-all)")
    parser.add_argument("--cert-dir", help="where the CA and server certificate are kept (default: a temp dir)")
    parser.add_argument("--sw-version", default="10.2.4")
    parser.add_argument("--config", help="initial config XML file (a <config> document)")
    args = parser.parse_args(argv)
    system = SystemInfo.for_panorama() if args.panorama else SystemInfo()
    from dataclasses import replace

    system = replace(system, sw_version=args.sw_version)
    config_xml = Path(args.config).read_text() if args.config else None
    sim = Simulator.start(port=args.port, users={args.user: args.password}, system=system,
                          config_xml=config_xml, commit_seconds=args.commit_seconds, max_sessions=args.max_sessions,
                          state_file=args.state, cert_dir=args.cert_dir)
    print(f"PAN-OS simulator ({'Panorama' if args.panorama else 'firewall'}) listening on {sim.url}/api/")
    print(f"host: {sim.host}\nport: {sim.port}")
    print(f"user: {args.user}\npassword: {args.password}\napi key: {sim.api_key(args.user)}")
    print(f"ca file: {sim.ca_file}")
    print(f"admin endpoints: {sim.url}/sim/stats /sim/faults /sim/config /sim/admins")
    sys.stdout.flush()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    return 0
