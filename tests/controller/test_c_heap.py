"""The controller's and agent's malloc arenas, counted by glibc itself (malloc_info's XML, one
<heap> per arena), in a fresh process whose threads each allocate."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PROBE = r"""
import ctypes, os, sys, tempfile, threading
from controller.runtime import c_heap
set_ = c_heap.limit_arenas() if sys.argv[1] == "limit" else None
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
libc.fopen.restype = ctypes.c_void_p
libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
libc.fclose.argtypes = [ctypes.c_void_p]
go = threading.Barrier(8)
def work():
    go.wait()
    libc.free(libc.malloc(100_000))
threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
path = tempfile.mktemp()
fp = libc.fopen(path.encode(), b"w")
libc.malloc_info(0, fp)
libc.fclose(fp)
xml = open(path).read()
os.unlink(path)
print(set_, xml.count("<heap nr="))
"""


def _arenas(how: str, **env: str) -> tuple[str, int]:
    out = subprocess.run([sys.executable, "-c", PROBE, how], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={k: v for k, v in os.environ.items() if k not in ("MALLOC_ARENA_MAX", "GLIBC_TUNABLES")}
                         | env).stdout.split()
    return out[0], int(out[1])


def _glibc() -> bool:
    try:
        return hasattr(ctypes.CDLL(None), "malloc_info")
    except OSError:
        return False


@pytest.mark.skipif(not _glibc(), reason="not glibc: no arenas to count")
def test_the_processes_threads_share_two_arenas() -> None:
    assert _arenas("limit") == ("True", 2)
    assert _arenas("none")[1] > 2  # what each thread would otherwise get (the probe can tell)


@pytest.mark.skipif(not _glibc(), reason="not glibc")
def test_an_operators_own_setting_wins() -> None:
    assert _arenas("limit", MALLOC_ARENA_MAX="4") == ("False", 4)
