"""Hypothesis strategies for desired firewall states (small name pools, so keys collide often)."""

from __future__ import annotations

from hypothesis import strategies as st

from firewall.model import (
    Action,
    AddressObject,
    DesiredFirewall,
    NatRule,
    Owner,
    SecurityRule,
    ServiceObject,
    ServiceProtocol,
    Tag,
)

OWNERSHIP = "bmlb-managed"
ZONES = ("untrust", "trust", "dmz", "k8s")
owner = Owner("Service", "ns", "web", "uid-1", 1)
descriptions = st.sampled_from(["", "VIP of Service ns/web. owner: <x> & \"y\"", "Managed by bmlb: do not edit."])
ns_tags = st.sampled_from(["bmlb-ns-a", "bmlb-ns-b"])


@st.composite
def desired_states(draw: st.DrawFn) -> DesiredFirewall:
    tags = [Tag(OWNERSHIP, "color24", "Objects carrying this tag are owned by bmlb.")]
    tags += [Tag(t, draw(st.sampled_from([None, "color3"])), f"ns {t}") for t in draw(st.sets(ns_tags))]
    tag_names = [t.name for t in tags]
    addr_names = draw(st.sets(st.sampled_from([f"bmlb-10.0.0.{i}" for i in range(1, 6)]), max_size=4))
    addresses = [AddressObject(n, draw(st.sampled_from([f"{n[5:]}/32", "10.9.9.9/32"])),
                               description=draw(descriptions),
                               tags=(OWNERSHIP, *draw(st.lists(st.sampled_from(tag_names), max_size=2))),
                               owner=owner) for n in sorted(addr_names)]
    svc_names = draw(st.sets(st.sampled_from(["bmlb-tcp-80", "bmlb-tcp-443", "bmlb-udp-53"]), max_size=3))
    services = [ServiceObject(n, ServiceProtocol(n.split("-")[1]), n.split("-")[2], tags=(OWNERSHIP,))
                for n in sorted(svc_names)]
    anames = sorted(addr_names) or ["any"]
    snames = sorted(svc_names) or ["any"]
    rule_names = draw(st.lists(st.sampled_from([f"bmlb-r{i}" for i in range(6)]), unique=True, max_size=5))
    rules = [SecurityRule(
        n, from_zones=tuple(draw(st.sets(st.sampled_from(ZONES), min_size=1, max_size=2))),
        to_zones=("k8s",), destinations=tuple(draw(st.sets(st.sampled_from(anames), min_size=1, max_size=2))),
        services=(draw(st.sampled_from(snames)),), action=draw(st.sampled_from(list(Action))),
        log_start=draw(st.booleans()), description=draw(descriptions), tags=(OWNERSHIP,), owner=owner)
        for n in rule_names]
    nat_names = draw(st.lists(st.sampled_from([f"bmlb-nat-{i}" for i in range(4)]), unique=True, max_size=3))
    nats = [NatRule(n, from_zones=("untrust",), to_zones=("untrust",),
                    destination=(draw(st.sampled_from(anames)),), service=draw(st.sampled_from(snames)),
                    translated_address=draw(st.sampled_from(anames)) if anames != ["any"] else "10.1.1.1",
                    translated_port=draw(st.sampled_from([None, 8080])), tags=(OWNERSHIP,))
            for n in nat_names]
    return DesiredFirewall(OWNERSHIP, tuple(tags), tuple(addresses), tuple(services), tuple(rules), tuple(nats))
