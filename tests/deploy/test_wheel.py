"""bmlb installed from its wheel, outside the source tree, judges manifests as the checkout does.

The wheel is built from a copy of the package sources (pip's build isolation fetches setuptools,
cached after the first run) and installed without its dependencies into a fresh virtual
environment in a temporary folder; a .pth file lends it the test environment's site-packages for
the dependencies (a .pth in a lent folder is not run, so the checkout's editable install stays
out). Every command runs from the temporary folder: nothing of the checkout is on its path.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "README.md", "controller", "firewall", "ipvs", "crds", "templates")
CASES = [
    ["validate", "-f", str(ROOT / "examples")],
    ["validate", "--strict", "-f", str(ROOT / "examples")],
    ["validate", "-f", str(ROOT / "examples" / "invalid")],
    ["validate", "-f", str(ROOT / "deploy" / "base")],
    ["plan", "-f", str(ROOT / "examples"), "-o", "panos-set"],
    ["plan", "-f", str(ROOT / "examples"), "-o", "json"],
    ["plan", "-f", str(ROOT / "examples" / "invalid")],
]


# PYTHONPATH would put the checkout (or the developer's worktree) back on the installed bmlb's path.
CLEAN_ENV = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}


def _run(args: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=CLEAN_ENV)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bmlb console script of a fresh venv holding only the wheel."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, symlinks=True,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(ROOT / name, src / name)
    built = _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp / "dist"), str(src)], tmp)
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = (tmp / "dist").glob("bmlb-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert not [n for n in names if n.startswith("tests/")]
    assert {f"controller/data/crds/{f.name}" for f in (ROOT / "crds").glob("*.yaml")} <= set(names)
    venv = tmp / "venv"
    made = _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp)
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    inst = _run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", str(wheel)], tmp)
    assert inst.returncode == 0, inst.stdout + inst.stderr
    purelib = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], tmp).stdout.strip()
    (Path(purelib) / "bmlb-test-deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    where = _run([str(python), "-c", "import controller, importlib.util as u; print(controller.__file__); "
                  "print(u.find_spec('tests'))"], tmp)
    assert where.returncode == 0, where.stderr
    assert where.stdout.splitlines() == [f"{purelib}/controller/__init__.py", "None"], where.stdout
    return venv / "bin" / "bmlb"


@pytest.mark.parametrize("args", CASES, ids=[" ".join(Path(a).name if "/" in a else a for a in c) for c in CASES])
def test_the_installed_wheel_gives_the_checkouts_verdicts(installed: Path, args: list[str], tmp_path: Path) -> None:
    wheel = _run([str(installed), *args], tmp_path)
    checkout = subprocess.run([sys.executable, "-m", "controller.cli", *args], cwd=ROOT, capture_output=True,
                              text=True, timeout=600)
    assert "Traceback" not in wheel.stderr, wheel.stderr
    assert (wheel.returncode, wheel.stdout, wheel.stderr) == (checkout.returncode, checkout.stdout, checkout.stderr)
    assert " objects, " in wheel.stderr or wheel.stdout.strip()


def test_the_installed_wheel_has_no_demo_dependency_and_says_so(installed: Path, tmp_path: Path) -> None:
    helped = _run([str(installed), "--help"], tmp_path)
    assert helped.returncode == 0 and "demo" in helped.stdout
    demo = _run([str(installed), "demo", "--once", "--workdir", str(tmp_path / "demo")], tmp_path, timeout=120)
    assert demo.returncode != 0
    assert "Traceback" not in demo.stderr and len(demo.stderr.strip().splitlines()) == 1, demo.stderr
