"""Full lifecycle against the real API server and the PAN-OS simulator over HTTPS."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET

from controller.cli.localcluster import Cluster, wait_for
from controller.core import naming
from firewall.sim import Simulator
from tests.controller.conftest import dump_log
from tests.controller.estate import nat, policy, pool, service, slice_

VSYS = "./devices/entry/vsys/entry[@name='vsys1']"


def sec_name(ns: str, rule: str, published: bool) -> str:
    return naming.name("security_rule", namespace=ns, policy="web", rule=rule, service="web", published=published)


def running(sim: Simulator) -> ET.Element:
    return ET.fromstring(sim.running_xml())


def nat_rules(sim: Simulator) -> dict[str, ET.Element]:
    return {e.get("name"): e for e in running(sim).findall(f"{VSYS}/rulebase/nat/rules/entry")}


def sec_rules(sim: Simulator) -> list[str]:
    return [e.get("name") for e in running(sim).findall(f"{VSYS}/rulebase/security/rules/entry")]


def translated(sim: Simulator, name: str) -> str | None:
    e = nat_rules(sim).get(name)
    return None if e is None else e.findtext("destination-translation/translated-address")


def ready(cluster: Cluster, kind: str, name: str, ns: str) -> dict | None:
    c = cluster.condition(kind, name, ns, "Ready")
    return c if c and c["status"] == "True" else None


def estate(cluster: Cluster, ns: str, firewall_object) -> None:
    firewall_object(commit={"debounceSeconds": 0.3})
    cluster.apply(pool(f"{ns}-vips", "10.80.0.0/28", namespaces=[ns]))
    cluster.apply(pool(f"{ns}-pub", "198.51.100.0/29", zone="untrust", purpose="Public", auto=False,
                       namespaces=[ns]))
    cluster.apply(service(ns, "web", (443, 8443)))
    cluster.apply(slice_(ns, "web", [(443, 8443)], [("10.244.1.1", "n1")]))
    cluster.apply(nat(ns, "web", "web", 443, pool=f"{ns}-pub"))
    cluster.apply(policy(ns, "web", ["web"], [{"name": "inet", "from": {"zones": ["untrust"]}},
                                              {"name": "office", "from": {"zones": ["trust"]}}]))


def test_lifecycle(cluster: Cluster, ns: str, sim: Simulator, firewall_object, run_controller) -> None:
    estate(cluster, ns, firewall_object)
    proc = run_controller()
    wait_for("NATRule Ready", lambda: ready(cluster, "NATRule", "web", ns), timeout=60)
    wait_for("SecurityPolicy Ready", lambda: ready(cluster, "SecurityPolicy", "web", ns), timeout=30)
    rule = naming.name("nat_rule", namespace=ns, name="web")
    # Ready can come first from a compile that did not see the Service yet (a warning, not an error)
    wait_for("the rules on the device", lambda: translated(sim, rule) == "bmlb-10.80.0.0" and
             {sec_name(ns, "inet", True), sec_name(ns, "office", False)} <= set(sec_rules(sim)), timeout=30)
    assert translated(sim, rule) == "bmlb-10.80.0.0", dump_log(proc)
    st = cluster.get("NATRule", "web", ns)["status"]
    assert st["public"] == "198.51.100.0:443" and st["vip"] == "10.80.0.0:443"
    assert {sec_name(ns, "inet", True), sec_name(ns, "office", False)} <= set(sec_rules(sim))
    fw = cluster.get("Firewall", "edge")
    assert cluster.condition("Firewall", "edge", None, "FirewallSynced")["status"] == "True", fw

    # Idempotent: nothing more happens while nothing changes.
    sim.wait_for_jobs()
    before = sim.stats_snapshot()
    time.sleep(2.0)
    after = sim.stats_snapshot()
    assert after["commits"] == before["commits"] and after["writes"] == before["writes"]

    # The VIP changes: the NAT rule follows, the public address stays.
    cluster.apply(service(ns, "web", (443, 8443), annotations={"bmlb.io/ip": "10.80.0.9"}))
    wait_for("NAT follows the VIP", lambda: translated(sim, rule) == "bmlb-10.80.0.9", timeout=30)
    assert cluster.get("NATRule", "web", ns)["status"]["public"] == "198.51.100.0:443"

    # A NATRule for another namespace's Service is refused with a condition; nothing reaches the firewall.
    cluster.apply(nat(ns, "steal", "web", 443, pool=f"{ns}-pub", namespace="kube-system"))
    cond = wait_for("refused", lambda: (c := cluster.condition("NATRule", "steal", ns, "Accepted"))
                    and c["status"] == "False" and c)
    assert cond["reason"] == "ForeignNamespace" and "spec.service.namespace" in cond["message"]
    assert naming.name("nat_rule", namespace=ns, name="steal") not in nat_rules(sim)

    # Deleting the NATRule removes exactly its rule (and the published rule) and releases it.
    cluster.delete("NATRule", "web", ns)
    wait_for("NATRule gone", lambda: cluster.gone("NATRule", "web", ns), timeout=90)
    assert rule not in nat_rules(sim)
    assert sec_name(ns, "inet", True) not in sec_rules(sim)
    assert sec_name(ns, "office", False) in sec_rules(sim)


def test_burst_of_50_changes_makes_one_commit(cluster: Cluster, ns: str, sim: Simulator, firewall_object,
                                              run_controller) -> None:
    firewall_object(commit={"debounceSeconds": 3})
    cluster.apply(pool(f"{ns}-vips", "10.81.0.0/24", namespaces=[ns]))
    proc = run_controller("--debounce", "3")
    wait_for("first sync", lambda: cluster.condition("Firewall", "edge", None, "FirewallSynced"), timeout=30)
    sim.wait_for_jobs()
    before = sim.stats_snapshot()["commits"]
    for i in range(50):
        cluster.apply(service(ns, f"s{i}", (80, 80)))
        cluster.apply(policy(ns, f"p{i}", [f"s{i}"], [{"name": "r", "from": {"zones": ["trust"]}}]))
    wait_for("all 50 policies Ready", lambda: all(ready(cluster, "SecurityPolicy", f"p{i}", ns) for i in range(50)),
             timeout=90, interval=1.0)
    sim.wait_for_jobs()
    assert sim.stats_snapshot()["commits"] - before == 1, dump_log(proc)
    names = {r for i in range(50) for r in cluster.get("SecurityPolicy", f"p{i}", ns)["status"]["rules"]}
    assert len(names) == 50 and names <= set(sec_rules(sim))
