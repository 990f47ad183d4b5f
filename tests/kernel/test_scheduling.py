"""Schedulers and persistence, seen from the client: which backend answers each connection."""

from __future__ import annotations

from collections import Counter

from ipvs.model import Scheduler, Table
from ipvs.reconcile import Reconciler
from tests.kernel.lab import BACKENDS, CLIENT_ADDRS, Lab, ask_tcp, service


def test_round_robin_spreads_evenly(lab: Lab, reconciler: Reconciler) -> None:
    reconciler.sync(Table((service("10.96.0.21", 80, to=8080, scheduler=Scheduler.RR),)), now=0.0)
    assert Counter(ask_tcp("10.96.0.21", 80) for _ in range(12)) == dict.fromkeys(BACKENDS, 4)


def test_source_hashing_sticks_to_the_client_address(lab: Lab, reconciler: Reconciler) -> None:
    reconciler.sync(Table((service("10.96.0.22", 80, to=8080, scheduler=Scheduler.SH),)), now=0.0)
    rounds = [[ask_tcp("10.96.0.22", 80, src=src) for src in CLIENT_ADDRS] for _ in range(3)]
    assert rounds[0] == rounds[1] == rounds[2]
    assert len(set(rounds[0])) > 1  # a hash, not a constant: 8 clients do not all land on one backend


def test_client_ip_persistence_keeps_each_client_on_one_backend(lab: Lab, reconciler: Reconciler) -> None:
    svc = service("10.96.0.23", 80, to=8080, scheduler=Scheduler.RR, persistence=60)
    reconciler.sync(Table((svc,)), now=0.0)
    first = {src: ask_tcp("10.96.0.23", 80, src=src) for src in CLIENT_ADDRS[:3]}
    # rr picks the backend of each new client (one template per client): three clients, three backends
    assert sorted(first.values()) == sorted(BACKENDS)
    for src, backend in first.items():
        assert [ask_tcp("10.96.0.23", 80, src=src) for _ in range(4)] == [backend] * 4
