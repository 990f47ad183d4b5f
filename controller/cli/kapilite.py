"""A real Kubernetes API server for tests and the demo: etcd + kapilite on loopback.

kapilite (``tests/apiserver/kapilite/main.go`` in the source tree) is the real k8s.io API server libraries —
apiextensions-apiserver plus core types (namespaces, services, pods, endpoints, events,
configmaps, secrets, serviceaccounts, endpointslices, leases) on the generic registry — built
from Debian's Go source packages by ``tests/apiserver/build.sh``. Unmodified kubectl, kopf and the kubernetes
client talk to it.

Standard library only (openssl is called as a program). It is part of the package so that
`bmlb demo` needs nothing from tests/ (the tests import it as ``tests.apiserver.server``); an
installed bmlb without a source checkout uses binaries already built, or says how to build them::

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
import base64
import contextlib
import ctypes
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import weakref
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

#: The build script of a source checkout (absent from an installed wheel: see ensure_built).
BUILD_SCRIPT = Path(os.environ.get("BMLB_APISERVER_BUILD")
                    or Path(__file__).resolve().parents[2] / "tests" / "apiserver" / "build.sh")

#: Admission plugins that need types kapilite does not serve (the admission policies). The
#: Validating and Mutating AdmissionWebhook plugins are on, as on a real cluster.
_DISABLED_ADMISSION = "MutatingAdmissionPolicy,ValidatingAdmissionPolicy"

#: Groups discovery must serve before the server counts as ready.
_GROUPS = {"apiextensions.k8s.io", "discovery.k8s.io", "coordination.k8s.io", "admissionregistration.k8s.io",
           "rbac.authorization.k8s.io"}


class ApiServerError(RuntimeError):
    """The API server could not be built, started or reached."""


# ---------------------------------------------------------------------------- build / binaries


def cache_dir() -> Path:
    """Where build.sh keeps its cache: $BMLB_CACHE, else /var/cache/bmlb, else ~/.cache/bmlb."""
    env = os.environ.get("BMLB_CACHE")
    if env:
        return Path(env)
    system = Path("/var/cache/bmlb")
    try:
        system.mkdir(parents=True, exist_ok=True)
        if os.access(system, os.W_OK):
            return system
    except OSError:
        pass
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "bmlb"


def bin_dir() -> Path:
    """The folder holding kapilite, etcd and kubectl after a build (put it on PATH)."""
    return cache_dir() / "bin"


def kapilite_path() -> Path:
    return Path(os.environ.get("BMLB_KAPILITE") or cache_dir() / "kapilite" / "bin" / "kapilite")


def etcd_path() -> Path:
    return Path(os.environ.get("BMLB_ETCD") or bin_dir() / "etcd")


def kubectl_path() -> Path:
    return Path(os.environ.get("BMLB_KUBECTL") or bin_dir() / "kubectl")


def needs_build() -> bool:
    """True when build.sh would have work to do (a missing or out-of-date binary)."""
    env = dict(os.environ, BMLB_CACHE=str(cache_dir()))
    r = subprocess.run(["bash", str(BUILD_SCRIPT), "--check"], env=env, capture_output=True, text=True)
    if r.returncode not in (0, 3):
        raise ApiServerError(f"{BUILD_SCRIPT} --check failed ({r.returncode}): {r.stdout}{r.stderr}")
    return r.returncode == 3


def ensure_built(*, build: bool = True, stream: IO[str] | None = None) -> Path:
    """Make sure kapilite, etcd and kubectl are built and current; return kapilite's path.

    Runs ``build.sh``, which returns at once when its cache is valid and otherwise builds from
    nothing (about 3.5 minutes on 2 cores). With ``build=False`` nothing is built: a missing
    binary raises. A failed build raises ``ApiServerError`` carrying the end of the log; there is
    no fallback.
    """
    binaries = (kapilite_path(), etcd_path(), kubectl_path())
    if not BUILD_SCRIPT.is_file():
        missing = [str(b) for b in binaries if not os.access(b, os.X_OK)]
        if missing:
            raise ApiServerError(f"the test API server is not built ({', '.join(missing)} missing) and this bmlb "
                                 "has no source checkout to build it from: run `bash tests/setup.sh` in a checkout")
        return binaries[0]
    if not build:
        missing = [str(b) for b in binaries if not os.access(b, os.X_OK)]
        if missing:
            raise ApiServerError(f"not built: {', '.join(missing)}; run {BUILD_SCRIPT}")
        return binaries[0]
    if not needs_build():
        return binaries[0]
    out = stream if stream is not None else sys.stderr
    env = dict(os.environ, BMLB_CACHE=str(cache_dir()))
    proc = subprocess.Popen(
        ["bash", str(BUILD_SCRIPT)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    assert proc.stdout is not None
    with proc.stdout:
        for line in proc.stdout:
            lines.append(line)
            out.write(line)
            out.flush()
    if proc.wait() != 0:
        raise ApiServerError(
            f"{BUILD_SCRIPT} failed (exit {proc.returncode}):\n" + "".join(lines[-60:])
        )
    missing = [str(b) for b in binaries if not os.access(b, os.X_OK)]
    if missing:
        raise ApiServerError(f"{BUILD_SCRIPT} succeeded but these are missing: {', '.join(missing)}")
    return binaries[0]


# ---------------------------------------------------------------------------- helpers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _openssl(cwd: Path, *args: str) -> None:
    try:
        subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, text=True)
    except FileNotFoundError as e:
        raise ApiServerError("openssl is needed to make the test PKI") from e
    except subprocess.CalledProcessError as e:
        raise ApiServerError(f"openssl {' '.join(args)} failed: {e.stderr}") from e


def make_pki(d: Path, *, days: int = 7) -> None:
    """A CA, a server certificate for 127.0.0.1/localhost and an admin (system:masters) client."""
    d.mkdir(parents=True, exist_ok=True)
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl(d, "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", str(days),
             "-subj", "/CN=bmlb-test-ca")
    (d / "server.ext").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
    )
    (d / "client.ext").write_text(
        "extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
    )
    for name, subj, ext in (
        ("server", "/CN=kapilite", "server.ext"),
        ("admin", "/O=system:masters/CN=bmlb-test-admin", "client.ext"),
    ):
        _openssl(d, "req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subj)
        _openssl(d, "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                 "-CAcreateserial", "-out", f"{name}.crt", "-days", str(days), "-extfile", ext)
    for key in d.glob("*.key"):
        key.chmod(0o600)


def sign_client_cert(d: Path, name: str, user: str, groups: tuple[str, ...] = (), *, days: int = 7) -> None:
    """A client certificate ``d/name.crt`` (key ``d/name.key``) from the test CA for ``user`` in
    ``groups``: kube-apiserver's x509 authenticator reads CN as the user and O as the groups."""
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    subj = "".join(f"/O={g}" for g in groups) + f"/CN={user}"
    _openssl(d, "req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subj)
    _openssl(d, "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", f"{name}.crt", "-days", str(days), "-extfile", "client.ext")
    (d / f"{name}.key").chmod(0o600)


def service_account_user(namespace: str, name: str) -> tuple[str, tuple[str, ...]]:
    """The user name and groups kube-apiserver gives a ServiceAccount's token."""
    return (f"system:serviceaccount:{namespace}:{name}",
            ("system:serviceaccounts", f"system:serviceaccounts:{namespace}"))


def _b64(p: Path) -> str:
    return base64.b64encode(p.read_bytes()).decode()


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Ask the kernel to SIGTERM the child when the thread that started it dies."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _tail(p: Path, n: int = 30) -> str:
    try:
        return "\n".join(p.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


def _stop(proc: subprocess.Popen[bytes] | None, timeout: float = 15.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


_live: weakref.WeakSet[ApiServer] = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    for server in list(_live):
        with contextlib.suppress(Exception):
            server.stop()


# ---------------------------------------------------------------------------- the server


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
                self.port = free_port()
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
            _stop(self._api)
            _stop(self._etcd)
            self._api = self._etcd = None
            _live.discard(self)
            if self._own_dir:
                shutil.rmtree(self.workdir, ignore_errors=True)

    def stop_apiserver(self) -> None:
        """Stop kapilite only (etcd and the data stay): clients now get connection refused."""
        with self._lock:
            _stop(self._api)
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
                        f"{self.workdir / log}:\n{_tail(self.workdir / log)}"
                    )
            if time.monotonic() > deadline:
                raise ApiServerError(
                    f"API server at {self.url} not ready in time; {self.workdir}/kapilite.log:\n"
                    f"{_tail(self.workdir / 'kapilite.log')}"
                )
            time.sleep(0.1)

    # -- internals

    def _popen(self, args: list[str], log_name: str) -> subprocess.Popen[bytes]:
        with open(self.workdir / log_name, "ab") as log:
            return subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.workdir, preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )

    def _start_etcd(self) -> None:
        assert self._binaries is not None
        last = ""
        for _ in range(3):  # a free port can be taken between free_port() and etcd's bind
            self.etcd_port, self.etcd_peer_port = free_port(), free_port()
            client, peer = self.etcd_url, f"http://127.0.0.1:{self.etcd_peer_port}"
            self._etcd = self._popen([
                str(self._binaries[1]), "--name=default", f"--data-dir={self.workdir / 'etcd-data'}",
                f"--listen-client-urls={client}", f"--advertise-client-urls={client}",
                f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=default={peer}", "--unsafe-no-fsync", "--log-level=warn",
            ], "etcd.log")
            deadline = time.monotonic() + 30
            while self._etcd.poll() is None and time.monotonic() < deadline:
                try:
                    with urllib.request.urlopen(f"{client}/health", timeout=2) as r:
                        if json.loads(r.read()).get("health") == "true":
                            return
                except (OSError, ValueError):
                    pass
                time.sleep(0.05)
            last = _tail(self.workdir / "etcd.log")
            _stop(self._etcd)
        raise ApiServerError(f"etcd did not become healthy; {self.workdir / 'etcd.log'}:\n{last}")

    def _start_api(self) -> None:
        assert self._binaries is not None
        pki, kc = self.pki_dir, self.kubeconfig
        self._api = self._popen([
            str(self._binaries[0]), f"--etcd-servers={self.etcd_url}",
            "--bind-address=127.0.0.1", f"--secure-port={self.port}",
            f"--tls-cert-file={pki / 'server.crt'}", f"--tls-private-key-file={pki / 'server.key'}",
            f"--client-ca-file={self.ca_file}", "--authentication-skip-lookup",
            f"--authentication-kubeconfig={kc}", f"--authorization-kubeconfig={kc}", f"--kubeconfig={kc}",
            f"--disable-admission-plugins={_DISABLED_ADMISSION}", "--enable-priority-and-fairness=false",
            *self.extra_args,
        ], "kapilite.log")

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
        # Certificates are embedded: the file works wherever it is copied.
        path = path or self.kubeconfig
        cert, key = cert or self.client_cert, key or self.client_key
        cfg = {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": "bmlb-test",
            "clusters": [{"name": "bmlb-test", "cluster": {
                "server": self.url, "certificate-authority-data": _b64(self.ca_file)}}],
            "contexts": [{"name": "bmlb-test", "context": {
                "cluster": "bmlb-test", "user": user, "namespace": namespace}}],
            "users": [{"name": user, "user": {
                "client-certificate-data": _b64(cert), "client-key-data": _b64(key)}}],
        }
        # JSON is YAML: no PyYAML needed.
        path.write_text(json.dumps(cfg, indent=2) + "\n")
        path.chmod(0o600)

    def __repr__(self) -> str:
        return f"ApiServer(url={self.url!r}, workdir={str(self.workdir)!r}, running={self.running})"


def main(argv: list[str] | None = None) -> int:
    """``python -m controller.cli.kapilite``: run a server until Ctrl-C, printing how to reach it."""
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--workdir", help="keep state, logs and kubeconfig here (default: a temp dir)")
    ap.add_argument("--build-only", action="store_true", help="build/check the binaries and exit")
    ns = ap.parse_args(argv)
    if ns.build_only:
        print(ensure_built())
        return 0
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    with ApiServer(ns.workdir) as api:
        print(f"kapilite ready at {api.url} in {api.startup_seconds:.1f}s (logs in {api.workdir})", flush=True)
        print(f"export KUBECONFIG={api.kubeconfig} PATH={api.bin_dir}:$PATH", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while api.running:
                time.sleep(1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
