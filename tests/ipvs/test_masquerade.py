"""bmlb's masquerade table: the `nft` text, reading it back, and the Reconciler keeping it.

The round trips go through the real `nft` in a private network namespace (`unshare --net`, root);
they skip where that is not possible. Expected values are written out by hand.
"""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
from collections.abc import Collection
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ipvs import masquerade
from ipvs.errors import IpvsError
from ipvs.memory import MemoryBackend
from ipvs.model import Masquerade, Protocol, Table
from ipvs.persist import load
from ipvs.reconcile import Reconciler
from tests.ipvs.helpers import rs, vs

A = vs("10.96.0.10", 80, rs("10.0.0.1"))
M_A = Masquerade(ipaddress.ip_address("10.96.0.10"), Protocol.TCP, 80)
M_6 = Masquerade(ipaddress.ip_address("fd00::10"), Protocol.UDP, 53)


def _can_unshare() -> bool:
    if shutil.which("nft") is None or shutil.which("unshare") is None:
        return False
    r = subprocess.run(["unshare", "--net", "nft", "list", "ruleset"], capture_output=True, check=False)
    return r.returncode == 0


NFT = pytest.mark.skipif(not _can_unshare(), reason="needs nft and unshare --net (root)")


def _in_netns(script: str, *after: str) -> subprocess.CompletedProcess[str]:
    """Apply `script` with nft in a fresh network namespace, then run `after` there."""
    shell = "nft -f - && " + " && ".join(after) if after else "nft -f -"
    return subprocess.run(["unshare", "--net", "sh", "-ec", shell], input=script, capture_output=True,
                          text=True, check=False)


def test_script_lists_each_family_in_its_set() -> None:
    text = masquerade.script([M_6, M_A])
    assert text.startswith("table inet bmlb {}\ndelete table inet bmlb\n")
    assert "elements = { 10.96.0.10 . tcp . 80 }" in text
    assert "elements = { fd00::10 . udp . 53 }" in text
    assert masquerade.script([]) == "table inet bmlb {}\ndelete table inet bmlb\n"


@NFT
def test_the_kernel_holds_what_the_script_says() -> None:
    done = _in_netns(masquerade.script([M_A, M_6]), "nft list table inet bmlb")
    assert done.returncode == 0, done.stderr
    listed = done.stdout
    assert "10.96.0.10 . tcp . 80" in listed and "fd00::10 . udp . 53" in listed
    assert "type nat hook postrouting" in listed and "masquerade" in listed
    assert "type nat hook prerouting" in listed and "type nat hook output" in listed


@NFT
def test_an_empty_set_removes_the_table_and_replacing_twice_is_fine() -> None:
    done = _in_netns(masquerade.script([M_A]), f"printf '%s' '{masquerade.script([M_A])}' | nft -f -",
                     f"printf '%s' '{masquerade.script([])}' | nft -f -", "! nft list table inet bmlb")
    assert done.returncode == 0, done.stderr


entries = st.builds(
    Masquerade,
    st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)),
    st.sampled_from(list(Protocol)),
    st.integers(1, 65535),
)


@NFT
@settings(max_examples=15, deadline=None)
@given(st.frozensets(entries, min_size=1, max_size=6))
def test_parse_reads_back_what_nft_holds(chosen: frozenset[Masquerade]) -> None:
    done = _in_netns(masquerade.script(chosen), "nft -j list table inet bmlb")
    assert done.returncode == 0, done.stderr
    assert masquerade.parse(done.stdout) == chosen


@NFT
def test_a_table_someone_edited_reads_as_damaged() -> None:
    for edit in ("nft flush chain inet bmlb postrouting", "nft delete chain inet bmlb output",
                 "nft add rule inet bmlb vips accept"):
        done = _in_netns(masquerade.script([M_A]), edit, "nft -j list table inet bmlb")
        assert done.returncode == 0, done.stderr
        assert masquerade.parse(done.stdout) == masquerade.DAMAGED, edit


def test_parse_of_garbage_is_damaged_not_an_exception() -> None:
    for text in ("", "{}", '{"nftables": [{"set": {"name": "masq4", "elem": [{"concat": ["x", "tcp", 1]}]}}]}'):
        assert masquerade.parse(text) == masquerade.DAMAGED


def test_reconciler_writes_the_set_once_and_removes_it_with_the_last_service() -> None:
    backend = MemoryBackend()
    r = Reconciler(backend)
    first = r.sync(Table((A,), frozenset({M_A})), now=0)
    assert first.masquerade and first.changed and backend.masquerade() == {M_A}
    assert not r.sync(Table((A,), frozenset({M_A})), now=1).changed
    assert not r.sync(Table((A,), frozenset({M_A})), now=2, verify=True).changed
    assert backend.masquerade_writes == 1
    # A service that stops being masqueraded (Local policy) leaves the set; the last one removes the table.
    assert r.sync(Table((A,)), now=3).masquerade
    assert backend.masquerade() is None and backend.masquerade_writes == 2
    assert not r.sync(Table(), now=4).masquerade


def test_a_change_behind_the_reconcilers_back_is_repaired_on_the_next_verification() -> None:
    backend = MemoryBackend()
    r = Reconciler(backend, verify_every=60)
    r.sync(Table((A,), frozenset({M_A})), now=0)
    backend.masq = None  # someone deleted the table
    assert not r.sync(Table((A,), frozenset({M_A})), now=1).masquerade
    assert r.sync(Table((A,), frozenset({M_A})), now=61).masquerade
    assert backend.masquerade() == {M_A}


class NoNft(MemoryBackend):
    def set_masquerade(self, entries: Collection[Masquerade]) -> None:
        raise IpvsError("nft: No such file or directory")


def test_a_masquerade_failure_does_not_stop_ipvs_and_is_retried() -> None:
    backend = NoNft()
    r = Reconciler(backend)
    result = r.sync(Table((A,), frozenset({M_A})), now=0)
    assert result.masquerade_error and "nft" in result.masquerade_error
    assert backend.table().services == (A,), "IPVS applied anyway"
    again = r.sync(Table((A,), frozenset({M_A})), now=1)
    assert again.masquerade_error and again.plan == ()


def test_the_memory_backend_saves_the_set_with_its_table(tmp_path: Path) -> None:
    path = tmp_path / "n1.json"
    backend = MemoryBackend.persistent(path)
    Reconciler(backend).sync(Table((A,), frozenset({M_A, M_6})), now=0)
    table, _, _ = load(path)
    assert table.masquerade == {M_A, M_6}
    assert MemoryBackend.persistent(path).masquerade() == {M_A, M_6}
