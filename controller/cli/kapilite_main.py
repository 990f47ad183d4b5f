"""``python -m controller.cli.kapilite``: run the test API server until Ctrl-C, printing how to
reach it (``--build-only``: build or check the binaries and exit)."""

from __future__ import annotations

import contextlib
import signal
import time

from controller.cli import kapilite
from controller.cli.kapilite import ApiServer
from controller.cli.kapilite_build import ensure_built


def main(argv: list[str] | None = None) -> int:
    """``python -m controller.cli.kapilite``: run a server until Ctrl-C, printing how to reach it."""
    import argparse

    ap = argparse.ArgumentParser(description=(kapilite.__doc__ or "").splitlines()[0] or None)
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
