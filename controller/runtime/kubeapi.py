"""The Kubernetes API over HTTPS for the controller and the agent: raw JSON in, raw JSON out.

bmlb reads and writes a handful of paths (list and watch, status and finalizer patches, Events,
Leases, one Secret) and reads every body as a plain dict. The kubernetes client's 700 model
classes cost a process ~18 MB to import and a decode per object bmlb never used, so the
controller and the agent talk to the API server through urllib3 (which the client itself uses).

Credentials come from the pod's service account (its token file is read again every minute:
bound tokens rotate) or from a kubeconfig: a token or token file, a client certificate, or a
user name and password. Credential plugins (exec, auth-provider) are refused with a clear error:
kopf's own login, which the operator's peering and webhooks use, does not run them either."""

from __future__ import annotations

import atexit
import base64
import json
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import urllib3
import yaml

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
TOKEN_REREAD_S = 60.0
JSON = "application/json"
MERGE = "application/merge-patch+json"


class ConfigError(Exception):
    """No usable credentials: the message names the file and the field."""


class ApiError(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status, self.reason = status, reason


@dataclass(frozen=True)
class Credentials:
    server: str  # https://host:port, no trailing slash
    ca_file: str | None = None
    insecure: bool = False
    cert_file: str | None = None
    key_file: str | None = None
    token: str | None = None
    token_file: str | None = None
    basic: tuple[str, str] | None = None  # user name, password
    server_name: str | None = None  # the name the server's certificate must hold, when not the host's


class KubeAPI:
    """One connection pool to the API server. `clone()` gives a second pool on the same
    credentials (long watches hold their connections for minutes)."""

    def __init__(self, creds: Credentials, *, pool_size: int = 32) -> None:
        self.creds, self.pool_size = creds, pool_size
        tls: dict[str, Any] = {"cert_reqs": "CERT_NONE"} if creds.insecure else {"cert_reqs": "CERT_REQUIRED"}
        if creds.ca_file and not creds.insecure:
            tls["ca_certs"] = creds.ca_file
        if creds.cert_file:
            tls.update(cert_file=creds.cert_file, key_file=creds.key_file)
        if creds.server_name:
            tls.update(server_hostname=creds.server_name, assert_hostname=creds.server_name)
        self._pool = urllib3.PoolManager(num_pools=2, maxsize=pool_size, **tls)
        self._token = creds.token
        self._token_read = 0.0
        self._lock = threading.Lock()

    def close(self) -> None:
        self._pool.clear()

    def clone(self, pool_size: int | None = None) -> KubeAPI:
        return KubeAPI(self.creds, pool_size=pool_size or self.pool_size)

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": JSON}
        if self.creds.token_file:
            with self._lock:
                if time.monotonic() - self._token_read > TOKEN_REREAD_S or not self._token:
                    self._token = Path(self.creds.token_file).read_text().strip()
                    self._token_read = time.monotonic()
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        elif self.creds.basic:
            pair = ":".join(self.creds.basic).encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        return headers

    def request(self, method: str, path: str, *, query: list[tuple[str, Any]] | None = None,
                body: Any = None, content_type: str = JSON,
                timeout: float | tuple[float, float] = 60.0) -> urllib3.BaseHTTPResponse:
        """The response of `method path` with its body not read yet (the caller reads and releases
        it); ApiError on any answer outside 2xx."""
        headers = self._headers()
        data = None
        if body is not None:
            headers["Content-Type"] = content_type
            data = json.dumps(body).encode()
        url = self.creds.server + path + (f"?{urlencode(query)}" if query else "")
        connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
        resp = self._pool.request(method, url, body=data, headers=headers, preload_content=False, redirect=False,
                                  timeout=urllib3.Timeout(connect=connect, read=read))
        if not 200 <= resp.status <= 299:
            text = resp.read()
            resp.release_conn()
            raise ApiError(resp.status, f"{resp.reason}: {text[:200]!r}")
        return resp

    def call(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        """The answer, decoded."""
        resp = self.request(method, path, **kw)
        try:
            data = resp.read()
        finally:
            resp.release_conn()
        out = json.loads(data) if data else {}
        return out if isinstance(out, dict) else {}

    def pages(self, path: str, *, limit: int = 500) -> Iterator[dict[str, Any]]:
        """A listing of `path`, one page (the decoded answer) at a time, each continuing the last."""
        cont = ""
        while True:
            page = self.call("GET", path, query=[("limit", limit)] + ([("continue", cont)] if cont else []))
            yield page
            meta = page.get("metadata")
            cont = str((meta if isinstance(meta, dict) else {}).get("continue") or "")
            if not cont:
                return

    def send(self, method: str, path: str, **kw: Any) -> None:
        """The answer read (so the connection goes back to the pool) and not decoded: a write's
        answer is the whole object, and decoding thousands of them costs more than the writes."""
        resp = self.request(method, path, **kw)
        try:
            resp.read()
        finally:
            resp.release_conn()


def connect(kubeconfig: str | None = None, *, pool_size: int = 32) -> KubeAPI:
    """The service account inside a pod, else `kubeconfig` (or $KUBECONFIG, or ~/.kube/config)."""
    if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST") and (SERVICE_ACCOUNT / "token").exists():
        return KubeAPI(in_cluster(), pool_size=pool_size)
    return KubeAPI(from_kubeconfig(kubeconfig), pool_size=pool_size)


def in_cluster() -> Credentials:
    host, port = os.environ["KUBERNETES_SERVICE_HOST"], os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    host = f"[{host}]" if ":" in host else host
    return Credentials(server=f"https://{host}:{port}", ca_file=str(SERVICE_ACCOUNT / "ca.crt"),
                       token_file=str(SERVICE_ACCOUNT / "token"))


def from_kubeconfig(path: str | None = None) -> Credentials:
    """The current context's cluster and user. Several files (os.pathsep-separated, as kubectl
    takes $KUBECONFIG): the first to name an entry wins; a relative path in an entry is relative to
    the file that holds it."""
    spec = path or os.environ.get("KUBECONFIG") or "~/.kube/config"
    files = [Path(p).expanduser() for p in spec.split(os.pathsep) if p]
    current, entries = None, {"contexts": {}, "clusters": {}, "users": {}}
    for file in files:
        try:
            doc = yaml.safe_load(file.read_text()) or {}
        except (OSError, yaml.YAMLError) as err:
            raise ConfigError(f"kubeconfig {file}: {err}") from None
        if not isinstance(doc, dict):
            raise ConfigError(f"kubeconfig {file}: not a map")
        current = current or doc.get("current-context")
        for section, table in entries.items():
            field = section[:-1]  # contexts -> context
            for item in doc.get(section) or []:
                if isinstance(item, dict) and item.get("name") not in table:
                    table[item.get("name")] = (dict(item.get(field) or {}), file.parent)
    where = " + ".join(str(f) for f in files)
    if current not in entries["contexts"]:
        raise ConfigError(f"kubeconfig {where}: current-context {current!r} is not among its contexts")
    context, _ = entries["contexts"][current]
    for field, section in (("cluster", "clusters"), ("user", "users")):
        if context.get(field) not in entries[section]:
            raise ConfigError(f"kubeconfig {where}: context {current!r} names {field} {context.get(field)!r}, "
                              f"which is not among its {section}")
    cluster, cdir = entries["clusters"][context["cluster"]]
    user, udir = entries["users"][context["user"]]
    server = str(cluster.get("server") or "").rstrip("/")
    if not server.startswith(("https://", "http://")):
        raise ConfigError(f"kubeconfig {where}: cluster {context['cluster']!r} has no https server")
    if cluster.get("proxy-url"):
        raise ConfigError(f"kubeconfig {where}: cluster {context['cluster']!r} is reached through proxy-url, "
                          "which bmlb does not support: run it where the API server is reached directly")
    token = user.get("token")
    if not token and (user.get("exec") or user.get("auth-provider")):
        raise ConfigError(f"kubeconfig {where}: user {context['user']!r} needs a credential plugin "
                          "(exec or auth-provider), which bmlb does not run: give it a token or a client certificate")
    basic = (str(user["username"]), str(user.get("password") or "")) if user.get("username") else None
    return Credentials(
        server=server, insecure=bool(cluster.get("insecure-skip-tls-verify")),
        ca_file=_file(cluster, "certificate-authority", cdir), cert_file=_file(user, "client-certificate", udir),
        key_file=_file(user, "client-key", udir), token=str(token) if token else None,
        token_file=str(_relative(user["tokenFile"], udir)) if user.get("tokenFile") else None, basic=basic,
        server_name=str(cluster["tls-server-name"]) if cluster.get("tls-server-name") else None)


def _relative(path: str, base: Path) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() else base / p


def _file(entry: dict[str, Any], field: str, base: Path) -> str | None:
    """A path for `field`: its own, or a private file holding its `-data` (TLS libraries read files)."""
    if entry.get(field):
        return str(_relative(str(entry[field]), base))
    data = entry.get(f"{field}-data")
    if not data:
        return None
    try:
        pem = base64.b64decode(str(data), validate=True)
    except ValueError:
        raise ConfigError(f"kubeconfig: {field}-data is not base64") from None
    fd, name = tempfile.mkstemp(prefix="bmlb-kube-", suffix=".pem")
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    atexit.register(_remove, name)
    return name


def _remove(name: str) -> None:
    try:
        os.unlink(name)
    except OSError:
        pass




def without_client_models() -> None:
    """Keep the kubernetes client out of this process (the controller's or the agent's): kopf
    imports its model classes when it is installed, only to recognise them in handlers' results,
    which bmlb's never return. Nothing here reads them; a process that already holds the client
    (a test run, the CLI's other commands) keeps it."""
    import sys

    if "kubernetes" not in sys.modules:
        sys.modules["kubernetes"] = None  # type: ignore[assignment]  # import raises ImportError


__all__ = ["JSON", "MERGE", "ApiError", "ConfigError", "Credentials", "KubeAPI", "connect", "from_kubeconfig",
           "in_cluster", "without_client_models"]
