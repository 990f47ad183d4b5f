"""README's first command, run the way a newcomer runs it: `bmlb demo` more than once, with and
without --once, in the same --workdir. Real processes: the test API server, the PAN-OS simulator,
the controller and the agents, all started by the demo itself."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from controller.cli.kapilite_build import ensure_built

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.apiserver


def _demo(workdir: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "controller.cli", "demo", "--workdir", str(workdir), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_demo_runs_again_and_again_in_either_order(tmp_path: Path) -> None:
    ensure_built(build=False)
    workdir = tmp_path / "demo"
    # `bmlb demo` (stays up) first; a second demo in the same workdir is refused in one line.
    # Ctrl-C is what stops it: a suite started in the background (`cmd &`) hands its children
    # SIGINT ignored, and the demo would never hear it.
    up = subprocess.Popen([sys.executable, "-m", "controller.cli", "demo", "--workdir", str(workdir)], cwd=ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert up.stdout is not None
        seen = []
        deadline = time.monotonic() + 240
        for line in up.stdout:
            seen.append(line)
            if "The demo stays up" in line or time.monotonic() > deadline:
                break
        assert any("The demo stays up" in ln for ln in seen), "".join(seen)
        assert up.poll() is None
        busy = _demo(workdir, "--once", timeout=60)
        assert busy.returncode == 1
        assert "another bmlb demo is running" in _one_line_error(busy)
    finally:
        os.killpg(up.pid, signal.SIGINT)
        up.communicate(timeout=60)
    assert up.returncode == 0
    # Then --once twice: each run starts from a fresh API server state and converges.
    for _ in range(2):
        result = _demo(workdir, "--once")
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        assert "not converged" not in result.stdout
        assert "Traceback" not in result.stdout + result.stderr


def test_a_demo_that_cannot_start_says_why_in_one_line(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "controller.cli", "demo", "--once", "--workdir",
                             str(tmp_path / "demo")], cwd=ROOT, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "BMLB_KAPILITE": str(tmp_path / "no-kapilite")})
    assert result.returncode == 1
    assert _one_line_error(result).startswith("Error: ")
