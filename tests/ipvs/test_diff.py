from __future__ import annotations

import dataclasses
import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ipvs.diff import (
    AddServer,
    AddService,
    DeleteServer,
    DeleteService,
    DrainServer,
    EditServer,
    EditService,
    ServerRef,
    bare,
    diff,
)
from ipvs.memory import MemoryBackend
from ipvs.model import Forwarding, Protocol, Scheduler, Table
from tests.ipvs.helpers import rs, table, vs
from tests.ipvs.strategies import tables

A = vs("10.96.0.10", 80, rs("10.0.0.1"), rs("10.0.0.2"))
FOREIGN = vs("10.0.0.99", 53, rs("10.0.0.1", 53), protocol=Protocol.UDP)


@pytest.mark.parametrize(
    ("desired", "actual", "expected"),
    [
        pytest.param(table(), table(), (), id="empty"),
        pytest.param(table(A), table(A), (), id="idempotent"),
        pytest.param(
            table(A), table(),
            (AddService(bare(A)), AddServer(bare(A), rs("10.0.0.1")), AddServer(bare(A), rs("10.0.0.2"))),
            id="create service with servers",
        ),
        pytest.param(table(), table(A), (DeleteService(bare(A)),), id="delete service, servers go with it"),
        pytest.param(
            table(dataclasses.replace(A, scheduler=Scheduler.WLC)), table(A),
            (EditService(bare(dataclasses.replace(A, scheduler=Scheduler.WLC)), bare(A)),),
            id="scheduler change edits in place",
        ),
        pytest.param(
            table(dataclasses.replace(A, persistence_timeout=300)), table(A),
            (EditService(bare(dataclasses.replace(A, persistence_timeout=300)), bare(A)),),
            id="ClientIP affinity edits in place",
        ),
        pytest.param(
            table(vs("10.96.0.10", 80, rs("10.0.0.1", weight=5), rs("10.0.0.2"))), table(A),
            (EditServer(bare(A), rs("10.0.0.1", weight=5), rs("10.0.0.1")),),
            id="weight change",
        ),
        pytest.param(
            table(vs("10.96.0.10", 80, rs("10.0.0.1", forwarding=Forwarding.DR), rs("10.0.0.2"))), table(A),
            (EditServer(bare(A), rs("10.0.0.1", forwarding=Forwarding.DR), rs("10.0.0.1")),),
            id="forwarding change",
        ),
        pytest.param(
            table(vs("10.96.0.10", 80, rs("10.0.0.1"), rs("10.0.0.3"))), table(A),
            (DeleteServer(bare(A), rs("10.0.0.2")), AddServer(bare(A), rs("10.0.0.3"))),
            id="one endpoint replaced: delete before add",
        ),
        pytest.param(
            table(vs("10.96.0.10", 81)), table(A),
            (DeleteService(bare(A)), AddService(bare(vs("10.96.0.10", 81)))),
            id="port change is a new service",
        ),
        pytest.param(table(A), table(A, FOREIGN), (), id="foreign service untouched"),
        pytest.param(table(), table(FOREIGN), (), id="foreign service untouched when nothing desired"),
    ],
)
def test_diff(desired: Table, actual: Table, expected: tuple[object, ...]) -> None:
    before = (desired, actual)
    assert diff(desired, actual, owned=lambda vip: vip != FOREIGN.address) == expected
    assert (desired, actual) == before


def test_owned_vip_not_desired_is_deleted() -> None:
    assert diff(table(), table(A, FOREIGN), owned={A.address}) == (DeleteService(bare(A)),)


def test_owned_accepts_a_predicate() -> None:
    assert diff(table(), table(A), owned=lambda vip: vip.is_private) == (DeleteService(bare(A)),)


def test_draining_server_goes_to_weight_zero_once() -> None:
    desired = table(vs("10.96.0.10", 80, rs("10.0.0.1")))
    ref = ServerRef(A.key, rs("10.0.0.2").key)
    assert diff(desired, table(A), owned=(), draining={ref}) == (DrainServer(bare(A), rs("10.0.0.2", weight=0)),)
    drained = table(vs("10.96.0.10", 80, rs("10.0.0.1"), rs("10.0.0.2", weight=0)))
    assert diff(desired, drained, owned=(), draining={ref}) == ()
    assert diff(desired, drained, owned=()) == (DeleteServer(bare(A), rs("10.0.0.2", weight=0)),)


def test_desired_server_at_weight_zero_is_restored() -> None:
    stuck = table(vs("10.96.0.10", 80, rs("10.0.0.1", weight=0), rs("10.0.0.2")))
    assert diff(table(A), stuck, owned=()) == (EditServer(bare(A), rs("10.0.0.1"), rs("10.0.0.1", weight=0)),)


@given(tables)
def test_diff_of_a_table_with_itself_is_empty(a: Table) -> None:
    assert diff(a, a, owned=a.vips) == ()


@given(tables, tables)
def test_applying_the_diff_gives_the_desired_table(a: Table, b: Table) -> None:
    backend = MemoryBackend(a)
    backend.apply(diff(b, a, owned=a.vips))
    assert backend.table() == b


@given(tables, tables, st.data())
def test_foreign_services_never_appear_in_a_plan(a: Table, b: Table, data: st.DataObject) -> None:
    foreign = vs("192.0.2.1", 80, rs("10.0.0.1"))
    owned = data.draw(st.sets(st.sampled_from(sorted(a.vips | b.vips, key=str))) if a.vips | b.vips else st.just(set()))
    actual = Table((*a.services, foreign))
    plan = diff(b, actual, owned=owned)
    assert all(op.service.address != ipaddress.ip_address("192.0.2.1") for op in plan)
    backend = MemoryBackend(actual)
    backend.apply(plan)
    assert foreign in backend.table().services


@given(tables, tables)
def test_plan_is_sorted_and_deterministic(a: Table, b: Table) -> None:
    plan = diff(b, a, owned=a.vips)
    assert list(plan) == sorted(plan, key=lambda op: op.order)
    assert plan == diff(Table(tuple(reversed(b.services))), a, owned=set(a.vips))
