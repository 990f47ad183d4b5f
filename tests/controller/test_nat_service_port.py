"""A NATRule's `spec.service.port` names one Service port by number (1-65535) or by name (a DNS
label, as Service port names are). Anything else is refused where it is written: by the CRD (the
API server and `bmlb validate` read the same schema) and by the compile (a cluster whose CRD is
older): an empty name would otherwise match a Service's unnamed port and publish it, and `true`
would be port 1."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.core import schema
from controller.core.compiler import compile
from controller.core.snapshot import Snapshot
from tests.controller.estate import LB, firewall, nat, pool

NS = "shop"
BASE = [pool("vips", "10.96.0.0/24"), pool("pub", "203.0.113.0/29", zone="untrust", purpose="Public", auto=False),
        firewall()]
WEB = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": NS, "uid": "uid-web"},
       "spec": {**LB, "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80},  # unnamed: the only port
                                ]}}
REFUSED = ["", 0, 70000, -1, True, False, 80.5, 0.0, None, [80], {"port": 80}, "HTTP", "web_1", "-web", "a" * 64]


def outcome(port: Any) -> tuple[list[tuple[str, str]], list[str]]:
    c = compile(Snapshot.of([*BASE, WEB, nat(NS, "pub", "web", port, pool="pub")]))
    return [(p.path, p.code.value) for p in c.problems], [r.name for r in c.firewall("edge").desired.nat_rules]


@pytest.mark.parametrize("port", REFUSED, ids=repr)
def test_a_port_that_is_neither_a_number_nor_a_name_publishes_nothing_and_says_where(port: Any) -> None:
    problems, rules = outcome(port)
    assert rules == []
    assert problems == [("spec.service.port", "Invalid")]
    body = nat(NS, "pub", "web", port, pool="pub")
    assert any(e.path == "spec.service.port" for e in schema.validate(body)), "the CRD refuses it too"


def test_the_unnamed_port_is_published_by_its_number() -> None:
    assert outcome(80) == ([], ["bmlb-nat_shop_pub"])
    assert outcome("http")[1] == []  # a name the Service lacks: PortNotFound, nothing published


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.integers(), st.text(max_size=70), st.booleans(), st.floats(allow_nan=False), st.none()))
def test_compile_and_crd_agree_on_any_port(port: Any) -> None:
    problems, _ = outcome(port)
    refused_by_compile = ("spec.service.port", "Invalid") in problems
    body = nat(NS, "pub", "web", port, pool="pub")
    refused_by_crd = any(e.path == "spec.service.port" for e in schema.validate(body))
    assert refused_by_compile == refused_by_crd
