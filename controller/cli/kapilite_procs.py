"""The test API server's child processes (controller/cli/kapilite.py): free loopback ports, a
child that dies with its parent, stopping one, the end of its log, waiting for etcd's health."""

from __future__ import annotations

import contextlib
import ctypes
import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Ask the kernel to SIGTERM the child when the thread that started it dies."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def log_tail(p: Path, n: int = 30) -> str:
    try:
        return "\n".join(p.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


def stop_process(proc: subprocess.Popen[bytes] | None, timeout: float = 15.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def etcd_healthy(proc: subprocess.Popen[bytes], client: str, timeout: float = 30) -> bool:
    """Wait until etcd at `client` reports itself healthy; False when it exits or time runs out."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{client}/health", timeout=2) as r:
                if json.loads(r.read()).get("health") == "true":
                    return True
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    return False


#: Admission plugins that need types kapilite does not serve (the admission policies). The
#: Validating and Mutating AdmissionWebhook plugins are on, as on a real cluster.
_DISABLED_ADMISSION = "MutatingAdmissionPolicy,ValidatingAdmissionPolicy"


def popen(args: list[str], workdir: Path, log_name: str) -> subprocess.Popen[bytes]:
    """Start a child in `workdir`, its output appended to `workdir/log_name`."""
    with open(workdir / log_name, "ab") as log:
        return subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=workdir, preexec_fn=die_with_parent if sys.platform == "linux" else None,
        )


def etcd_command(binary: Path, workdir: Path, client: str, peer: str) -> list[str]:
    return [
        str(binary), "--name=default", f"--data-dir={workdir / 'etcd-data'}",
        f"--listen-client-urls={client}", f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=default={peer}", "--unsafe-no-fsync", "--log-level=warn",
    ]


def kapilite_command(binary: Path, *, etcd: str, port: int, pki: Path, kubeconfig: Path,
                     extra: tuple[str, ...]) -> list[str]:
    kc = kubeconfig
    return [
        str(binary), f"--etcd-servers={etcd}",
        "--bind-address=127.0.0.1", f"--secure-port={port}",
        f"--tls-cert-file={pki / 'server.crt'}", f"--tls-private-key-file={pki / 'server.key'}",
        f"--client-ca-file={pki / 'ca.crt'}", "--authentication-skip-lookup",
        f"--authentication-kubeconfig={kc}", f"--authorization-kubeconfig={kc}", f"--kubeconfig={kc}",
        f"--disable-admission-plugins={_DISABLED_ADMISSION}", "--enable-priority-and-fairness=false",
        *extra,
    ]
