"""The test API server's binaries (controller/cli/kapilite.py): where ``tests/apiserver/build.sh``
caches kapilite, etcd and kubectl, and building them when they are missing or out of date."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import IO

#: The build script of a source checkout (absent from an installed wheel: see ensure_built).
BUILD_SCRIPT = Path(os.environ.get("BMLB_APISERVER_BUILD")
                    or Path(__file__).resolve().parents[2] / "tests" / "apiserver" / "build.sh")


class ApiServerError(RuntimeError):
    """The API server could not be built, started or reached."""


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
