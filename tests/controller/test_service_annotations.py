"""A Service's enum annotations (scheduler, forwarding) and which endpoints serve, through compile."""

from __future__ import annotations

import ipaddress
from typing import Any

from controller.core.compiler import Compiled, compile
from controller.core.problems import ObjectRef
from controller.core.snapshot import Snapshot
from ipvs.model import Forwarding, Scheduler
from tests.controller.estate import pool, service, slice_

REF = ObjectRef("Service", "shop", "web")


def _compiled(annotations: dict[str, str], endpoints: list[dict[str, Any]] | None = None) -> Compiled:
    eps = slice_("shop", "web", [(80, 80)], [("10.1.0.1", "n1")])
    if endpoints is not None:
        eps["endpoints"] = endpoints
    return compile(Snapshot.of([pool("p", "10.96.0.0/28"), service("shop", "web", (80, 80), annotations=annotations),
                                eps]))


def test_a_valid_choice_is_used() -> None:
    c = _compiled({"bmlb.io/scheduler": " wlc ", "bmlb.io/forwarding": "dr"})
    assert not c.problems_of(REF)
    (vs,) = c.table("n1").services
    assert vs.scheduler is Scheduler.WLC and {r.forwarding for r in vs.real_servers} == {Forwarding.DR}


def test_a_wrong_choice_is_named_and_the_default_used() -> None:
    c = _compiled({"bmlb.io/scheduler": "fastest", "bmlb.io/forwarding": "teleport"})
    found = {(p.path, p.code, p.message) for p in c.problems_of(REF)}
    assert found == {
        ("metadata.annotations[bmlb.io/scheduler]", "InvalidScheduler",
         "'fastest' is not an IPVS scheduler (one of rr, wrr, lc, wlc, sh, mh, dh, sed, nq)"),
        ("metadata.annotations[bmlb.io/forwarding]", "InvalidForwarding",
         "'teleport' is not a forwarding method (nat, dr or tun)"),
    }


def test_only_ready_endpoints_that_are_not_terminating_serve() -> None:
    def ep(ip: str, **conditions: bool) -> dict[str, Any]:
        return {"addresses": [ip], "nodeName": "n1", "conditions": conditions}

    c = _compiled({}, [ep("10.1.0.1", ready=True), ep("10.1.0.2"), ep("10.1.0.3", ready=False),
                       ep("10.1.0.4", ready=True, terminating=True), ep("10.1.0.5", serving=True, terminating=True)])
    (vs,) = c.table("n1").services
    assert {r.address for r in vs.real_servers} == {ipaddress.ip_address("10.1.0.1"), ipaddress.ip_address("10.1.0.2")}
