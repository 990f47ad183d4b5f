"""What the twin's kernel tests need (root, ip, nft), and how they react when it is missing:
skip on a developer's machine, fail in the VM (BMLB_KERNEL_VM=1, set by run-in-vm.sh)."""

from __future__ import annotations

import os
import shutil

import pytest

IN_VM = os.environ.get("BMLB_KERNEL_VM") == "1"
HOW = "run: tests/kernel/run-in-vm.sh .venv/bin/python -m pytest -q tests/e2e/test_twin_kernel.py"


def missing() -> str | None:
    if os.geteuid() != 0:
        return "needs root (network namespaces, nftables)"
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None:
            return f"needs {tool} on PATH (apt-get install nftables iproute2)"
    return None


def require() -> None:
    """Skip (fail in the VM) the calling test or fixture unless root with ip and nft."""
    reason = missing()
    if reason and IN_VM:
        pytest.fail(f"BMLB_KERNEL_VM=1 but {reason}", pytrace=False)
    if reason:
        pytest.skip(f"firewall twin kernel test: {reason}; {HOW}")
