"""The IPVS oracle on hand-written manifests: VIPs from status, ready endpoints only, Local keeps
this node's, annotations and session affinity become scheduler and persistence."""

from __future__ import annotations

from tests.controller.estate import service, slice_
from tests.faults import ipvs_oracle


def test_expected_table() -> None:
    web = service("ns", "web", (443, 8443), ingress=["10.80.0.2"], annotations={"bmlb.io/scheduler": "wlc"},
                  sessionAffinity="ClientIP")
    local = service("ns", "local", (80, 8080), ingress=["10.80.0.3"], externalTrafficPolicy="Local")
    pending = service("ns", "pending", (81, 81))  # no VIP recorded yet: not in the table
    eps = slice_("ns", "web", [(443, 8443)], [("10.244.1.1", "n1"), ("10.244.2.1", "n2"), ("10.244.3.1", "n3")])
    eps["endpoints"][1]["conditions"] = {"ready": False}
    eps["endpoints"][2]["conditions"] = {"ready": True, "terminating": True}
    slices = [eps, slice_("ns", "local", [(80, 8080)], [("10.244.1.2", "n1"), ("10.244.2.2", "n2")])]
    assert ipvs_oracle.expected_table([web, local, pending], slices, "n1") == {
        "tcp 10.80.0.2:443": ("wlc", 10800, ("10.244.1.1:8443 w1 nat",)),
        "tcp 10.80.0.3:80": ("rr", 0, ("10.244.1.2:8080 w1 nat",)),
    }
    assert ipvs_oracle.expected_table([local], slices, "n3") == {"tcp 10.80.0.3:80": ("rr", 0, ())}


def test_expected_masquerade() -> None:
    cluster = service("ns", "web", (443, 8443), ingress=["10.80.0.2"])
    local = service("ns", "local", (80, 8080), ingress=["10.80.0.3"], externalTrafficPolicy="Local")
    dr = service("ns", "dr", (80, 80), ingress=["10.80.0.4"], annotations={"bmlb.io/forwarding": "dr"})
    pending = service("ns", "pending", (81, 81))
    assert ipvs_oracle.expected_masquerade([cluster, local, dr, pending]) == {"tcp 10.80.0.2:443"}
