"""The test API server's credentials: a CA, the server and admin certificates, client
certificates for any user (RBAC tests), and kubeconfigs that embed them (openssl as a program)."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

from controller.cli.kapilite_build import ApiServerError


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


def write_kubeconfig(path: Path, *, server: str, ca: Path, cert: Path, key: Path, user: str, namespace: str) -> None:
    # Certificates are embedded: the file works wherever it is copied.
    cfg = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "bmlb-test",
        "clusters": [{"name": "bmlb-test", "cluster": {
            "server": server, "certificate-authority-data": _b64(ca)}}],
        "contexts": [{"name": "bmlb-test", "context": {
            "cluster": "bmlb-test", "user": user, "namespace": namespace}}],
        "users": [{"name": user, "user": {
            "client-certificate-data": _b64(cert), "client-key-data": _b64(key)}}],
    }
    # JSON is YAML: no PyYAML needed.
    path.write_text(json.dumps(cfg, indent=2) + "\n")
    path.chmod(0o600)
