"""Fixtures for tests against the real kernel's IPVS, with real traffic (see lab.py).

Run them in the VM:  tests/kernel/run-in-vm.sh .venv/bin/python -m pytest tests/kernel -q
Elsewhere they skip unless the kernel has IPVS and we are root; they then run in namespaces
of their own (the host's network is not touched). With BMLB_KERNEL_VM=1 (set by
run-in-vm.sh) a missing IPVS is a failure, not a skip.

Fixtures
  lab -> lab.Lab           the namespaces and servers (session); the test process sits in the
                           director namespace, where IPVS is programmed
  reconciler -> Reconciler  bmlb's sync on a KernelBackend in the director namespace, link bmlb0
  clean_ipvs               (autouse) after each test: the IPVS table cleared, bmlb0 deleted
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ipvs.kernel import KernelBackend
from ipvs.reconcile import Reconciler
from tests.kernel import lab as lab_mod
from tests.kernel.lab import LINK

IN_VM = os.environ.get("BMLB_KERNEL_VM") == "1"
_MISSING = pytest.StashKey[str]()
HOW = "run: tests/kernel/run-in-vm.sh .venv/bin/python -m pytest tests/kernel"


def _ipvs_missing() -> str | None:
    """Why this machine cannot run the tests, or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, IPVS)"
    for tool in ("ip", "ipvsadm"):
        if shutil.which(tool) is None:
            return f"needs {tool} on PATH"
    if Path("/proc/net/ip_vs").exists():
        return None
    try:
        if lab_mod.ipvs_family_exists():
            return None
    except OSError as e:
        return f"cannot ask generic netlink for IPVS ({e})"
    return "this kernel has no IPVS (no ip_vs module, no IPVS generic netlink family)"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    mine = [i for i in items if here in Path(str(i.path)).parents]
    if not mine:
        return
    for item in mine:
        item.add_marker(pytest.mark.kernel)
        item.add_marker(pytest.mark.timeout(120))  # a hung socket must not eat the VM's whole timeout
    reason = _ipvs_missing()
    if reason and not IN_VM:
        skip = pytest.mark.skip(reason=f"kernel IPVS tests: {reason}; {HOW}")
        for item in mine:
            item.add_marker(skip)
    elif reason:
        config.stash[_MISSING] = reason


@pytest.fixture(scope="session")
def lab(request: pytest.FixtureRequest) -> Iterator[lab_mod.Lab]:
    missing = request.config.stash.get(_MISSING, None)
    if missing:
        pytest.fail(f"BMLB_KERNEL_VM=1 but {missing}", pytrace=False)
    lab_mod.run(f"ip netns del {lab_mod.DIRECTOR} 2>/dev/null || true; ip netns add {lab_mod.DIRECTOR}")
    with lab_mod.netns(lab_mod.DIRECTOR):  # the whole session; the host's namespace is left alone
        if not Path("/proc/net/ip_vs").exists():
            pytest.fail("no /proc/net/ip_vs in the director namespace", pytrace=False)
        the_lab = lab_mod.Lab.build()
        yield the_lab
        the_lab.close()
    lab_mod.run(f"ip netns del {lab_mod.DIRECTOR}")


@pytest.fixture
def reconciler(lab: lab_mod.Lab) -> Iterator[Reconciler]:
    backend = KernelBackend()
    yield Reconciler(backend, link=LINK)
    backend.close()


@pytest.fixture(autouse=True)
def clean_ipvs(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "lab" in request.fixturenames:
        subprocess.run(["ipvsadm", "-C"], check=True)
        subprocess.run(["ip", "link", "del", LINK], capture_output=True, check=False)  # bmlb recreates it
