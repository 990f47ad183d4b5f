"""Helpers for sync tests against the simulator: a verified Device, a small desired state."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from firewall.config import SyncConfig
from firewall.device import Credentials, Device, Endpoint, connect
from firewall.model import (
    AddressObject,
    DesiredFirewall,
    NatRule,
    SecurityRule,
    ServiceObject,
    ServiceProtocol,
    Tag,
)
from firewall.sim import Simulator

OWN = "bmlb-managed"
T = (OWN, "bmlb-ns-web")


def endpoint(sim: Simulator, **kw: object) -> Endpoint:
    kw.setdefault("timeout", 5)
    kw.setdefault("retry_delay", 0.01)
    return Endpoint(sim.host, sim.port, ca_bundle=sim.ca_file, panorama=sim.device.system.panorama,
                    **kw)  # type: ignore[arg-type]


def device_for(sim: Simulator, user: str = "admin", **kw: object) -> Device:
    return connect(endpoint(sim, **kw), Credentials(username=user, password=sim.users[user]))


def config(**kw: object) -> SyncConfig:
    kw.setdefault("poll_interval", 0.02)
    kw.setdefault("commit_retry_seconds", 0.05)
    kw.setdefault("commit_timeout", 20)
    return SyncConfig(ownership_tag=OWN, **kw)  # type: ignore[arg-type]


def web(n: int = 1, *, port: int = 443, action_log: bool = False) -> DesiredFirewall:
    """n published Services: VIP and public address, one service object, NAT + 2 security rules each."""
    addrs, rules, nats = [], [], []
    svc = ServiceObject(f"bmlb-tcp-{port}", ServiceProtocol.TCP, str(port), "TCP port", T)
    for i in range(n):
        vip = AddressObject(f"bmlb-10.96.{i // 250}.{i % 250 + 1}", f"10.96.{i // 250}.{i % 250 + 1}/32",
                            description=f"VIP of Service web/s{i} <&>", tags=T)
        pub = AddressObject(f"bmlb-203.0.{113 + i // 250}.{i % 250 + 1}",
                            f"203.0.{113 + i // 250}.{i % 250 + 1}/32", description=f"Public s{i}", tags=T)
        addrs += [vip, pub]
        nats.append(NatRule(f"bmlb-nat-web-s{i}", ("untrust",), ("untrust",), (pub.name,), svc.name, vip.name,
                            8443, description=f"Publishes s{i}", tags=T))
        rules.append(SecurityRule(f"bmlb-web-s{i}-pub", ("untrust",), ("k8s",), destinations=(pub.name,),
                                  services=(svc.name,), log_start=action_log, tags=T))
        rules.append(SecurityRule(f"bmlb-web-s{i}-vip", ("trust", "untrust"), ("k8s",), destinations=(vip.name,),
                                  services=(svc.name,), tags=T))
    return DesiredFirewall(OWN, (Tag(OWN, "color24", "owned by bmlb"), Tag("bmlb-ns-web", None, "ns web")),
                           tuple(sorted(addrs, key=lambda a: a.name)), (svc,), tuple(rules), tuple(nats))


def replace_rule(state: DesiredFirewall, name: str, **changes: object) -> DesiredFirewall:
    return dataclasses.replace(state, security_rules=tuple(
        dataclasses.replace(r, **changes) if r.name == name else r for r in state.security_rules))  # type: ignore[arg-type]


@pytest.fixture
def fw_device(panos_sim: Simulator) -> Device:
    return device_for(panos_sim)


DeviceFactory = Callable[..., Device]
