"""A real Kubernetes API server for tests and the demo: etcd + kapilite on loopback.

kapilite (``tests/apiserver/kapilite/main.go`` in the source tree) is the real k8s.io API server libraries —
apiextensions-apiserver plus core types (namespaces, services, pods, endpoints, events,
configmaps, secrets, serviceaccounts, endpointslices, leases) on the generic registry — built
from Debian's Go source packages by ``tests/apiserver/build.sh``. Unmodified kubectl, kopf and the kubernetes
client talk to it.

Standard library only (openssl is called as a program). Beside it: kapilite_build.py (binaries),
kapilite_pki.py (certificates, kubeconfigs), kapilite_procs.py (child processes), kapilite_main.py
(``python -m``). It is part of the package so that `bmlb demo` needs nothing from tests/ (the tests
import it as ``tests.apiserver.server``); an installed bmlb without a source checkout uses binaries
already built, or says how to build them::

    from controller.cli.kapilite import ApiServer

    with ApiServer() as api:
        subprocess.run(["kubectl", "get", "ns"], env=api.env(), check=True)

Like a real cluster: admission webhooks (ValidatingWebhookConfiguration /
MutatingWebhookConfiguration are served and called) and RBAC authorization (``user_kubeconfig()``
makes a client certificate for any user, e.g. a ServiceAccount, whose rights are exactly what the
RBAC objects grant; the default kubeconfig's client is in system:masters). Not emulated: garbage
collection and the namespace cascade, controllers (no EndpointSlice controller), ServiceAccount
tokens. The ClusterIP allocator lives in kapilite's memory: it starts over after
``restart_apiserver()``.
"""

from __future__ import annotations

import atexit
import contextlib
import http.client
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.request
import weakref
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from controller.cli import kapilite_procs as procs
from controller.cli.kapilite_build import ApiServerError, bin_dir, ensure_built, etcd_path, kubectl_path
from controller.cli.kapilite_pki import make_pki, sign_client_cert, write_kubeconfig

#: Groups discovery must serve before the server counts as ready.
_GROUPS = {"apiextensions.k8s.io", "discovery.k8s.io", "coordination.k8s.io", "admissionregistration.k8s.io",
           "rbac.authorization.k8s.io"}


_live: weakref.WeakSet[ApiServer] = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    for server in list(_live):
        with contextlib.suppress(Exception):
            server.stop()


class ApiServer:
    """etcd + kapilite on free loopback ports, with a kubeconfig for an admin client certificate.

    ``start()`` (or ``with``) builds the binaries if needed, makes the PKI, starts both processes
    and returns when /readyz is ok and discovery serves the core, discovery.k8s.io,
    coordination.k8s.io and apiextensions.k8s.io groups. Logs: ``workdir/etcd.log`` and
    ``workdir/kapilite.log``.
    """

    def __init__(
        self,
        workdir: str | os.PathLike[str] | None = None,
        *,
        ready_timeout: float = 60.0,
        build: bool = True,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self._own_dir = workdir is None
        self.workdir = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="bmlb-kapi-"))
        self.ready_timeout = ready_timeout
        self.build = build
        self.extra_args = tuple(extra_args)
        self.pki_dir = self.workdir / "pki"
        self.ca_file = self.pki_dir / "ca.crt"
        self.client_cert = self.pki_dir / "admin.crt"
        self.client_key = self.pki_dir / "admin.key"
        #: kapilite authenticates client certificates only: there is no bearer token.
        self.token: str | None = None
        self.kubeconfig = self.workdir / "kubeconfig"
        self.port = 0
        self.etcd_port = 0
        self.etcd_peer_port = 0
        self.startup_seconds = 0.0
        self._etcd: subprocess.Popen[bytes] | None = None
        self._api: subprocess.Popen[bytes] | None = None
        self._lock = threading.RLock()
        self._ssl: ssl.SSLContext | None = None
        self._binaries: tuple[Path, Path, Path] | None = None

    # -- properties

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def etcd_url(self) -> str:
        return f"http://127.0.0.1:{self.etcd_port}"

    @property
    def bin_dir(self) -> Path:
        return bin_dir()

    @property
    def running(self) -> bool:
        return self._api is not None and self._api.poll() is None

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """An environment for subprocesses: KUBECONFIG set and kubectl & co. first on PATH."""
        env = dict(os.environ if base is None else base)
        env["KUBECONFIG"] = str(self.kubeconfig)
        env["PATH"] = f"{self.bin_dir}{os.pathsep}{env.get('PATH', '')}"
        return env

    def kubectl(self, *args: str, check: bool = True, timeout: float = 60.0,
                input: str | None = None, kubeconfig: Path | None = None) -> subprocess.CompletedProcess[str]:
        """Run the real kubectl against this server (as the admin unless ``kubeconfig`` says
        otherwise); output captured as text."""
        return subprocess.run(
            [str(kubectl_path()), f"--kubeconfig={kubeconfig or self.kubeconfig}", *args],
            env=self.env(), capture_output=True, text=True, check=check, timeout=timeout, input=input,
        )

    # -- lifecycle

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> Self:
        with self._lock:
            if self._api is not None:
                return self
            t0 = time.monotonic()
            kapilite = ensure_built(build=self.build)
            self._binaries = (kapilite, etcd_path(), kubectl_path())
            self.workdir.mkdir(parents=True, exist_ok=True)
            if not self.ca_file.exists():
                make_pki(self.pki_dir)
            self._ssl = ssl.create_default_context(cafile=str(self.ca_file))
            self._ssl.load_cert_chain(str(self.client_cert), str(self.client_key))
            _live.add(self)
            try:
                self._start_etcd()
                self.port = procs.free_port()
                self._write_kubeconfig()
                self._start_api()
                self.wait_ready()
            except BaseException:
                self.stop()
                raise
            self.startup_seconds = time.monotonic() - t0
            return self

    def stop(self) -> None:
        """Stop kapilite and etcd; remove the work folder if this object made it."""
        with self._lock:
            procs.stop_process(self._api)
            procs.stop_process(self._etcd)
            self._api = self._etcd = None
            _live.discard(self)
            if self._own_dir:
                shutil.rmtree(self.workdir, ignore_errors=True)

    def stop_apiserver(self) -> None:
        """Stop kapilite only (etcd and the data stay): clients now get connection refused."""
        with self._lock:
            procs.stop_process(self._api)
            self._api = None

    def start_apiserver(self) -> None:
        """Start kapilite again on the same port, with the same PKI, against the same etcd."""
        with self._lock:
            if self.running:
                return
            if self._etcd is None or self._etcd.poll() is not None:
                raise ApiServerError("etcd is not running: start() the ApiServer first")
            self._start_api()
            self.wait_ready()

    def restart_apiserver(self, downtime: float = 0.0) -> None:
        """Stop kapilite, stay down ``downtime`` seconds, start it again; etcd keeps the data."""
        self.stop_apiserver()
        if downtime > 0:
            time.sleep(downtime)
        self.start_apiserver()

    # -- readiness

    def get(self, path: str, timeout: float = 5.0) -> bytes:
        """GET a path from the API server as the admin; raises urllib errors."""
        assert self._ssl is not None, "not started"
        with urllib.request.urlopen(f"{self.url}{path}", context=self._ssl, timeout=timeout) as r:
            return bytes(r.read())

    def get_json(self, path: str, timeout: float = 5.0) -> Any:
        return json.loads(self.get(path, timeout))

    def is_ready(self) -> bool:
        try:
            if self.get("/readyz", timeout=2) != b"ok":
                return False
            groups = {g["name"] for g in self.get_json("/apis", timeout=2)["groups"]}
            if not _GROUPS <= groups:
                return False
            names = {r["name"] for r in self.get_json("/api/v1", timeout=2)["resources"]}
            if not {"namespaces", "services", "services/status"} <= names:
                return False
            self.get("/api/v1/namespaces/default", timeout=2)
            return True
        except (OSError, http.client.HTTPException, ValueError, KeyError):
            return False

    def wait_ready(self, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (self.ready_timeout if timeout is None else timeout)
        while not self.is_ready():
            for name, proc, log in (("etcd", self._etcd, "etcd.log"), ("kapilite", self._api, "kapilite.log")):
                if proc is None or proc.poll() is not None:
                    code = None if proc is None else proc.returncode
                    raise ApiServerError(
                        f"{name} exited ({code}) before the API server was ready; "
                        f"{self.workdir / log}:\n{procs.log_tail(self.workdir / log)}"
                    )
            if time.monotonic() > deadline:
                raise ApiServerError(
                    f"API server at {self.url} not ready in time; {self.workdir}/kapilite.log:\n"
                    f"{procs.log_tail(self.workdir / 'kapilite.log')}"
                )
            time.sleep(0.1)

    # -- internals

    def _start_etcd(self) -> None:
        assert self._binaries is not None
        last = ""
        for _ in range(3):  # a free port can be taken between free_port() and etcd's bind
            self.etcd_port, self.etcd_peer_port = procs.free_port(), procs.free_port()
            client, peer = self.etcd_url, f"http://127.0.0.1:{self.etcd_peer_port}"
            command = procs.etcd_command(self._binaries[1], self.workdir, client, peer)
            self._etcd = procs.popen(command, self.workdir, "etcd.log")
            if procs.etcd_healthy(self._etcd, client):
                return
            last = procs.log_tail(self.workdir / "etcd.log")
            procs.stop_process(self._etcd)
        raise ApiServerError(f"etcd did not become healthy; {self.workdir / 'etcd.log'}:\n{last}")

    def _start_api(self) -> None:
        assert self._binaries is not None
        command = procs.kapilite_command(self._binaries[0], etcd=self.etcd_url, port=self.port, pki=self.pki_dir,
                                         kubeconfig=self.kubeconfig, extra=self.extra_args)
        self._api = procs.popen(command, self.workdir, "kapilite.log")

    def user_kubeconfig(self, user: str, groups: tuple[str, ...] = (), *, name: str | None = None,
                        namespace: str = "default") -> Path:
        """A kubeconfig (beside the admin's) for ``user`` in ``groups``, by client certificate.

        kapilite authorizes it by RBAC: it may do exactly what the Roles and ClusterRoles bound to
        the user, its groups and system:authenticated allow. For a ServiceAccount use
        ``service_account_user(ns, name)``.
        """
        label = name or "".join(c if c.isalnum() or c in "-_." else "-" for c in user)
        if not (self.pki_dir / f"{label}.crt").exists():
            sign_client_cert(self.pki_dir, label, user, groups)
        path = self.workdir / f"kubeconfig-{label}"
        self._write_kubeconfig(path, self.pki_dir / f"{label}.crt", self.pki_dir / f"{label}.key", label, namespace)
        return path

    def _write_kubeconfig(self, path: Path | None = None, cert: Path | None = None, key: Path | None = None,
                          user: str = "admin", namespace: str = "default") -> None:
        write_kubeconfig(path or self.kubeconfig, server=self.url, ca=self.ca_file, cert=cert or self.client_cert,
                         key=key or self.client_key, user=user, namespace=namespace)

    def __repr__(self) -> str:
        return f"ApiServer(url={self.url!r}, workdir={str(self.workdir)!r}, running={self.running})"


if __name__ == "__main__":  # python -m controller.cli.kapilite
    from controller.cli.kapilite_main import main

    raise SystemExit(main())
