"""The validating admission webhook's server: kopf handlers that judge each request against the
controller's in-memory index (the judge: controller/core/admission.py), and its certificates."""

from __future__ import annotations

import datetime
import ipaddress
import os
import tempfile
from pathlib import Path
from typing import Any

import kopf

from controller.core.admission import KINDS, judge
from controller.runtime.clock import now
from controller.runtime.index import ClusterIndex

CERT_DIR_ENV = "BMLB_WEBHOOK_CERT_DIR"  # tls.crt, tls.key (and ca.crt) as a kubernetes.io/tls Secret mounts them
ADDR_ENV = "BMLB_WEBHOOK_ADDR"  # in a cluster 0.0.0.0, so the API server reaches it through a Service


def register_webhooks(registry: kopf.OperatorRegistry, index: ClusterIndex) -> None:
    """Validating handlers for the bmlb kinds and for Services of bmlb's class."""
    for k in KINDS:
        def validate(body: kopf.Body, warnings: list[str], _kind: str = k.kind, **_: Any) -> None:
            verdict = judge(index.snapshot(), {**dict(body), "kind": _kind}, now=now())
            warnings.extend(verdict.warnings)
            if not verdict.allowed:
                raise kopf.AdmissionError(verdict.message, code=422)

        kopf.on.validate(k.group, k.version, k.plural, id=f"bmlb-{k.plural}", operations=["CREATE", "UPDATE"],
                         registry=registry)(validate)


def server(port: int, *, addr: str | None = None, cert_dir: str | None = None,
           host: str | None = None) -> kopf.WebhookServer:
    """kopf's HTTPS webhook server. Certificates come from `cert_dir` (tls.crt, tls.key, ca.crt);
    when it has none, a private CA and a server certificate for `addr`/`host` are made there,
    and the CA is written to ca.crt for clients to verify against."""
    addr = addr or os.environ.get(ADDR_ENV) or "127.0.0.1"
    folder = Path(cert_dir or os.environ.get(CERT_DIR_ENV) or tempfile.mkdtemp(prefix="bmlb-webhook-"))
    cert, key, ca = folder / "tls.crt", folder / "tls.key", folder / "ca.crt"
    if not (cert.exists() and key.exists()):
        _self_signed(folder, [addr, *([host] if host else []), "localhost"])
    return kopf.WebhookServer(addr=addr, port=port, host=host, certfile=str(cert), pkeyfile=str(key),
                              cafile=str(ca) if ca.exists() else None)


def _self_signed(folder: Path, names: list[str]) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder.mkdir(parents=True, exist_ok=True)
    issued = datetime.datetime.now(datetime.UTC)
    start, end = issued - datetime.timedelta(minutes=5), issued + datetime.timedelta(days=365)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bmlb webhook CA")])
    ca_cert = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
               .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(start).not_valid_after(end)
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .sign(ca_key, hashes.SHA256()))
    sans: list[x509.GeneralName] = []
    for n in dict.fromkeys(names):
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            sans.append(x509.DNSName(n))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    (folder / "ca.crt").write_bytes(ca_cert.public_bytes(pem))
    (folder / "tls.crt").write_bytes(cert.public_bytes(pem))
    key_file = folder / "tls.key"
    key_file.write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    key_file.chmod(0o600)


__all__ = ["ADDR_ENV", "CERT_DIR_ENV", "register_webhooks", "server"]
