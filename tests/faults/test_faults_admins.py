"""Other administrators on the same firewall: their commits, locks and pending changes, a bad
object the device refuses, rules placed among ours, hand edits of ours (drift)."""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET

import pytest

from controller import naming
from controller.localcluster import wait_for
from tests.controller.estate import policy
from tests.faults.conftest import FaultEnv
from tests.faults.harness import NAT, SEC, VSYS, firewall_reason, publish

ALICE_ADDR = f"{VSYS}/address/entry[@name='alice-new']"


def _managed_rules(fx: FaultEnv) -> list[str]:
    root = ET.fromstring(fx.sim.running_xml())
    return [e.get("name") or "" for e in root.iter("entry")
            if e.find("tag/member") is not None and e.findtext("tag/member") == "bmlb-managed"
            and e.find("from") is not None and e.find("action") is not None]


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
    time.sleep(2)
    assert naming.name("nat_rule", namespace=fx.ns, name="late") not in fx.sim.running_xml()
    fx.sim.faults.clear()
    fx.finish()


def test_another_admins_pending_changes_are_never_committed(fx: FaultEnv) -> None:
    fx.start()
    alice = fx.sim.as_admin("alice")
    alice.set(f"{VSYS}/address", "<entry name='alice-new'><ip-netmask>192.168.50.9/32</ip-netmask></entry>")
    fx.inv.rebase_foreign()
    publish(fx, "late", 80)
    wait_for("ForeignPendingChanges", lambda: firewall_reason(fx.cluster) == "ForeignPendingChanges", timeout=60)
    time.sleep(2)
    assert "alice" in fx.sim.pending_admins() and "alice-new" not in fx.sim.running_xml()
    assert "admin" not in fx.sim.pending_admins()  # nothing written while refusing
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
        time.sleep(2.5)
        assert f"name=\"{nat}\"" not in fx.sim.running_xml()
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
