"""The controller's and agent's C heap as glibc itself reports it, in a fresh process: its malloc
arenas (malloc_info's XML, one <heap> per arena) while threads each allocate, and which big
blocks get a mapping of their own (mallinfo2's mapped bytes)."""

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


OURS = ("MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_", "GLIBC_TUNABLES")


def _arenas(how: str, **env: str) -> tuple[str, int]:
    out = subprocess.run([sys.executable, "-c", PROBE, how], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={k: v for k, v in os.environ.items() if k not in OURS}
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


MAPPED = r"""
import ctypes, sys
from controller.runtime import c_heap
set_ = c_heap.fix_mmap_threshold() if sys.argv[1] == "fix" else None
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                               "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Info
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
libc.free(libc.malloc(8 << 20))  # a big block, mapped, then freed: glibc raises its threshold to it
before = libc.mallinfo2().hblkhd
block = libc.malloc(1 << 20)
print(set_, libc.mallinfo2().hblkhd - before >= 1 << 20)
libc.free(block)
"""


def _mapped(how: str, **env: str) -> tuple[str, str]:
    out = subprocess.run([sys.executable, "-c", MAPPED, how], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={k: v for k, v in os.environ.items() if k not in OURS} | env).stdout.split()
    return out[0], out[1]


@pytest.mark.skipif(not _glibc() or not hasattr(ctypes.CDLL(None), "mallinfo2"), reason="not glibc 2.33+")
def test_big_blocks_stay_mapped_after_a_bigger_one_was_freed() -> None:
    """A 1 MiB block after an 8 MiB one was freed: from the heap by glibc's own rule (where freed
    holes stay resident), mapped (and given back when freed) with the threshold fixed."""
    assert _mapped("none") == ("None", "False")
    assert _mapped("fix") == ("True", "True")
    assert _mapped("fix", MALLOC_MMAP_THRESHOLD_="4194304") == ("False", "False")
