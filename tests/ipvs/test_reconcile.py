from __future__ import annotations

import dataclasses
import ipaddress

import pytest
from hypothesis import given, settings

from ipvs.diff import DeleteServer, DeleteService, DrainServer, ServerRef, bare, count
from ipvs.drain import Connections
from ipvs.errors import ApplyError
from ipvs.memory import MemoryBackend
from ipvs.model import Forwarding, Protocol, Table
from ipvs.reconcile import Reconciler
from tests.ipvs.helpers import big_table, rs, table, vs
from tests.ipvs.strategies import tables

A = vs("10.96.0.10", 80, rs("10.0.0.1"), rs("10.0.0.2"))
A1 = vs("10.96.0.10", 80, rs("10.0.0.1"))
B2 = ServerRef(A.key, rs("10.0.0.2").key)
KUBE = vs("10.0.0.99", 443, rs("10.0.0.7", 6443))  # kube-proxy's, not on bmlb0


def test_sync_twice_second_applies_nothing() -> None:
    backend = MemoryBackend()
    r = Reconciler(backend)
    first = r.sync(table(A), now=0)
    assert first.applied == 3 and first.bound == {A.address}
    assert backend.table() == table(A)
    assert backend.links["bmlb0"] == {A.address}
    assert backend.sysctls["net.ipv4.vs.conntrack"] == "1"
    second = r.sync(table(A), now=1)
    assert second.plan == () and not second.changed


def test_removed_service_unbinds_its_vip() -> None:
    backend = MemoryBackend()
    r = Reconciler(backend)
    r.sync(table(A), now=0)
    result = r.sync(table(), now=1)
    assert result.unbound == {A.address}
    assert backend.table() == table() and backend.links["bmlb0"] == set()


def test_foreign_services_are_never_touched() -> None:
    backend = MemoryBackend(table(KUBE))
    r = Reconciler(backend)
    r.sync(table(A), now=0)
    r.sync(table(), now=1)
    assert backend.table() == table(KUBE)
    assert all(op.service.address != KUBE.address for op in backend.log)


def test_bound_vip_not_desired_is_ours_to_delete() -> None:
    """A VIP left on bmlb0 by a previous run: its service is bmlb's and goes."""
    backend = MemoryBackend(table(A, KUBE), links={"bmlb0": {A.address}})
    Reconciler(backend).sync(table(), now=0)
    assert backend.table() == table(KUBE)


def test_busy_server_drains_then_goes() -> None:
    backend = MemoryBackend()
    r = Reconciler(backend, drain_timeout=100)
    r.sync(table(A), now=0)
    backend.connections[B2] = Connections(active=1)
    res = r.sync(table(A1), now=10)
    assert res.plan == (DrainServer(bare(A), rs("10.0.0.2", weight=0)),)
    assert res.draining == {B2}
    assert r.sync(table(A1), now=20).plan == ()
    backend.connections[B2] = Connections(active=0, inactive=0)
    res = r.sync(table(A1), now=30)
    assert [type(op) for op in res.plan] == [DeleteServer]
    assert backend.table() == table(A1) and r.draining == {}


def test_idle_server_goes_at_once() -> None:
    backend = MemoryBackend()
    r = Reconciler(backend)
    r.sync(table(A), now=0)
    assert [type(op) for op in r.sync(table(A1), now=1).plan] == [DeleteServer]


def test_drain_timeout() -> None:
    backend = MemoryBackend()
    r = Reconciler(backend, drain_timeout=100)
    r.sync(table(A), now=0)
    backend.connections[B2] = Connections(active=5)
    r.sync(table(A1), now=10)
    assert r.sync(table(A1), now=109).plan == ()
    assert [type(op) for op in r.sync(table(A1), now=110).plan] == [DeleteServer]


def test_udp_server_goes_at_once() -> None:
    udp = vs("10.96.0.10", 53, rs("10.0.0.1", 53), rs("10.0.0.2", 53), protocol=Protocol.UDP)
    backend = MemoryBackend()
    r = Reconciler(backend)
    r.sync(table(udp), now=0)
    backend.connections[ServerRef(udp.key, rs("10.0.0.2", 53).key)] = Connections(active=4)
    res = r.sync(table(vs("10.96.0.10", 53, rs("10.0.0.1", 53), protocol=Protocol.UDP)), now=1)
    assert [type(op) for op in res.plan] == [DeleteServer]


def test_restart_forgets_no_drain_and_times_out_from_first_sight() -> None:
    backend = MemoryBackend()
    old = Reconciler(backend, drain_timeout=100)
    old.sync(table(A), now=0)
    backend.connections[B2] = Connections(active=1)
    old.sync(table(A1), now=10)
    new = Reconciler(backend, drain_timeout=100)  # agent restarted: no memory
    res = new.sync(table(A1), now=500)
    assert res.plan == () and res.draining == {B2}
    assert new.draining == {B2: 500}
    assert new.sync(table(A1), now=599).plan == ()
    assert [type(op) for op in new.sync(table(A1), now=600).plan] == [DeleteServer]


def test_restart_leaves_nothing_stuck_at_weight_zero() -> None:
    """The kube-proxy bug: a server drained, then desired again across a restart."""
    backend = MemoryBackend()
    old = Reconciler(backend)
    old.sync(table(A), now=0)
    backend.connections[B2] = Connections(active=1)
    old.sync(table(A1), now=1)
    new = Reconciler(backend)
    new.sync(table(A), now=2)
    assert backend.table() == table(A)
    assert new.draining == {}


def test_forwarding_modes_set_their_sysctls() -> None:
    backend = MemoryBackend()
    Reconciler(backend).sync(table(vs("10.96.0.10", 80, rs("10.0.0.1", forwarding=Forwarding.DR))), now=0)
    assert backend.sysctls["net.ipv4.conf.all.arp_ignore"] == "1"
    assert "net.ipv4.vs.conntrack" not in backend.sysctls


def test_dry_run_writes_nothing() -> None:
    backend = MemoryBackend()
    plan = Reconciler(backend).plan(table(A), now=0)
    assert count(plan) == {"AddService": 1, "AddServer": 2}
    assert backend.table() == table() and backend.links == {} and backend.log == []


def test_one_endpoint_change_in_a_large_table_is_at_most_two_operations() -> None:
    big = big_table(1000, 10)
    backend = MemoryBackend()
    r = Reconciler(backend)
    assert r.sync(big, now=0).applied == 11_000
    svc = big.services[500]
    changed = dataclasses.replace(svc, real_servers=(*svc.real_servers[1:], rs("10.250.0.1")))
    new = Table((*big.services[:500], changed, *big.services[501:]))
    assert r.sync(new, now=1).applied <= 2
    assert backend.table() == new


@settings(max_examples=50, deadline=None)
@given(tables, tables)
def test_sync_converges_and_then_is_quiet(a: Table, b: Table) -> None:
    backend = MemoryBackend()
    r = Reconciler(backend)
    r.sync(a, now=0)
    r.sync(b, now=1)
    assert backend.table() == b
    assert backend.addresses("bmlb0") == b.vips
    assert r.sync(b, now=2).plan == ()


def test_vip_order_is_stable() -> None:
    backend = MemoryBackend()
    vips = ["10.96.0.9", "10.96.0.10", "fd00::1"]
    Reconciler(backend).sync(table(*(vs(v) for v in vips)), now=0)
    assert backend.links["bmlb0"] == {ipaddress.ip_address(v) for v in vips}


def test_syncs_diff_against_memory_and_verify_on_schedule() -> None:
    """O(changes): between verifications a change made behind bmlb's back is not seen; the
    periodic verification reads the kernel and repairs it."""
    backend = MemoryBackend()
    r = Reconciler(backend, verify_every=60)
    assert r.sync(table(A), now=0).verified
    backend.apply((DeleteServer(bare(A), rs("10.0.0.2")),))  # someone else, e.g. ipvsadm -d
    quiet = r.sync(table(A), now=30)
    assert (quiet.plan, quiet.verified) == ((), False)
    repaired = r.sync(table(A), now=60)
    assert repaired.verified and [type(op).__name__ for op in repaired.plan] == ["AddServer"]
    assert backend.table() == table(A)


def test_after_an_error_the_next_sync_verifies() -> None:
    backend = MemoryBackend()
    r = Reconciler(backend, verify_every=3600)
    r.sync(table(A), now=0)
    backend.apply((DeleteService(bare(A)),))  # the service vanished behind bmlb's back
    with pytest.raises(ApplyError):  # bmlb adds a server to a service it believes exists
        r.sync(table(vs("10.96.0.10", 80, rs("10.0.0.1"), rs("10.0.0.2"), rs("10.0.0.3"))), now=1)
    wanted = table(vs("10.96.0.10", 80, rs("10.0.0.1"), rs("10.0.0.3")))
    result = r.sync(wanted, now=2)
    assert result.verified and backend.table() == wanted
    assert r.sync(wanted, now=3).plan == ()


def test_forced_verification_reads_the_kernel() -> None:
    backend = MemoryBackend()
    r = Reconciler(backend, verify_every=3600)
    r.sync(table(A), now=0)
    backend.apply((DeleteServer(bare(A), rs("10.0.0.1")),))
    assert r.sync(table(A), now=1).plan == ()
    assert [type(op).__name__ for op in r.sync(table(A), now=2, verify=True).plan] == ["AddServer"]
    assert backend.table() == table(A)


def test_drained_server_is_remembered_at_weight_zero() -> None:
    backend = MemoryBackend()
    r = Reconciler(backend, drain_timeout=100, verify_every=3600)
    r.sync(table(A), now=0)
    backend.connections[B2] = Connections(active=1)
    assert [type(op) for op in r.sync(table(A1), now=1).plan] == [DrainServer]
    assert r.sync(table(A1), now=2).plan == ()  # from memory: already at weight 0
    assert r.sync(table(A), now=3).plan  # desired again: restored to weight 1
    assert backend.table() == table(A)


@settings(max_examples=50, deadline=None)
@given(tables, tables, tables)
def test_memory_and_a_fresh_read_agree(a: Table, b: Table, c: Table) -> None:
    """Whatever sequence was synced, the remembered table plans what a full read plans."""
    backend = MemoryBackend()
    r = Reconciler(backend, verify_every=3600)
    r.sync(a, now=0)
    r.sync(b, now=1)
    fresh = Reconciler(MemoryBackend(backend.table(), links=backend.links)).plan(c, now=2)
    assert r.sync(c, now=2).plan == fresh
    assert backend.table() == c and r.sync(c, now=3, verify=True).plan == ()
