"""Hypothesis strategies for IPVS tables (small address pools, so keys collide often)."""

from __future__ import annotations

import ipaddress

from hypothesis import strategies as st

from ipvs.model import Forwarding, Protocol, RealServer, Scheduler, Table, VirtualService

vips = st.sampled_from(
    [ipaddress.ip_address(a) for a in ("10.96.0.1", "10.96.0.2", "10.96.0.3", "fd00::10")]
)
rips = st.sampled_from([ipaddress.ip_address(f"10.244.0.{i}") for i in range(1, 6)] + [ipaddress.ip_address("fd01::5")])

real_servers = st.builds(
    RealServer,
    address=rips,
    port=st.sampled_from([8080, 9090]),
    weight=st.integers(0, 3),
    forwarding=st.sampled_from(Forwarding),
)


@st.composite
def services(draw: st.DrawFn) -> VirtualService:
    rs = draw(st.lists(real_servers, max_size=5, unique_by=lambda r: r.key))
    return VirtualService(
        protocol=draw(st.sampled_from(Protocol)),
        address=draw(vips),
        port=draw(st.sampled_from([80, 443])),
        scheduler=draw(st.sampled_from(Scheduler)),
        persistence_timeout=draw(st.sampled_from([0, 0, 300])),
        real_servers=tuple(rs),
    )


tables = st.lists(services(), max_size=6, unique_by=lambda s: s.key).map(lambda ss: Table(tuple(ss)))
