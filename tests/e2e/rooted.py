"""What the twin's kernel tests need (root, ip, nft, the VM), and how they react when it is
missing: skip on the host, fail in the VM (BMLB_KERNEL_VM=1, set by run-in-vm.sh).

They run in the VM only, like tests/kernel: the host suite (tests/run.sh) runs as root too, and
a host kernel may lack nf_tables. BMLB_TWIN_HOST=1 runs them on the host anyway (root, with
nftables): they only touch namespaces of their own.
"""

from __future__ import annotations

import os
import shutil

import pytest

IN_VM = os.environ.get("BMLB_KERNEL_VM") == "1"
ON_HOST = os.environ.get("BMLB_TWIN_HOST") == "1"
HOW = "run: tests/kernel/run-in-vm.sh .venv/bin/python -m pytest -q tests/e2e/test_twin_kernel.py"


def missing() -> str | None:
    if not (IN_VM or ON_HOST):
        return "runs in the VM (or set BMLB_TWIN_HOST=1)"
    if os.geteuid() != 0:
        return "needs root (network namespaces, nftables)"
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None:
            return f"needs {tool} on PATH (apt-get install nftables iproute2)"
    return None


def require() -> None:
    """Skip (fail in the VM) the calling test or fixture unless it can run here."""
    reason = missing()
    if reason and IN_VM:
        pytest.fail(f"BMLB_KERNEL_VM=1 but {reason}", pytrace=False)
    if reason:
        pytest.skip(f"firewall twin kernel test: {reason}; {HOW}")
