"""Other administrators on the same firewall: their commits, locks and pending changes, a bad
object the device refuses, rules placed among ours, hand edits of ours (drift)."""

from __future__ import annotations

import ipaddress
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable

import pytest

from controller.cli.localcluster import wait_for
from controller.core import naming
from tests.controller.estate import policy
from tests.faults import flows, oracle
from tests.faults.conftest import FaultEnv
from tests.faults.harness import NAT, SEC, VSYS, firewall_reason, publish

ALICE_ADDR = f"{VSYS}/address/entry[@name='alice-new']"


def _managed_rules(fx: FaultEnv) -> list[str]:
    root = ET.fromstring(fx.sim.running_xml())
    return [e.get("name") or "" for e in root.iter("entry")
            if e.find("tag/member") is not None and e.findtext("tag/member") == "bmlb-managed"
            and e.find("from") is not None and e.find("action") is not None]


def published(fx: FaultEnv, ip: str, port: int) -> bool:
    """Whether any of bmlb's NAT rules translates ip:port (tests/faults/oracle.py's device flows)."""
    flows = oracle.device_flows(fx.sim.running_xml(), "bmlb-managed").nat
    return any(f[3] == ip and f[4].endswith(f"/{port}") for f in flows)


def _events(fx: FaultEnv, name: str, reason: str) -> list[str]:
    return [m for _, r, m in fx.cluster.events(fx.ns, name) if r == reason]


def test_device_refuses_one_bad_object(fx: FaultEnv) -> None:
    """A rule naming a zone the firewall lacks is refused; the rest converge; the CR names it."""
    fx.start()
    fx.cluster.apply(policy(fx.ns, "bad", ["metrics"], [{"name": "r", "from": {"zones": ["nowhere"]}}]))
    publish(fx, "late", 80)
    cond = wait_for("bad named", lambda: (c := fx.cluster.condition("SecurityPolicy", "bad", fx.ns,
                                                                      "FirewallSynced"))
                    and c["status"] == "False" and c, timeout=60)
    bad = naming.name("security_rule", namespace=fx.ns, policy="bad", rule="r", service="metrics", published=False)
    assert cond["reason"] == "DeviceRefused" and bad in cond["message"], cond
    wait_for("the rest converged", lambda: fx.cluster.condition("NATRule", "late", fx.ns, "FirewallSynced")
             and naming.name("nat_rule", namespace=fx.ns, name="late") in fx.sim.running_xml(), timeout=60)
    fx.cluster.apply(policy(fx.ns, "bad", ["metrics"], [{"name": "r", "from": {"zones": ["dmz"]}}]))
    fx.finish()


def test_commit_fail_names_the_object_then_converges(fx: FaultEnv) -> None:
    """The rule a failed commit names is set aside (the rest committed); changed, it converges."""
    fx.start()
    fx.sim.faults.add("refuse_commit", pattern=re.escape(f"(NATRule {fx.ns}/late)"), times=1)  # its description
    publish(fx, "late", 80)
    wait_for("DeviceRefused event", lambda: _events(fx, "late", "DeviceRefused"), timeout=60)
    rule = (fx.cluster.get("NATRule", "late", fx.ns).get("status") or {}).get("rule") or ""
    assert rule and all(rule in m for m in _events(fx, "late", "DeviceRefused"))
    publish(fx, "late", 81)  # a set-aside object is tried again when it changes (or after a while)
    fx.finish()


def test_commit_in_progress_from_another_admin(fx: FaultEnv) -> None:
    """alice's commit runs while bmlb commits: bmlb waits and commits only its own changes."""
    fx.start()
    fx.sim.device.commit_seconds = 1.0
    alice = fx.sim.as_admin("alice")
    alice.set(f"{VSYS}/address", "<entry name='alice-new'><ip-netmask>192.168.50.9/32</ip-netmask></entry>")
    alice.commit(partial=True, wait=False)
    fx.sim.faults.add("commit_in_progress", times=1)
    publish(fx, "late", 80)
    fx.sim.wait_for_jobs()
    fx.sim.device.commit_seconds = 0.05
    fx.inv.rebase_foreign()  # alice's own committed address
    fx.finish()


@pytest.mark.parametrize("kind", ["config_lock", "commit_lock"])
def test_another_admins_lock(fx: FaultEnv, kind: str) -> None:
    fx.start()
    fx.sim.faults.add(kind, admin="alice")
    publish(fx, "late", 80)
    wait_for("Locked reported", lambda: firewall_reason(fx.cluster) == "Locked", timeout=60)
    fx.hold("nothing published while locked", lambda: not published(fx, "198.51.100.2", 80))
    fx.sim.faults.clear()
    fx.finish()


def test_another_admins_pending_changes_are_never_committed(fx: FaultEnv) -> None:
    fx.start()
    alice = fx.sim.as_admin("alice")
    alice.set(f"{VSYS}/address", "<entry name='alice-new'><ip-netmask>192.168.50.9/32</ip-netmask></entry>")
    fx.inv.rebase_foreign()
    since = len(fx.replies)
    publish(fx, "late", 80)
    wait_for("ForeignPendingChanges", lambda: firewall_reason(fx.cluster) == "ForeignPendingChanges", timeout=60)
    assert fx.state_fault_fired({"kind": "pending_changes", "admin": "alice"}, since), "bmlb never saw alice's"
    fx.hold("alice's change pending, uncommitted, nothing of bmlb's written",
            lambda: "alice" in fx.sim.pending_admins() and "alice-new" not in fx.sim.running_xml()
            and "admin" not in fx.sim.pending_admins() and not published(fx, "198.51.100.2", 80))
    alice.delete(ALICE_ADDR)  # alice withdraws her change and commits: running as before
    alice.commit(partial=True)
    fx.inv.rebase_foreign("candidate")  # alice's own withdrawal
    fx.finish()


def test_pending_changes_with_commit_foreign_pending(fx: FaultEnv) -> None:
    """Allowed to proceed: a partial commit of bmlb's changes only; alice's stay pending."""
    fx.start(commit={"commitForeignPending": True})
    alice = fx.sim.as_admin("alice")
    alice.set(f"{VSYS}/address", "<entry name='alice-new'><ip-netmask>192.168.50.9/32</ip-netmask></entry>")
    fx.inv.rebase_foreign()
    publish(fx, "late", 80)
    fx.converge()
    assert "alice" in fx.sim.pending_admins() and "alice-new" not in fx.sim.running_xml()
    fx.finish()


def test_foreign_rule_between_managed_rules(fx: FaultEnv) -> None:
    fx.start()
    managed = [r for r in _managed_rules(fx) if not r.startswith("bmlb-nat_")]
    assert len(managed) >= 2, managed
    alice = fx.sim.as_admin("alice")
    alice.set(SEC, "<entry name='corp-middle'><from><member>trust</member></from><to><member>k8s</member></to>"
                   "<source><member>any</member></source><destination><member>any</member></destination>"
                   "<application><member>ssh</member></application><service><member>application-default</member>"
                   "</service><action>deny</action></entry>")
    alice.move(f"{SEC}/entry[@name='corp-middle']", "after", managed[0])
    alice.commit(partial=True)
    fx.inv.baseline()
    publish(fx, "late", 80)
    fx.converge()
    fx.cluster.apply(policy(fx.ns, "edge", ["web", "api", "late"], [{"name": "inet", "from": {"zones": ["untrust"]}},
                                                                  {"name": "office", "from": {"zones": ["trust"]}}]))
    fx.finish()


@pytest.mark.parametrize("mode", ["report", "enforce"])
def test_managed_rules_edited_and_deleted_by_hand(fx: FaultEnv, mode: str) -> None:
    """report: the drift is named in the Firewall's status and left alone until enforce is set;
    enforce: restored at the next resync."""
    fx.start("--resync", "2", drift=mode)
    sec = fx.cluster.get("SecurityPolicy", "edge", fx.ns)["status"]["rules"][0]
    nat = fx.cluster.get("NATRule", "api", fx.ns)["status"]["rule"]
    original = _rule_attributes(fx, sec)
    assert original and original["action"] == ("allow",)
    alice = fx.sim.as_admin("alice")
    alice.edit(f"{SEC}/entry[@name='{sec}']/action", "<action>deny</action>")
    alice.delete(f"{NAT}/entry[@name='{nat}']")
    alice.commit(partial=True)
    if mode == "report":
        wait_for("drift reported", lambda: (d := fx.cluster.get("Firewall", "edge").get("status", {}).get("drift"))
                 and any(sec in x for x in d) and any(nat in x for x in d) and d, timeout=30)
        fx.hold("the drift left alone (report)", lambda: f"name=\"{nat}\"" not in fx.sim.running_xml()
                and _rule_attributes(fx, sec)["action"] == ("deny",))
        fx.cluster.custom.patch_cluster_custom_object("bmlb.io", "v1alpha1", "firewalls", "edge",
                                                      {"spec": {"drift": "enforce"}})
    wait_for("restored", lambda: f"name=\"{nat}\"" in fx.sim.running_xml(), timeout=30)
    if mode == "enforce":  # the other admin's edit reverted, every attribute as it was
        wait_for("edited rule reverted", lambda: _rule_attributes(fx, sec) == original, timeout=30)
    fx.finish()


def _rule_attributes(fx: FaultEnv, name: str) -> dict[str, tuple[str, ...]]:
    """A security rule's attributes in the running config (member lists sorted; uuid left out)."""
    root = ET.fromstring(fx.sim.running_xml())
    rule = next((e for e in root.iter("entry") if e.get("name") == name and e.find("action") is not None), None)
    if rule is None:
        return {}
    return {child.tag: tuple(sorted((m.text or "").strip() for m in child.findall("member")))
            or ((child.text or "").strip(),) for child in rule}


def _zone_of(fx: FaultEnv) -> Callable[[str], str]:
    """The zone an address routes to: a pool's zone (the estate's pools), the office 192.168/16
    in trust, everything else (the internet) in untrust."""
    pools = [(p["spec"]["addresses"], p["spec"]["zone"])
             for p in fx.cluster.custom.list_cluster_custom_object("bmlb.io", "v1alpha1", "vippools")["items"]
             if p["metadata"]["name"].startswith(fx.ns)]

    def zone_of(ip: str) -> str:
        for addresses, zone in pools:
            if any(ipaddress.ip_address(ip) in ipaddress.ip_network(a) for a in addresses):
                return zone
        return "trust" if ip.startswith("192.168.") else "untrust"
    return zone_of


def test_rules_above_the_foreign_deny_all(fx: FaultEnv) -> None:
    """placement top: bmlb's block sits above alice's deny-all, so internet traffic to a published
    Service is allowed and translated to its VIP, and nothing else gets through (flow evaluation
    over the running config, tests/faults/flows.py). With the default placement (bottom, every
    other scenario) the same packet meets the deny-all first: tests/faults/test_flows.py."""
    fx.start(placement={"position": "top"})
    ingress = {n: wait_for(f"{n}'s VIP", lambda n=n: fx.cluster.ingress(n, fx.ns))[0]  # type: ignore[misc]
               for n in ("web", "api", "metrics")}
    web_pub = wait_for("web's public address", lambda: (fx.cluster.get("NATRule", "web", fx.ns).get("status") or {})
                       .get("public", "").rpartition(":")[0])
    zone_of, inet, office = _zone_of(fx), "203.0.113.9", "192.168.1.10"

    def verdict(src_zone: str, src: str, dst: str, port: int) -> tuple[str, str, int]:
        v = flows.evaluate(fx.sim.running_xml(), flows.Packet(src_zone, src, dst, port), zone_of)
        return v.action, v.destination, v.port

    assert verdict("untrust", inet, web_pub, 443) == ("allow", ingress["web"], 443)
    assert verdict("untrust", inet, "198.51.100.7", 8080) == ("allow", ingress["api"], 8080)
    assert verdict("trust", office, ingress["web"], 443) == ("allow", ingress["web"], 443)  # office, no NAT
    denied = [("untrust", inet, "198.51.100.7", 22), ("untrust", inet, web_pub, 8080),  # unpublished ports
              ("untrust", inet, ingress["web"], 443),  # the VIP itself from the internet: only via NAT
              ("untrust", inet, ingress["metrics"], 9100), ("trust", office, ingress["metrics"], 9100)]  # no policy
    assert [verdict(*d)[0] for d in denied] == ["deny"] * len(denied)
    publish(fx, "late", 80)  # published, but no SecurityPolicy selects it: translated, still denied
    fx.converge()
    assert verdict("untrust", inet, "198.51.100.2", 80) == ("deny", fx.cluster.ingress("late", fx.ns)[0], 80)
    # placement switched to bottom: the whole block moves below the deny-all, not only its last rule
    fx.cluster.custom.patch_cluster_custom_object("bmlb.io", "v1alpha1", "firewalls", "edge",
                                                  {"spec": {"placement": {"position": "bottom"}}})
    wait_for("every bmlb rule below every foreign rule", lambda: _block_at_bottom(fx), timeout=30)
    assert verdict("untrust", inet, web_pub, 443)[0] == "deny"  # alice's deny-all now comes first
    fx.finish()


def _block_at_bottom(fx: FaultEnv) -> bool:
    root = ET.fromstring(fx.sim.running_xml())
    rules = root.find(f".{SEC.removeprefix('/config')}")
    assert rules is not None
    owned = [e.findtext("tag/member") == "bmlb-managed" for e in rules.findall("entry")]
    return bool(owned) and owned == sorted(owned)  # False (foreign) first, then True (ours)
