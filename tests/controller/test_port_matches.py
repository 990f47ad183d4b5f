"""A SecurityPolicy port entry that matches no port of any Service the policy selects opens
nothing: it is an error (PortMatchesNothing) on that entry alone, in `bmlb validate`, the status
and a Warning Event; the rest of the policy stays. A Service (matched or one of several named)
that lacks a port another selected Service has is normal and says nothing."""

from __future__ import annotations

from typing import Any

from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.cli import main
from controller.core import status
from controller.core.compiler import Compiled, compile
from controller.core.conditions import FirewallOutcome
from controller.core.problems import ObjectRef, Problem
from controller.core.snapshot import Snapshot, ref_of
from tests.controller.estate import LB, firewall, nat, pool

NS = "shop"
POLICY = ObjectRef("SecurityPolicy", NS, "guard")
BASE = [pool("vips", "10.96.0.0/24"), pool("pub", "203.0.113.0/29", zone="untrust", purpose="Public", auto=False),
        firewall()]


def svc(name: str, *ports: tuple[str, int, str], labels: dict[str, str] | None = None) -> dict[str, Any]:
    """A Service with ports (name, number, protocol)."""
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": NS, "uid": f"uid-{name}", "labels": labels or {}},
            "spec": {**LB, "ports": [{"name": n, "port": p, "protocol": proto, "targetPort": p}
                                     for n, p, proto in ports]}}


def guard(rules: list[dict[str, Any]], *, names: list[str] | None = None,
          labels: dict[str, str] | None = None) -> dict[str, Any]:
    services: dict[str, Any] = {"names": names or []}
    if labels:
        services["selector"] = {"matchLabels": labels}
    return {"apiVersion": "bmlb.io/v1alpha1", "kind": "SecurityPolicy",
            "metadata": {"name": "guard", "namespace": NS, "uid": "uid-guard", "generation": 1},
            "spec": {"services": services, "rules": rules}}


def rule(name: str, *ports: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "from": {"zones": ["trust"]}, "ports": list(ports)}


def run(*objs: dict[str, Any]) -> Compiled:
    return compile(Snapshot.of([*BASE, *objs]))


def of_code(c: Compiled, code: str) -> list[Problem]:
    return [p for p in c.problems if p.code == code]


def opened(c: Compiled) -> dict[str, set[str]]:
    """Firewall rule name -> the service objects it allows, as the device would get them."""
    return {r.name: set(r.services) for r in c.firewall("edge").desired.security_rules}


DNS = svc("dns", ("dns", 53, "UDP"), labels={"app": "dns"})


def test_a_name_of_the_wrong_protocol_is_an_error_with_the_protocol_hint() -> None:
    # The e2e lab's case: the policy matches the Service by label, the rule names `dns` (TCP by
    # default), the Service's `dns` is UDP. Before: 0 firewall rules and Ready, no word of it.
    c = run(DNS, guard([rule("dns", {"name": "dns"})], labels={"app": "dns"}))
    (p,) = c.problems_of(POLICY)
    assert (p.code, p.path, p.is_error) == ("PortMatchesNothing", "spec.rules[0].ports[0]", True)
    assert p.message == ("port 'dns' (TCP) matches no port of Service shop/dns; it has dns (53/UDP): "
                         "set protocol: UDP")
    assert opened(c) == {}
    fixed = run(DNS, guard([rule("dns", {"name": "dns", "protocol": "UDP"})], labels={"app": "dns"}))
    assert fixed.problems_of(POLICY) == ()
    assert opened(fixed) == {"bmlb_shop_guard_dns_dns": {"bmlb-udp-53"}}


def test_the_rest_of_the_policy_stays_and_only_the_entry_is_named() -> None:
    web = svc("web", ("http", 80, "TCP"), ("https", 443, "TCP"), labels={"app": "web"})
    c = run(web, guard([rule("web", {"name": "http"}, {"port": 8080}, {"name": "https"}),
                        {"name": "all", "from": {"zones": ["trust"]}}], labels={"app": "web"}))
    (p,) = c.problems_of(POLICY)
    assert (p.code, p.path) == ("PortMatchesNothing", "spec.rules[0].ports[1]")
    assert p.message == ("port 8080 (TCP) matches no port of Service shop/web; it has http (80/TCP), "
                         "https (443/TCP)")
    assert opened(c) == {"bmlb_shop_guard_web_web": {"bmlb-tcp-80", "bmlb-tcp-443"},
                         "bmlb_shop_guard_all_web": {"bmlb-tcp-80", "bmlb-tcp-443"}}


def test_a_port_some_selected_service_has_is_no_problem_named_or_matched() -> None:
    web = svc("web", ("http", 80, "TCP"), labels={"tier": "front"})
    rules = [rule("r", {"name": "http"}, {"name": "dns", "protocol": "UDP"})]
    for pol in (guard(rules, names=["web", "dns"]), guard(rules, labels={"tier": "front"}, names=["dns"])):
        c = run(web, DNS, pol)
        assert c.problems_of(POLICY) == (), "each Service has one of the two ports: both entries open something"
        assert opened(c) == {"bmlb_shop_guard_r_web": {"bmlb-tcp-80"}, "bmlb_shop_guard_r_dns": {"bmlb-udp-53"}}


def test_a_port_no_selected_service_has_names_them_all() -> None:
    web = svc("web", ("http", 80, "TCP"), labels={"tier": "front"})
    api = svc("api", ("", 53, "TCP"), labels={"tier": "front"})
    c = run(web, api, DNS, guard([rule("r", {"port": 53, "protocol": "SCTP"}, {"port": 9})],
                                 labels={"tier": "front"}, names=["dns"]))
    by_path = {p.path: p for p in c.problems_of(POLICY)}
    assert set(by_path) == {"spec.rules[0].ports[0]", "spec.rules[0].ports[1]"}
    assert by_path["spec.rules[0].ports[0]"].message == (
        "port 53 (SCTP) matches no port of any of the 3 Services it applies to (shop/api, shop/dns, shop/web); "
        "shop/api has 53/TCP, shop/dns has dns (53/UDP): set protocol: TCP or UDP")
    assert by_path["spec.rules[0].ports[1]"].message == (
        "port 9 (TCP) matches no port of any of the 3 Services it applies to (shop/api, shop/dns, shop/web); "
        "they have 53/TCP, dns (53/UDP), http (80/TCP)")
    assert opened(c) == {}


def test_a_policy_that_selects_nothing_only_warns_that() -> None:
    c = run(DNS, guard([rule("r", {"name": "dns"})], labels={"app": "nothing"}))
    assert [(p.code, p.path, p.is_error) for p in c.problems_of(POLICY)] == [
        ("SelectsNothing", "spec.services", False)], "a Service may come later: no port entry is judged"


def test_a_natrule_port_of_the_wrong_protocol_says_so_in_the_same_words() -> None:
    c = run(DNS, nat(NS, "dns", "dns", "dns", pool="pub"))
    (p,) = c.problems_of(ObjectRef("NATRule", NS, "dns"))
    assert (p.code, p.path, p.is_error) == ("PortNotFound", "spec.service.port", True)
    assert p.message == ("port 'dns' (TCP) matches no port of Service shop/dns; it has dns (53/UDP): "
                         "set protocol: UDP")
    both = svc("dns", ("dns", 53, "UDP"), ("", 53, "TCP"))
    c = run(both, nat(NS, "dns", "dns", 53, pool="pub", protocol="SCTP"))
    (p,) = c.problems_of(ObjectRef("NATRule", NS, "dns"))
    assert p.message == ("port 53 (SCTP) matches no port of Service shop/dns; it has dns (53/UDP), 53/TCP: "
                         "set protocol: TCP or UDP")


def test_status_says_not_ready_and_a_warning_event_names_the_entry() -> None:
    objs = [*BASE, DNS, guard([rule("dns", {"name": "dns"}), rule("any")], labels={"app": "dns"})]
    snap = Snapshot.of(objs)
    bodies = {ref_of(b): b for b in snap.policies}
    (u,) = status.desired(compile(snap), bodies, {"edge": FirewallOutcome(True, "Synced", "in sync")},
                          now="2026-01-01T00:00:00Z")
    conds = {c["type"]: c for c in u.status["conditions"]}
    assert (conds["Accepted"]["status"], conds["Accepted"]["reason"]) == ("False", "PortMatchesNothing")
    assert (conds["Ready"]["status"], conds["Ready"]["reason"]) == ("False", "PortMatchesNothing")
    assert "spec.rules[0].ports[0]: port 'dns' (TCP) matches no port" in conds["Ready"]["message"]
    assert u.status["firewallRules"] == 1, "rule `any` is still on the firewall"
    (event,) = u.events
    assert event[:2] == ("Warning", "PortMatchesNothing") and "spec.rules[0].ports[0]" in event[2]
    # The next reconcile finds the status current: no write, no second Event.
    objs[-1]["status"] = u.status
    snap = Snapshot.of(objs)
    assert status.desired(compile(snap), {ref_of(b): b for b in snap.policies},
                          {"edge": FirewallOutcome(True, "Synced", "in sync")}, now="2026-01-01T00:01:00Z") == []


def test_bmlb_validate_fails_on_it(tmp_path: Any) -> None:
    import yaml

    path = tmp_path / "dns.yaml"
    path.write_text(yaml.safe_dump_all([*BASE, DNS, guard([rule("dns", {"name": "dns"})], labels={"app": "dns"})]))
    result = CliRunner().invoke(main, ["validate", "-f", str(path)])
    assert result.exit_code == 1, result.output
    assert ("SecurityPolicy shop/guard: spec.rules[0].ports[0]: port 'dns' (TCP) matches no port of Service "
            "shop/dns; it has dns (53/UDP): set protocol: UDP") in result.output


# --- property: an entry is an error exactly when no selected Service has that port --------------

PROTOCOLS = ("TCP", "UDP", "SCTP")
NAMES = ("dns", "http", "web", "")
port_st = st.tuples(st.sampled_from(NAMES), st.integers(50, 54), st.sampled_from(PROTOCOLS))
entry_st = st.one_of(
    st.builds(lambda p, proto: {"port": p, "protocol": proto}, st.integers(50, 54), st.sampled_from(PROTOCOLS)),
    st.builds(lambda n, proto: {"name": n, "protocol": proto}, st.sampled_from(NAMES[:-1]), st.sampled_from(PROTOCOLS)),
)


def _unique_ports(ports: list[tuple[str, int, str]]) -> list[tuple[str, int, str]]:
    """Ports as the API server admits them: unique names (empty allowed once), unique number/protocol."""
    out, names, numbers = [], set(), set()
    for n, p, proto in ports:
        if n in names or (p, proto) in numbers:
            continue
        names.add(n)
        numbers.add((p, proto))
        out.append((n, p, proto))
    return out


@settings(max_examples=150, deadline=None)
@given(services=st.lists(st.tuples(st.lists(port_st, min_size=1, max_size=4), st.booleans()), min_size=1,
                         max_size=4),
       entries=st.lists(entry_st, min_size=1, max_size=4), by_name=st.booleans())
def test_an_entry_is_an_error_exactly_when_it_matches_nowhere(
        services: list[tuple[list[tuple[str, int, str]], bool]], entries: list[dict[str, Any]], by_name: bool) -> None:
    bodies = [svc(f"s{i}", *_unique_ports(ports), labels={"sel": "yes" if chosen else "no"})
              for i, (ports, chosen) in enumerate(services)]
    selected = [_unique_ports(ports) for ports, chosen in services if chosen]
    names = [f"s{i}" for i, (_, chosen) in enumerate(services) if chosen]
    pol = guard([rule("r", *entries)], names=names if by_name else None, labels=None if by_name else {"sel": "yes"})
    c = run(*bodies, pol)

    def has(ports: list[tuple[str, int, str]], e: dict[str, Any]) -> bool:
        return any(proto == e["protocol"] and (p == e["port"] if "port" in e else n == e["name"])
                   for n, p, proto in ports)

    want = {f"spec.rules[0].ports[{i}]" for i, e in enumerate(entries) if selected
            and not any(has(ports, e) for ports in selected)}
    got = {p.path for p in of_code(c, "PortMatchesNothing")}
    assert got == want
    assert all(p.is_error and p.ref == POLICY for p in of_code(c, "PortMatchesNothing"))
    # What reaches the firewall: every port an entry matches, on the Service that has it, nothing more.
    expect = {}
    for name, ports in zip(names, selected, strict=True):
        allowed = {f"bmlb-{proto.lower()}-{p}" for n, p, proto in ports if any(has([(n, p, proto)], e)
                                                                               for e in entries)}
        if allowed:
            expect[f"bmlb_shop_guard_r_{name}"] = allowed
    assert opened(c) == expect


# --- through the real API server, the controller and the PAN-OS simulator -----------------------


def test_through_the_api_server_and_the_firewall(cluster: Any, ns: str, sim: Any, firewall_object: Any,
                                                  run_controller: Any) -> None:
    import xml.etree.ElementTree as ET

    from controller.cli.localcluster import wait_for
    from controller.core import naming
    from tests.controller.conftest import dump_log

    def on_device() -> set[str]:
        root = ET.fromstring(sim.running_xml())
        return {e.get("name", "") for e in root.findall(
            "./devices/entry/vsys/entry[@name='vsys1']/rulebase/security/rules/entry")}

    def name(rule_name: str, service: str) -> str:
        return naming.name("security_rule", namespace=ns, policy="guard", rule=rule_name, service=service,
                           published=False)

    def moved(body: dict[str, Any]) -> dict[str, Any]:
        return {**body, "metadata": {**body["metadata"], "namespace": ns}}

    firewall_object(commit={"debounceSeconds": 0.3})
    cluster.apply(pool(f"{ns}-vips", "10.82.0.0/28", namespaces=[ns]))
    cluster.apply(moved(svc("dns", ("dns", 53, "UDP"), labels={"tier": "edge"})))
    cluster.apply(moved(svc("web", ("http", 80, "TCP"), labels={"tier": "edge"})))
    mistaken = moved(guard([rule("web", {"name": "http"}), rule("dns", {"name": "dns"})], labels={"tier": "edge"}))
    cluster.apply(mistaken)
    proc = run_controller()

    def accepted() -> dict[str, Any] | None:
        return cluster.condition("SecurityPolicy", "guard", ns, "Accepted")

    cond = wait_for("Accepted=False", lambda: (c := accepted()) and c["status"] == "False" and c, timeout=60)
    assert cond["reason"] == "PortMatchesNothing", cond
    assert cond["message"] == ("spec.rules[1].ports[0]: port 'dns' (TCP) matches no port of any of the 2 Services "
                               f"it applies to ({ns}/dns, {ns}/web); {ns}/dns has dns (53/UDP): set protocol: UDP")
    assert cluster.condition("SecurityPolicy", "guard", ns, "Ready")["status"] == "False"
    # The rest of the policy is on the firewall; the entry that matches nothing opened nothing.
    wait_for("rule web on the device", lambda: name("web", "web") in on_device(), timeout=30)
    assert not {name("dns", "dns"), name("dns", "web"), name("web", "dns")} & on_device(), dump_log(proc)
    events = wait_for("a Warning Event", lambda: [e for e in cluster.events(ns, "guard")
                                                  if e[:2] == ("Warning", "PortMatchesNothing")], timeout=30)
    assert "spec.rules[1].ports[0]" in events[0][2]

    fixed = moved(guard([rule("web", {"name": "http"}), rule("dns", {"name": "dns", "protocol": "UDP"})],
                        labels={"tier": "edge"}))
    cluster.apply(fixed)
    wait_for("Ready", lambda: (c := cluster.condition("SecurityPolicy", "guard", ns, "Ready"))
             and c["status"] == "True", timeout=60)
    wait_for("rule dns on the device", lambda: {name("web", "web"), name("dns", "dns")} <= on_device(), timeout=30)
    assert cluster.get("SecurityPolicy", "guard", ns)["status"]["firewallRules"] == 2
