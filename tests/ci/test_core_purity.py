"""The core reads no clock, no environment and no randomness: controller/core/ruff.toml bans them
(TID251). These run ruff on snippets as if they were files of controller/core/ (stdin, nothing
written), so a config that stops applying there, or stops catching one of them, fails here."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

BANNED = {
    "time.time": "import time\n\nx = time.time()\n",
    "time.monotonic": "import time\n\nx = time.monotonic()\n",
    "from time import monotonic": "from time import monotonic\n\nx = monotonic()\n",
    "datetime.now": "import datetime as dt\n\nx = dt.datetime.now(dt.UTC)\n",
    "from datetime import datetime": "from datetime import datetime\n\nx = datetime.now()\n",
    "os.environ": "import os\n\nx = os.environ.get('HOME')\n",
    "os.getenv": "import os\n\nx = os.getenv('HOME')\n",
    "random": "import random\n\nx = random.random()\n",
    "uuid.uuid4": "import uuid\n\nx = uuid.uuid4()\n",
    "subprocess": "import subprocess\n\nx = subprocess.run(['kubectl'])\n",
    "shutil": "import shutil\n\nx = shutil.which('kubectl')\n",
}


def _ruff() -> str:
    beside = Path(sys.executable).parent / "ruff"
    found = str(beside) if beside.exists() else shutil.which("ruff")
    assert found, "ruff is a test dependency (pyproject.toml [test])"
    return found


def _codes(source: str, as_file: str) -> str:
    r = subprocess.run([_ruff(), "check", "--no-cache", "--output-format", "concise", "--stdin-filename", as_file, "-"],
                       input=source, capture_output=True, text=True, cwd=ROOT, timeout=60)
    return r.stdout + r.stderr


@pytest.mark.parametrize("what", sorted(BANNED))
def test_core_bans_clocks_environment_and_randomness(what: str) -> None:
    assert "TID251" in _codes(BANNED[what], "controller/core/probe.py"), what


@pytest.mark.parametrize("what", ["time.time", "os.environ"])
def test_runtime_may_read_them(what: str) -> None:
    assert "TID251" not in _codes(BANNED[what], "controller/runtime/probe.py"), what


def test_timestamps_from_a_parameter_are_allowed() -> None:
    source = ("import datetime as dt\n\n\ndef f(t: float) -> str:\n"
              "    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat()\n")
    assert "TID251" not in _codes(source, "controller/core/probe.py")
