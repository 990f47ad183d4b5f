"""README's first command, run the way a newcomer runs it: `bmlb demo` more than once, with and
without --once, in the same --workdir. Real processes: the test API server, the PAN-OS simulator,
the controller and the agents, all started by the demo itself."""

from __future__ import annotations

import contextlib
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


def _demo_up(workdir: Path) -> subprocess.Popen[str]:
    up = subprocess.Popen([sys.executable, "-m", "controller.cli", "demo", "--workdir", str(workdir)], cwd=ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert up.stdout is not None
    seen = []
    deadline = time.monotonic() + 240
    for line in up.stdout:
        seen.append(line)
        if "The demo stays up" in line or time.monotonic() > deadline:
            break
    if not any("The demo stays up" in ln for ln in seen) or up.poll() is not None:
        os.killpg(up.pid, signal.SIGKILL)
        pytest.fail("".join(seen))
    return up


def _descendants(pid: int) -> dict[int, str]:
    """Every process below `pid` (read from /proc, not from anything the demo reports), by command line."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found: dict[int, str] = {}
    todo = list(children.get(pid, []))
    while todo:
        p = todo.pop()
        with contextlib.suppress(OSError):
            found[p] = (Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
            todo += children.get(p, [])
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGKILL], ids=lambda s: s.name)
def test_a_demo_stopped_by_a_signal_leaves_no_process_behind(tmp_path: Path, sig: signal.Signals) -> None:
    """`kill`, a closed terminal or `kill -9` of the demo alone (not its group): its API server,
    controller and agents go with it."""
    ensure_built(build=False)
    up = _demo_up(tmp_path / "demo")
    kids = _descendants(up.pid)
    try:
        assert any("controller.cli controller" in c for c in kids.values()), kids
        assert any("controller.cli agent" in c for c in kids.values()), kids
        assert len(kids) >= 4, kids  # etcd, the API server, the controller, one agent per node
        os.kill(up.pid, sig)
        out, _ = up.communicate(timeout=90)
        if sig != signal.SIGKILL:
            assert up.returncode == 0, out[-3000:]
            assert "stopping" in out
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(_alive(p) for p in kids):
            time.sleep(0.2)
        assert not [c for p, c in kids.items() if _alive(p)]
    finally:
        for p in kids:
            with contextlib.suppress(OSError):
                os.kill(p, signal.SIGKILL)


def test_demo_runs_again_and_again_in_either_order(tmp_path: Path) -> None:
    ensure_built(build=False)
    workdir = tmp_path / "demo"
    # `bmlb demo` (stays up) first; a second demo in the same workdir is refused in one line.
    # Ctrl-C is what stops it: a suite started in the background (`cmd &`) hands its children
    # SIGINT ignored, and the demo would never hear it.
    up = _demo_up(workdir)
    try:
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
