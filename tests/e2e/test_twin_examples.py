"""The twin over a running config the PAN-OS simulator really holds after bmlb synced examples/ to
it. bmlb only produces the input here; the expectations are written by hand from the manifests
(examples/00-pools.yaml, 10-shop.yaml, 20-payments.yaml) and PAN-OS semantics."""

from __future__ import annotations

import dataclasses
import ipaddress
from pathlib import Path

import pytest

from controller.cli.changes import sync_config
from controller.cli.manifest_files import load as load_manifests
from controller.core.compiler import compile
from controller.core.snapshot import Snapshot
from firewall import sync
from firewall.device import Credentials, Endpoint, connect
from firewall.sim import Simulator
from tests.e2e.twin import Action, Device, Packet, evaluate, load, ruleset

EXAMPLES = Path(__file__).parents[2] / "examples"
INTERNET = "198.51.100.7"
PUBLIC_WEB = "203.0.113.16"  # NATRule shop/web-https (pool "public", first address)
SHOP_VIP = "10.96.100.2"  # shop/web and shop/api share it
DNS_VIP = "10.96.100.5"  # payments/dns


@pytest.fixture(scope="module")
def device() -> Device:
    docs, errors = load_manifests([EXAMPLES / f for f in ("00-pools.yaml", "10-shop.yaml", "20-payments.yaml")])
    assert not errors
    (target,) = [t for t in compile(Snapshot.of(d.body for d in docs)).firewalls if t.spec is not None]
    with Simulator.start(commit_seconds=0.05) as sim:
        dev = connect(Endpoint(sim.host, sim.port, ca_bundle=sim.ca_file), Credentials(api_key=sim.api_key()))
        config = dataclasses.replace(sync_config(target.spec, target.desired.ownership_tag), admin="admin")
        assert sync.sync(target.desired, dev, config=config).ok
        sim.wait_for_jobs()
        running = sim.running_xml()
    return load(running)


def test_internet_reaches_the_published_https_port_through_nat(device: Device) -> None:
    v = evaluate(device, Packet("untrust", INTERNET, PUBLIC_WEB, "tcp", 443))

    assert v.action is Action.ALLOW
    assert (v.translated_dst, v.translated_port) == (ipaddress.ip_address(SHOP_VIP), None)
    assert (v.nat_zone, v.egress_zone) == ("untrust", "k8s")
    assert v.next_hops and all(h.interface == "ethernet1/4" for h in v.next_hops)


def test_unpublished_port_is_not_translated_and_never_enters_k8s(device: Device) -> None:
    for port in (80, 9443):
        v = evaluate(device, Packet("untrust", INTERNET, PUBLIC_WEB, "tcp", port))
        assert (v.nat_rule, v.egress_zone) == (None, "untrust"), port


def test_internet_cannot_reach_a_vip_directly(device: Device) -> None:
    v = evaluate(device, Packet("untrust", INTERNET, SHOP_VIP, "tcp", 443))

    assert (v.action, v.egress_zone) == (Action.DENY, "k8s")


def test_office_reaches_the_vip_only_from_its_addresses(device: Device) -> None:
    # SecurityPolicy shop/frontend rule "office": from trust, 192.0.2.0/24, every port of the Services
    assert evaluate(device, Packet("trust", "192.0.2.9", SHOP_VIP, "tcp", 9443)).action is Action.ALLOW
    assert evaluate(device, Packet("trust", "192.0.2.9", SHOP_VIP, "tcp", 80)).action is Action.ALLOW
    assert evaluate(device, Packet("trust", "192.0.2.9", SHOP_VIP, "tcp", 22)).action is not Action.ALLOW
    assert evaluate(device, Packet("trust", "10.0.0.9", SHOP_VIP, "tcp", 9443)).action is not Action.ALLOW


def test_payments_deny_rule_blocks_all_but_the_app_servers(device: Device) -> None:
    # SecurityPolicy payments/internal-only: app-servers (trust, 10.20.0.0/16) allowed, then deny-rest
    assert evaluate(device, Packet("trust", "10.20.1.1", DNS_VIP, "udp", 53)).action is Action.ALLOW
    blocked = evaluate(device, Packet("dmz", "192.168.50.9", DNS_VIP, "udp", 53))
    assert blocked.action is Action.DENY and blocked.rule != "interzone-default"


def test_the_ruleset_renders(device: Device) -> None:
    script = ruleset(device, {"ethernet1/1": "u", "ethernet1/2": "t", "ethernet1/3": "d", "ethernet1/4": "k"})

    assert "dnat ip to 10.96.100.2" in script and device.notes == ()
