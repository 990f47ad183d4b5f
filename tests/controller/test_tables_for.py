"""The IPVS tables a compile builds: every node's by default, only the nodes asked for otherwise
(an agent its own, the controller none). Everything else a compile says, the problems the data
plane finds among it, is the same whichever tables are built."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.core.compiler import Compiled, compile
from controller.core.snapshot import Snapshot
from tests.controller.estate import firewall, nat, pool, service, slice_
from tests.faults.test_fuzz_api import snapshots

NODES = [{"apiVersion": "v1", "kind": "Node", "metadata": {"name": n}} for n in ("n1", "n2", "n3")]
DOCS = [
    pool("vips", "10.96.0.0/24"), pool("pub", "203.0.113.0/29", zone="untrust", purpose="Public", auto=False),
    firewall(), *NODES,
    service("a", "cluster", (80, 8080)),
    service("a", "local", (81, 8080), externalTrafficPolicy="Local"),
    # DR cannot remap a port: a warning on the Service, found by the data plane
    service("a", "dr", (82, 8082), annotations={"bmlb.io/forwarding": "dr"}),
    slice_("a", "cluster", [(80, 8080)], [("10.1.0.1", "n1"), ("10.1.0.2", "n2")]),
    slice_("a", "local", [(81, 8080)], [("10.1.0.3", "n3")]),
    slice_("a", "dr", [(82, 8082)], [("10.1.0.4", "n1")]),
    nat("a", "pub", "cluster", 80, pool="pub"),
]


def _all_but_tables(c: Compiled) -> tuple[object, ...]:
    return c.allocations, c.firewalls, c.reports, c.problems, c.pools, c.routes


def test_the_tables_asked_for_are_those_of_a_full_compile_and_nothing_else_moves() -> None:
    full = compile(Snapshot.of(DOCS))
    assert [n for n, _ in full.tables] == ["n1", "n2", "n3"]
    assert any(p.code == "PortRemapUnsupported" for p in full.problems)
    for wanted in ((), ("n2",), ("n1", "n3"), ("n9",)):
        part = compile(Snapshot.of(DOCS), tables_for=wanted)
        assert [n for n, _ in part.tables] == [n for n in ("n1", "n2", "n3") if n in wanted]
        for node, table in part.tables:
            assert table == full.table(node)
        assert _all_but_tables(part) == _all_but_tables(full)


def test_an_agent_on_a_node_no_object_names_gets_the_table_every_node_gets() -> None:
    full = compile(Snapshot.of(DOCS), extra_nodes=("n4",))
    mine = compile(Snapshot.of(DOCS), extra_nodes=("n4",), tables_for=("n4", "*"))
    assert [n for n, _ in mine.tables] == ["n4"] and mine.table("n4") == full.table("n4")
    assert mine.table("n4").services, "the Cluster-policy Services are balanced on every node"


@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(snapshots(), st.sampled_from([(), ("n1",), ("node-a",)]))
def test_whatever_the_estate_only_the_tables_depend_on_the_nodes_asked_for(snapshot: Snapshot,
                                                                           wanted: tuple[str, ...]) -> None:
    full, part = compile(snapshot), compile(snapshot, tables_for=wanted)
    assert _all_but_tables(part) == _all_but_tables(full)
    assert dict(part.tables) == {n: t for n, t in full.tables if n in wanted}
