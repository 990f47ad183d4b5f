"""L2 mode's election (controller/runtime/l2.py) and the pure parts of ipvs/announce.py, on the host.
The kernel side (ARP on a real bridge, failover time) is tests/kernel/test_l2.py."""

from __future__ import annotations

import heapq
import ipaddress
import multiprocessing
import struct
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.core.election import (
    Action,
    Conflict,
    Lease,
    LeaseView,
    decide,
    lease_name,
    lifetime_for,
    ranking,
    wake_time,
)
from controller.core.timefmt import micro_time
from controller.runtime.kubeapi import connect
from controller.runtime.l2 import Elector, Speaker
from controller.runtime.lease_stores import FileLeaseStore, KubeLeaseStore, fresh_nodes
from ipvs.announce import (
    ARPOP_REPLY,
    ARPOP_REQUEST,
    BROADCAST,
    Announcer,
    arp_frame,
    neighbor_advert,
    parse_arp,
)

VIP = "10.0.0.100"
NODES = ("n1", "n2", "n3")
D = 3.0


# ---- decide


def test_names_are_dns_labels() -> None:
    assert lease_name("10.0.0.100") == "bmlb-vip-10-0-0-100"
    assert lease_name("fd00::") == "bmlb-vip-fd00-0000-0000-0000-0000-0000-0000-0000"


def test_ranking_spreads_vips_and_moves_only_a_removed_nodes_vips() -> None:
    vips = [f"10.0.{i // 250}.{i % 250}" for i in range(600)]
    first = {v: ranking(v, NODES)[0] for v in vips}
    counts = Counter(first.values())
    assert set(counts) == set(NODES) and min(counts.values()) > 150
    after = {v: ranking(v, ("n1", "n2"))[0] for v in vips}
    assert all(after[v] == first[v] for v in vips if first[v] != "n3")


def test_absent_lease_goes_to_the_preferred_node_only() -> None:
    top, second, _ = ranking(VIP, NODES)
    assert decide(0.0, VIP, top, NODES, None) is Action.ACQUIRE
    assert decide(0.0, VIP, second, NODES, None) is Action.WAIT
    # seen absent for a duration: the preferred node is not acting, the next one may
    assert decide(D, VIP, second, NODES, LeaseView(None, 0.0, D)) is Action.ACQUIRE


def test_live_holder_keeps_it_and_renews() -> None:
    top, second, _ = ranking(VIP, NODES)
    held = LeaseView(second, 10.0, D)
    assert decide(12.9, VIP, top, NODES, held) is Action.WAIT  # no hand-back to the preferred node
    assert decide(12.9, VIP, second, NODES, held) is Action.RENEW
    assert decide(99.0, VIP, second, NODES, held) is Action.RENEW  # the store's CAS judges


def test_expired_holder_is_replaced_by_the_best_other_node_then_the_next() -> None:
    top, second, third = ranking(VIP, NODES)
    dead = LeaseView(top, 10.0, D)
    assert decide(12.99, VIP, second, NODES, dead) is Action.WAIT
    assert decide(13.0, VIP, second, NODES, dead) is Action.ACQUIRE
    assert decide(13.0, VIP, third, NODES, dead) is Action.WAIT
    assert decide(16.0, VIP, third, NODES, dead) is Action.ACQUIRE  # `second` did not act in a duration
    released = LeaseView(None, 10.0, D, released_by=top)
    assert decide(10.0, VIP, second, NODES, released) is Action.ACQUIRE


def test_wake_time_is_the_next_multiple_of_the_duration() -> None:
    assert wake_time(10.5, LeaseView("x", 10.0, D)) == pytest.approx(13.001)
    assert wake_time(13.0, LeaseView("x", 10.0, D)) == pytest.approx(16.001)


# ---- the election as a distributed system: a simulation with separate reads and writes


@dataclass
class SimNode:
    name: str
    alive_until: float
    seen: dict[str, float] = field(default_factory=dict)  # version -> first seen
    sent: float | None = None
    mine: str | None = None  # version of our last successful write
    announcing: bool = False


@dataclass
class Store:
    version: int = 0  # 0: absent
    holder: str | None = None
    released_by: str | None = None


def simulate(names: list[str], phases: list[float], delays: list[float], crash: dict[str, float],
             horizon: float) -> tuple[list[tuple[float, set[str]]], list[tuple[float, str, int]]]:
    """Each node ticks every D/3 (or at its wake time): it reads the Lease, decides, and its write
    reaches the store `delay` later, applied only if the version is still the one it read (CAS).
    Announcing changes only when a round completes, as Speaker.step does. Returns the announcing
    set after every event and the landed writes (time, node, version)."""
    interval = D / 3
    nodes = {n: SimNode(n, crash.get(n, float("inf"))) for n in names}
    store = Store()
    events: list[tuple[float, int, str, str, Any]] = []
    seq = 0

    def push(t: float, kind: str, node: str, data: Any = None) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(events, (t, seq, kind, node, data))

    for n, p in zip(names, phases, strict=True):
        push(p, "tick", n)
    trace: list[tuple[float, set[str]]] = []
    writes: list[tuple[float, str, int]] = []
    k = 0
    while events:
        t, _, kind, name, data = heapq.heappop(events)
        if t > horizon:
            break
        node = nodes[name]
        if kind == "tick" and t < node.alive_until:
            key = str(store.version)
            if store.version and store.holder == name and node.mine == key:
                view = LeaseView(name, node.sent or t, D)
            else:
                since = node.seen.setdefault(key, t)
                view = LeaseView(store.holder, since, D, store.released_by)
            action = decide(t, VIP, name, names, view)
            if action is Action.WAIT:
                node.announcing = False
                node.sent = node.mine = None
                push(min(t + interval, wake_time(t, view)), "tick", name)
            else:
                delay = delays[k % len(delays)]
                k += 1
                push(t + delay, "write", name, (store.version, t))
        elif kind == "write":
            expected, sent = data
            alive = t < node.alive_until
            if store.version == expected:
                store.version += 1
                store.holder, store.released_by = name, None
                writes.append((t, name, store.version))
                if alive:
                    node.sent, node.mine = sent, str(store.version)
                    node.seen[node.mine] = sent
            elif alive:
                node.sent = node.mine = None
            if alive:
                node.announcing = node.sent is not None and t - node.sent < D - interval
                push(sent + interval, "tick", name)
        for n in nodes.values():
            if t >= n.alive_until:
                n.announcing = False
        trace.append((t, {n.name for n in nodes.values() if n.announcing}))
    return trace, writes


times = st.floats(min_value=0.0, max_value=D / 3, allow_nan=False).map(lambda x: round(x * 64) / 64)


@settings(max_examples=300, deadline=None)
@given(
    n=st.integers(2, 4),
    phases=st.lists(times, min_size=4, max_size=4),
    delays=st.lists(st.floats(0.0, D / 6, allow_nan=False), min_size=1, max_size=8),
    crash_at=st.floats(1.0, 12.0, allow_nan=False),
    crash_holder=st.booleans(),
)
def test_never_two_announcers_and_a_dead_holder_is_replaced_in_time(
    n: int, phases: list[float], delays: list[float], crash_at: float, crash_holder: bool,
) -> None:
    names = [f"n{i}" for i in range(n)]
    # find out who holds at crash_at in a crash-free run, and crash that node (or another)
    free_trace, _ = simulate(names, phases[:n], delays, {}, crash_at)
    holder_then = next(iter(free_trace[-1][1]), names[0]) if free_trace else names[0]
    victim = holder_then if crash_holder else next(x for x in names if x != holder_then)
    trace, writes = simulate(names, phases[:n], delays, {victim: crash_at}, 30.0)

    assert all(len(announcing) <= 1 for _, announcing in trace)
    # liveness: someone announces by (the crash or the victim's last landed write, if later)
    # + one observation interval + one duration + the write delay
    last_victim_write = max((t for t, who, _ in writes if who == victim), default=0.0)
    deadline = max(crash_at, last_victim_write) + D / 3 + D + max(delays) + 1e-6
    later = [announcing for t, announcing in trace if t >= deadline]
    assert later and all(len(a) == 1 for a in later)
    assert victim not in later[-1]


# ---- stores


def test_file_store_compare_and_swap(tmp_path: Path) -> None:
    store = FileLeaseStore(tmp_path)
    assert store.get("x") is None
    a = store.create(Lease("x", "n1", D))
    with pytest.raises(Conflict):
        store.create(Lease("x", "n2", D))
    b = store.update(Lease("x", "n2", D, version=a.version))
    assert (b.holder, store.get("x")) == ("n2", b)
    with pytest.raises(Conflict):
        store.update(Lease("x", "n3", D, version=a.version))
    with pytest.raises(Conflict):
        store.update(Lease("y", "n3", D, version="1"))


def _bump(directory: str, rounds: int) -> int:
    store, wins = FileLeaseStore(directory), 0
    for _ in range(rounds):
        while True:
            cur = store.get("c")
            try:
                store.update(Lease("c", None, D, transitions=cur.transitions + 1, version=cur.version))  # type: ignore[union-attr]
                wins += 1
                break
            except Conflict:
                continue
    return wins


def test_file_store_serializes_processes(tmp_path: Path) -> None:
    FileLeaseStore(tmp_path).create(Lease("c", None, D))
    with multiprocessing.get_context("fork").Pool(3) as pool:
        wins = pool.starmap(_bump, [(str(tmp_path), 40)] * 3)
    assert sum(wins) == 120
    assert FileLeaseStore(tmp_path).get("c").transitions == 120  # type: ignore[union-attr]


# ---- Elector and Speaker with a fake clock


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class FakeAnnouncer:
    def __init__(self) -> None:
        self.on: set[ipaddress.IPv4Address | ipaddress.IPv6Address] = set()
        self.garp: list[Any] = []

    def announce(self, vips: set[Any]) -> set[Any]:
        new = set(vips) - self.on
        self.on |= set(vips)
        self.garp += sorted(new)
        return new

    def withdraw(self, vips: set[Any]) -> set[Any]:
        gone = self.on & set(vips)
        self.on -= set(vips)
        return gone

    def gratuitous(self, vips: Any) -> None:
        self.garp += list(vips)


def test_two_speakers_fail_over_within_duration_plus_interval(tmp_path: Path) -> None:
    clock = Clock()
    store = FileLeaseStore(tmp_path)
    vips = ["10.0.0.100", "10.0.0.101", "10.0.0.102", "10.0.0.103"]
    sp = {n: Speaker(Elector(store, n, duration=D, clock=clock, wall=clock), FakeAnnouncer()) for n in ("a", "b")}
    for _ in range(3):
        for s in sp.values():
            s.step(vips, ["a", "b"])
        clock.t += 1.0
    assert sp["a"].held | sp["b"].held == set(vips) and not sp["a"].held & sp["b"].held
    assert {ranking(v, "ab")[0] for v in sp["a"].held} <= {"a"}
    assert sp["a"].announcer.garp.count(ipaddress.ip_address(sorted(sp["a"].held)[0])) == 3  # new + 2 repeats
    lost = set(sp["a"].held)
    died = clock.t  # a dies right after its last renewal (at died - 1)
    while lost - sp["b"].held:
        wake = sp["b"].elector.wake_at()
        clock.t = min(clock.t + 1.0, wake or float("inf"))
        sp["b"].step(vips, ["a", "b"])
    assert sp["b"].held == set(vips)
    # b read a's last renewal in the same second it was written: takeover one duration later
    assert clock.t - (died - 1.0) == pytest.approx(D, abs=0.01)
    # graceful: b releases on stop, a (restarted) takes everything at once, no duration to wait
    sp["b"].stop()
    fresh = Speaker(Elector(store, "a", duration=D, clock=clock, wall=clock), FakeAnnouncer())
    fresh.step(vips, ["a", "b"])
    assert fresh.held == set(vips)


def test_holder_that_cannot_renew_stops_before_anyone_may_take_over(tmp_path: Path) -> None:
    clock = Clock()

    class Broken(FileLeaseStore):
        down = False

        def update(self, lease: Lease) -> Lease:
            if self.down:
                raise OSError("API server unreachable")
            return super().update(lease)

    store = Broken(tmp_path)
    e = Elector(store, "a", duration=D, clock=clock, wall=clock)
    assert e.tick([VIP], ["a"]) == {VIP}
    store.down = True
    clock.t += 1.0
    assert e.tick([VIP], ["a"]) == {VIP}
    clock.t += 1.0  # renew_deadline (2 s) reached: withdraw, a duration/3 before others may act
    assert e.tick([VIP], ["a"]) == set()


# ---- the Kubernetes Lease store, against the real API server


@pytest.mark.apiserver
def test_kube_lease_store(cluster: Any, ns: str) -> None:
    store = KubeLeaseStore(connect(str(cluster.kubeconfig)), ns)
    name = lease_name("fd00::1")
    assert store.get(name) is None
    a = store.create(Lease(name, "n1", 2.5, 1_700_000_000.0, 1_700_000_000.0))
    assert (a.holder, a.duration, a.version != "") == ("n1", 3.0, True)
    assert a.renew_time == pytest.approx(1_700_000_000.0, abs=0.001)
    with pytest.raises(Conflict):
        store.create(Lease(name, "n2", D))
    b = store.update(Lease(name, None, D, 1_700_000_001.5, released_by="n1", version=a.version))
    assert store.get(name) == b and (b.holder, b.released_by) == (None, "n1")
    with pytest.raises(Conflict):
        store.update(Lease(name, "n3", D, version=a.version))
    # an Elector over the API server: the preferred node takes a fresh VIP
    e = Elector(store, "n2", duration=D)
    assert e.tick(["10.0.0.7"], ["n2"]) == {"10.0.0.7"}
    assert store.get(lease_name("10.0.0.7")).holder == "n2"  # type: ignore[union-attr]


@pytest.mark.apiserver
def test_fresh_nodes_reads_node_leases(cluster: Any, ns: str) -> None:
    import time

    import kubernetes

    api = kubernetes.client.CoordinationV1Api(cluster.api)
    now = time.time()
    # a Lease bmlb cannot read (no spec, a spec that is not a map) is not a candidate, and no error
    api.create_namespaced_lease(ns, {"metadata": {"name": "bmlb-node-empty"}})
    for node, age in (("fresh", 1.0), ("stale", 30.0)):
        api.create_namespaced_lease(ns, {"metadata": {"name": f"bmlb-node-{node}"}, "spec": {
            "holderIdentity": node, "leaseDurationSeconds": 10, "renewTime": micro_time(now - age)}})
    assert fresh_nodes(connect(str(cluster.kubeconfig)), ns, now=now) == {"fresh"}


def test_micro_time_always_has_a_fraction() -> None:
    assert micro_time(1_700_000_000.0) == "2023-11-14T22:13:20.000001Z"
    assert micro_time(1_700_000_000.25) == "2023-11-14T22:13:20.250000Z"


# ---- the kernel side's pure parts


def test_gratuitous_arp_frames() -> None:
    mac = bytes.fromhex("020000000001")
    vip = ipaddress.IPv4Address(VIP)
    req, rep = arp_frame(mac, vip, ARPOP_REQUEST), arp_frame(mac, vip, ARPOP_REPLY)
    assert len(req) == 42 and req[:6] == BROADCAST and req[6:12] == mac
    assert parse_arp(req) == (ARPOP_REQUEST, mac, vip, vip)
    assert parse_arp(rep) == (ARPOP_REPLY, mac, vip, vip)
    assert req[32:38] == b"\0" * 6 and rep[32:38] == BROADCAST  # target hardware address
    assert parse_arp(b"\0" * 42) is None


def test_unsolicited_neighbor_advert() -> None:
    mac = bytes.fromhex("020000000001")
    vip = ipaddress.IPv6Address("fd00::100")
    na = neighbor_advert(mac, vip)
    kind, code, _csum, flags = struct.unpack_from("!BBHI", na)
    assert (kind, code, flags) == (136, 0, 0x20000000)  # override, not solicited, not router
    assert na[8:24] == vip.packed and na[24:] == b"\x02\x01" + mac


def test_sysctls_are_only_raised(tmp_path: Path) -> None:
    for conf, ignore in (("all", "0"), ("eth0", "2")):
        d = tmp_path / "net/ipv4/conf" / conf
        d.mkdir(parents=True)
        (d / "arp_ignore").write_text(ignore + "\n")
        (d / "arp_announce").write_text("0\n")
    a = Announcer("eth0", proc_sys=tmp_path)
    assert a.ensure_sysctls() == ("net.ipv4.conf.all.arp_ignore", "net.ipv4.conf.all.arp_announce",
                                  "net.ipv4.conf.eth0.arp_announce")
    assert (tmp_path / "net/ipv4/conf/eth0/arp_ignore").read_text().strip() == "2"
    assert a.ensure_sysctls() == ()


def test_address_lifetime_lapses_before_a_takeover() -> None:
    assert lifetime_for(3.0) == 2
    assert lifetime_for(1.0) == 1
    assert all(lifetime_for(d) + 1 <= d for d in (3.0, 6.0, 15.0))


def test_agent_l2_step_announces_the_vips_of_its_table(tmp_path: Path) -> None:
    from controller.runtime.agent import Agent
    from ipvs.memory import MemoryBackend
    from ipvs.model import Protocol, RealServer, Scheduler, Table, VirtualService

    vs = VirtualService(Protocol.TCP, ipaddress.ip_address(VIP), 80, Scheduler.RR, 0,
                        (RealServer(ipaddress.ip_address("10.1.0.5"), 8080),))
    agent = Agent(node="a", backend=MemoryBackend())
    agent.table = Table((vs,))
    agent.speaker = Speaker(Elector(FileLeaseStore(tmp_path), "a", duration=D), FakeAnnouncer())  # type: ignore[arg-type]
    agent.l2_step()  # no coordination API: the only candidate is the node itself
    assert agent.speaker.held == {VIP}
    assert agent.speaker.announcer.on == {ipaddress.ip_address(VIP)}  # type: ignore[attr-defined]
