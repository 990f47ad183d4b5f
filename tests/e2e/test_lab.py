"""Issue 14's scenarios in the end-to-end lab (tests/e2e/world.py): real connections from the
internet and office namespaces through the firewall twin to pods behind kernel IPVS on the nodes.

Everything is judged from packets, from `ipvsadm -Ln` in each node namespace and from the
simulator's RUNNING config (XML read here) and the twin namespace's routes; never with bmlb's
compiler. The scenarios share one estate (namespace "shop") and run in file order.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import world as w
from tests.e2e.conftest import RESULTS, Row, World

NS = "shop"
POOL = "10.96.100.0/28"
WEB_PODS = ("pod-1a", "pod-2a", "pod-1c")
API_PODS = ("pod-1b", "pod-2b")
API_PUBLIC = "203.0.113.18"
RESTART = 600.0  # a restarted agent: its Python start-up alone takes minutes under TCG
CONVERGE = 180.0  # generous: the VM is emulated (TCG) on a shared 2-core machine


def row(request: pytest.FixtureRequest, scenario: str) -> Row:
    RESULTS[request.node.name] = r = Row(scenario)
    return r


def slice_body(name: str, service: str, pods: tuple[str, ...], ports: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": name, "namespace": NS, "labels": {"kubernetes.io/service-name": service}},
            "addressType": "IPv4", "ports": ports,
            "endpoints": [{"addresses": [w.PODS[p][1]], "conditions": {"ready": True}, "nodeName": w.PODS[p][0]}
                          for p in pods]}


def service_body(name: str, ports: list[dict[str, Any]], **annotations: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": NS, "labels": {"tier": "frontend"}, "annotations": annotations},
            "spec": {"type": "LoadBalancer", "loadBalancerClass": "bmlb.io/ipvs", "ports": ports}}


WEB_PORTS = [{"name": "https", "port": 443, "targetPort": 8443, "protocol": "TCP"},
             {"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]
WEB_SLICE_PORTS = [{"name": "https", "port": 8443, "protocol": "TCP"},
                   {"name": "http", "port": 8080, "protocol": "TCP"}]


def estate() -> list[dict[str, Any]]:
    """Like examples/: two pools, a Service published on the internet, office access by policy."""
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}},
        {"apiVersion": "bmlb.io/v1alpha1", "kind": "VIPPool", "metadata": {"name": "internal"},
         "spec": {"addresses": [POOL], "zone": "k8s", "autoAssign": True}},
        {"apiVersion": "bmlb.io/v1alpha1", "kind": "VIPPool", "metadata": {"name": "public"},
         "spec": {"purpose": "Public", "addresses": ["203.0.113.16/29"], "zone": "untrust", "autoAssign": False,
                  "namespaces": [NS]}},
        service_body("web", WEB_PORTS),
        slice_body("web-1", "web", WEB_PODS, WEB_SLICE_PORTS),
        {"apiVersion": "bmlb.io/v1alpha1", "kind": "NATRule", "metadata": {"name": "web-https", "namespace": NS},
         "spec": {"service": {"name": "web", "port": "https"}, "public": {"pool": "public", "port": 443},
                  "from": {"zones": ["untrust"]}}},
        {"apiVersion": "bmlb.io/v1alpha1", "kind": "SecurityPolicy", "metadata": {"name": "frontend", "namespace": NS},
         "spec": {"services": {"selector": {"matchLabels": {"tier": "frontend"}}},
                  "rules": [
                      {"name": "internet-https", "action": "allow", "from": {"zones": ["untrust"]},
                       "ports": [{"name": "https"}]},
                      {"name": "blocked", "action": "deny",
                       "from": {"zones": ["trust"], "addresses": [f"{w.OFFICE_BLOCKED}/32"]}},
                      {"name": "office", "action": "allow", "from": {"zones": ["trust"], "addresses": ["10.0.0.0/24"]},
                       "ports": [{"name": "http"}]}]}},
    ]


def vip_of(world: World, name: str) -> str:
    ips = world.cluster.ingress(name, NS)
    return ips[0] if ips else ""


def public_of(world: World, natrule: str) -> str:
    st = world.cluster.get("NATRule", natrule, NS).get("status") or {}
    return str(st.get("public") or "").split(":")[0]


def nat_to(world: World, public: str, port: int) -> list[w.Nat]:
    """NAT rules of the RUNNING config whose original destination is public (any port or `port`)."""
    xml = world.running_xml()
    return [n for n in w.running_nat(xml) if any(w.resolve(xml, d) == public for d in n.destination)]


def translated(world: World, public: str, port: int) -> list[str | None]:
    """The translated addresses (resolved) of the NAT rules for public."""
    xml = world.running_xml()
    return [w.resolve(xml, n.translated) if n.translated else None for n in nat_to(world, public, port)]


def ipvs_everywhere(vip: str, port: int, pods: tuple[str, ...], target: int) -> bool:
    want = {f"{w.PODS[p][1]}:{target}" for p in pods}
    return all(w.ipvs_services(ns).get(f"TCP {vip}:{port}") == want for ns, _ in w.NODES.values())


def answers(ns: str, dst: str, port: int, n: int = 6, **kw: Any) -> list[str | None]:
    return [w.reaches(ns, dst, port, **kw) for _ in range(n)]


def wait(world: World, what: str, fn: Any, timeout: float = CONVERGE) -> float:
    try:
        return w.wait_until(what, fn, timeout)
    except AssertionError as err:
        Path(world.logdir / "running.xml").write_text(world.running_xml())
        state = f"(running config in {world.logdir}/running.xml)\n"
        state += f"twin routes:\n{w.fw_routes()}\nrunning NAT: {w.running_nat(world.running_xml())}"
        state += f"\nrunning routes: {w.running_routes(world.running_xml())}\ntwin errors: {world.twin.errors[-3:]}"
        raise AssertionError(f"{err}\n{state}\n{world.logs()}") from None


# ---------------------------------------------------------------------------------------------


def test_s1_published_service_reaches_pods_and_policy_holds(world: World, request: pytest.FixtureRequest) -> None:
    r = row(request, "1 publish: internet via public address, office by policy, deny, unpublished port")
    t0 = time.monotonic()
    for body in estate():
        world.cluster.apply(body)
    wait(world, "web's VIP", lambda: vip_of(world, "web"))
    wait(world, "web-https's public address", lambda: public_of(world, "web-https"))
    vip, public = vip_of(world, "web"), public_of(world, "web-https")
    assert w.in_subnet(vip, POOL) and w.in_subnet(public, "203.0.113.16/29"), (vip, public)
    first = wait(world, f"internet -> {public}:443", lambda: w.reaches(w.INET, public, 443))
    # The NAT on the firewall translates to the VIP, and every node balances the VIP over the pods.
    nats = nat_to(world, public, 443)
    assert translated(world, public, 443) == [vip], nats
    wait(world, "IPVS on every node", lambda: ipvs_everywhere(vip, 443, WEB_PODS, 8443))
    got = answers(w.INET, public, 443, n=12)
    assert None not in got and set(got) <= set(WEB_PODS), got
    # The unpublished port is not translated and never reaches a node; nor does the VIP itself.
    before = w.internet_packets_on_nodes()
    assert w.reaches(w.INET, public, 80, timeout=1.0) is None
    assert w.reaches(w.INET, vip, 443, timeout=1.0) is None
    assert w.reaches(w.INET, vip, 80, timeout=1.0) is None
    after = w.internet_packets_on_nodes()
    assert after == before, (f"{after - before} connection attempts from the internet reached the nodes "
                             f"(VIP {vip}, public {public}; seen: {w.internet_attempts_seen()})")
    # The office: the VIP's http port by policy; not https (no rule: interzone default deny);
    # not from the denied address.
    office_ok = answers(w.OFFICE, vip, 80, n=3, src=w.OFFICE_ADDR)
    assert None not in office_ok and set(office_ok) <= set(WEB_PODS), office_ok
    assert w.reaches(w.OFFICE, vip, 443, src=w.OFFICE_ADDR, timeout=1.0) is None
    assert w.reaches(w.OFFICE, vip, 80, src=w.OFFICE_BLOCKED, timeout=1.0) is None
    total = time.monotonic() - t0
    r.measured = f"first connection {first:.1f}s after apply; {len(set(got))} pods answered; checks {total:.1f}s"
    r.failed_connections = "0"
    print(f"\n[s1] VIP {vip}, public {public}: {r.measured}; answers {sorted(set(got))}")


def test_s2_time_to_first_connection_of_a_new_service(world: World, request: pytest.FixtureRequest) -> None:
    r = row(request, "2 new Service + NATRule: apply -> first connection")
    t0 = time.monotonic()
    world.cluster.apply(service_body("api", [{"name": "https", "port": 9443, "targetPort": 8443, "protocol": "TCP"}]))
    world.cluster.apply(slice_body("api-1", "api", API_PODS, [{"name": "https", "port": 8443, "protocol": "TCP"}]))
    world.cluster.apply({"apiVersion": "bmlb.io/v1alpha1", "kind": "NATRule",
                         "metadata": {"name": "api-https", "namespace": NS},
                         "spec": {"service": {"name": "api", "port": "https"},
                                  "public": {"address": API_PUBLIC, "port": 9443}, "from": {"zones": ["untrust"]}}})
    applied = time.monotonic() - t0
    first = wait(world, f"internet -> {API_PUBLIC}:9443", lambda: w.reaches(w.INET, API_PUBLIC, 9443, timeout=1.0))
    total = applied + first
    who = w.reaches(w.INET, API_PUBLIC, 9443)
    assert who in API_PODS, who
    r.measured = f"{total:.2f}s (apply calls {applied:.2f}s)"
    print(f"\n[s2] apply -> first connection through {API_PUBLIC}:9443: {r.measured}")


DNS_PUBLIC = "203.0.113.19"


def test_s2_udp_published_through_the_firewall(world: World, request: pytest.FixtureRequest) -> None:
    r = row(request, "2b UDP: a published UDP port answers through the firewall, an unpublished one does not")
    t0 = time.monotonic()
    dns = service_body("dns", [{"name": "dns", "port": 53, "targetPort": 5353, "protocol": "UDP"}])
    dns["metadata"]["labels"] = {"tier": "dns"}
    world.cluster.apply(dns)
    world.cluster.apply(slice_body("dns-1", "dns", ("pod-1c", "pod-2c"),
                                   [{"name": "dns", "port": 5353, "protocol": "UDP"}]))
    world.cluster.apply({"apiVersion": "bmlb.io/v1alpha1", "kind": "NATRule",
                         "metadata": {"name": "dns", "namespace": NS},
                         "spec": {"service": {"name": "dns", "port": "dns", "protocol": "UDP"},
                                  "public": {"address": DNS_PUBLIC, "port": 53}, "from": {"zones": ["untrust"]}}})
    world.cluster.apply({"apiVersion": "bmlb.io/v1alpha1", "kind": "SecurityPolicy",
                         "metadata": {"name": "dns", "namespace": NS},
                         "spec": {"services": {"selector": {"matchLabels": {"tier": "dns"}}},
                                  "rules": [{"name": "internet-dns", "action": "allow",
                                             "from": {"zones": ["untrust"]},
                                             "ports": [{"name": "dns", "protocol": "UDP"}]}]}})

    def ask(port: int) -> str | None:
        try:
            return w.udp_ask(w.INET, DNS_PUBLIC, port, timeout=1.0)
        except OSError:
            return None

    wait(world, f"a UDP answer from {DNS_PUBLIC}:53", lambda: ask(53))
    first = time.monotonic() - t0
    got = [ask(53) for _ in range(8)]
    assert None not in got and set(got) <= {"pod-1c", "pod-2c"}, got
    vip = vip_of(world, "dns")
    assert ask(5353) is None  # the target port itself is not published
    try:
        office = w.udp_ask(w.OFFICE, vip, 53, timeout=1.0)
    except OSError:
        office = None
    assert office is None, f"the office reached {vip}:53/udp without a rule: {office}"
    r.measured = f"first UDP answer {first:.1f}s after apply; 8/8 answered by the pods; 5353 and the office: none"
    r.failed_connections = "0"
    print(f"\n[s2b] {r.measured}; answers {sorted(set(got))}")


def test_s3_vip_move_nat_follows(world: World, request: pytest.FixtureRequest) -> None:
    r = row(request, "3 VIP moves (bmlb.io/ip): NAT follows, traffic recovers")
    old, public = vip_of(world, "web"), public_of(world, "web-https")
    new = next(a for a in ("10.96.100.9", "10.96.100.10") if a != old)
    with w.Steady(w.INET, public, 443) as steady:
        time.sleep(0.5)
        t0 = time.monotonic()
        world.cluster.core.patch_namespaced_service("web", NS, {"metadata": {"annotations": {"bmlb.io/ip": new}}})
        nat_moved = wait(world, "NAT translated to the new VIP",
                         lambda: translated(world, public, 443) == [new])
        ipvs_moved = wait(world, "IPVS on the new VIP only",
                          lambda: ipvs_everywhere(new, 443, WEB_PODS, 8443)
                          and all(f"TCP {old}:443" not in w.ipvs_services(ns) for ns, _ in w.NODES.values()))
        wait(world, "a connection after the move", lambda: w.reaches(w.INET, public, 443, timeout=1.0))
        time.sleep(1.0)
    after_move = [t for t, _ in steady.failed if t >= t0]
    recovered = (max(after_move) - t0) if after_move else 0.0
    assert vip_of(world, "web") == new
    assert w.reaches(w.INET, public, 443) in WEB_PODS
    assert w.reaches(w.OFFICE, new, 80, src=w.OFFICE_ADDR) in WEB_PODS
    r.measured = (f"NAT on new VIP after {nat_moved:.1f}s, IPVS {ipvs_moved:.1f}s, traffic back "
                  f"{recovered:.1f}s after the edit")
    r.failed_connections = f"{len(steady.failed)} of {steady.ok + len(steady.failed)}"
    print(f"\n[s3] {old} -> {new}: {r.measured}; failed {r.failed_connections}")


def test_s4_endpoint_churn_under_a_steady_client(world: World, request: pytest.FixtureRequest) -> None:
    r = row(request, "4 endpoint churn 3 -> 1 -> 3 under a steady client")
    vip, public = vip_of(world, "web"), public_of(world, "web-https")
    with w.Steady(w.INET, public, 443) as steady:
        time.sleep(1.0)
        t0 = time.monotonic()
        world.cluster.apply(slice_body("web-1", "web", WEB_PODS[:1], WEB_SLICE_PORTS))
        down = wait(world, "IPVS: one pod", lambda: ipvs_everywhere(vip, 443, WEB_PODS[:1], 8443))
        time.sleep(1.0)
        t1 = time.monotonic()
        world.cluster.apply(slice_body("web-1", "web", WEB_PODS, WEB_SLICE_PORTS))
        up = wait(world, "IPVS: three pods", lambda: ipvs_everywhere(vip, 443, WEB_PODS, 8443))
        time.sleep(1.0)
        answered = dict(steady.answered_by)
    total = steady.ok + len(steady.failed)
    r.measured = f"3->1 in IPVS after {down:.1f}s, 1->3 after {up:.1f}s; {total} connections ({t1 - t0:.0f}s + more)"
    r.failed_connections = f"{len(steady.failed)} of {total}"
    print(f"\n[s4] {r.measured}; failed {r.failed_connections} {steady.failed[:3]}; answered by {answered}")
    assert steady.ok > 0
    assert not steady.failed, f"{len(steady.failed)} connections failed: {steady.failed[:5]}"


def _node_routes_gone(addr: str) -> bool:
    routes = w.fw_routes()
    return bool(routes) and addr not in routes


def test_s5_node_failover(world: World, request: pytest.FixtureRequest) -> None:
    r = row(request, "5 agent SIGKILL (Lease expires), then node link loss: failover")
    public = public_of(world, "web-https")
    node = "node-2"
    ns, addr = w.NODES[node]
    wait(world, f"a firewall route via {addr}", lambda: addr in w.fw_routes())
    # 1. The agent dies; its IPVS rules stay in the kernel, its Lease lapses, routes leave it.
    with w.Steady(w.INET, public, 443) as kill_run:
        time.sleep(1.0)
        world.agents[node].kill()
        withdrawn = wait(world, f"routes via {addr} withdrawn", lambda: _node_routes_gone(addr))
        time.sleep(1.0)
    killed_failed = len(kill_run.failed)
    world.start_agent(node)
    back = wait(world, f"routes via {addr} back", lambda: addr in w.fw_routes(), timeout=RESTART)
    # 2. The whole node loses its link (data path and control plane).
    with w.Steady(w.INET, public, 443) as link_run:
        time.sleep(1.0)
        t1 = time.monotonic()
        w.sh("ip link set eth0 down", ns=ns)
        world.relay.isolate(ns)
        link_withdrawn = wait(world, f"routes via {addr} withdrawn after link loss", lambda: _node_routes_gone(addr))
        wait(world, "connections succeed again", lambda: w.reaches(w.INET, public, 443, timeout=1.0))
        time.sleep(1.0)
    last_fail = max((t for t, _ in link_run.failed), default=t1) - t1
    w.relink(node)
    world.relay.restore(ns)
    relinked = wait(world, f"routes via {addr} back after relink", lambda: addr in w.fw_routes(), timeout=RESTART)
    assert world.agents[node].popen.poll() is None, world.logs()
    r.measured = (f"SIGKILL: routes withdrawn {withdrawn:.1f}s (Lease 10s), agent back {back:.1f}s; "
                  f"link loss: withdrawn {link_withdrawn:.1f}s, last failure {last_fail:.1f}s, back {relinked:.1f}s")
    r.failed_connections = (f"kill {killed_failed} of {kill_run.ok + killed_failed}, "
                            f"link {len(link_run.failed)} of {link_run.ok + len(link_run.failed)}")
    print(f"\n[s5] {r.measured}; failed {r.failed_connections}")
    assert killed_failed == 0, kill_run.failed[:5]


def _peer_answers(ns: str, dst: str, port: int, n: int, src: str) -> list[tuple[str, str, str]]:
    """n connections; each answer as (pod, the client address the pod saw, the pod's local address)."""
    out = []
    for _ in range(n):
        got = w.reaches(ns, dst, port, src=src)
        assert got, f"no answer from {dst}:{port}"
        pod, client, local = got.split()
        out.append((pod, client, local))
    return out


def _local_service(name: str, port: int, **annotations: str) -> dict[str, Any]:
    body = service_body(name, [{"name": "http", "port": port, "targetPort": w.PEER_PORT, "protocol": "TCP"}],
                        **annotations)
    body["spec"]["externalTrafficPolicy"] = "Local"
    return body


PEER_SLICE_PORTS = [{"name": "http", "port": w.PEER_PORT, "protocol": "TCP"}]


def test_s6_local_policy_and_direct_routing(world: World, request: pytest.FixtureRequest) -> None:
    r = row(request, "6 externalTrafficPolicy Local (source kept, local endpoints only); DR mode")
    node1, node2 = (addr for _, addr in w.NODES.values())
    ns1, ns2 = (ns for ns, _ in w.NODES.values())
    # Local, endpoints on node-1 only: the firewall routes the VIP to node-1 alone.
    t0 = time.monotonic()
    world.cluster.apply(_local_service("local", 8090))
    world.cluster.apply(slice_body("local-1", "local", ("pod-1a",), PEER_SLICE_PORTS))
    wait(world, "local's VIP", lambda: vip_of(world, "local"))
    vip = vip_of(world, "local")
    routed = wait(world, f"a route for {vip} via node-1 only", lambda: w.route_hops(vip) == {node1})
    reached = wait(world, "the office reaches local", lambda: w.reaches(w.OFFICE, vip, 8090, src=w.OFFICE_ADDR))
    seen = _peer_answers(w.OFFICE, vip, 8090, 6, w.OFFICE_ADDR)
    assert {p for p, _, _ in seen} == {"pod-1a"} and {c for _, c, _ in seen} == {w.OFFICE_ADDR}, seen
    # An endpoint on node-2 too: both nodes routed, each balances only its own pods.
    world.cluster.apply(slice_body("local-1", "local", ("pod-1a", "pod-2a"), PEER_SLICE_PORTS))
    wait(world, f"routes for {vip} via both nodes", lambda: w.route_hops(vip) == {node1, node2})
    wait(world, "each node balances its own endpoint only",
         lambda: w.ipvs_services(ns1).get(f"TCP {vip}:8090") == {f"{w.PODS['pod-1a'][1]}:{w.PEER_PORT}"}
         and w.ipvs_services(ns2).get(f"TCP {vip}:8090") == {f"{w.PODS['pod-2a'][1]}:{w.PEER_PORT}"})
    seen = _peer_answers(w.OFFICE, vip, 8090, 16, w.OFFICE_ADDR)
    assert {c for _, c, _ in seen} == {w.OFFICE_ADDR}, f"client source not preserved: {seen}"
    pods = {p for p, _, _ in seen}
    assert pods <= {"pod-1a", "pod-2a"}, seen
    # DR (Local, an endpoint on node-1): the pod holds the VIP on its loopback, the packet reaches
    # it still addressed to the VIP (no DNAT), and its reply leaves with the VIP as source.
    world.cluster.apply(_local_service("direct", w.PEER_PORT, **{"bmlb.io/forwarding": "dr"}))
    world.cluster.apply(slice_body("direct-1", "direct", ("pod-1b",), PEER_SLICE_PORTS))
    wait(world, "direct's VIP", lambda: vip_of(world, "direct"))
    dvip = vip_of(world, "direct")
    w.sh(f"ip addr add {dvip}/32 dev lo; sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2",
         ns=w.pod_ns("pod-1b"))
    wait(world, "IPVS on node-1 routes (DR) to pod-1b",
         lambda: w.ipvs_forwarding(ns1).get(f"TCP {dvip}:{w.PEER_PORT} {w.PODS['pod-1b'][1]}:{w.PEER_PORT}") == "Route")
    wait(world, f"a route for {dvip} via node-1 only", lambda: w.route_hops(dvip) == {node1})
    wait(world, "the office reaches direct", lambda: w.reaches(w.OFFICE, dvip, w.PEER_PORT, src=w.OFFICE_ADDR))
    seen = _peer_answers(w.OFFICE, dvip, w.PEER_PORT, 6, w.OFFICE_ADDR)
    assert set(seen) == {("pod-1b", w.OFFICE_ADDR, dvip)}, seen
    r.measured = (f"Local: route to node-1 only {routed:.1f}s after apply, answered {reached:.1f}s later; source "
                  f"kept in 22/22, pods {sorted(pods)}; DR: pod saw the VIP {dvip} as destination, 6/6; "
                  f"{time.monotonic() - t0:.0f}s")
    r.failed_connections = "0"
    print(f"\n[s6] {r.measured}")


BURST = tuple(f"burst-{i}" for i in range(6))


def _duplicates(xml: str) -> list[str]:
    """What the running config holds twice: NAT rules for one original destination and service,
    address objects of one value, static routes of one destination and next hop."""
    seen: dict[tuple[str, ...], int] = {}
    for n in w.running_nat(xml):
        key = ("nat", *sorted(w.resolve(xml, d) for d in n.destination), n.service)
        seen[key] = seen.get(key, 0) + 1
    for value in w.running_addresses(xml).values():
        seen[("address", value)] = seen.get(("address", value), 0) + 1
    for route in w.running_routes(xml):
        seen[("route", *route)] = seen.get(("route", *route), 0) + 1
    return [" ".join(k) for k, n in seen.items() if n > 1]


def test_s7_controller_sigkill_during_a_burst(world: World, request: pytest.FixtureRequest) -> None:
    r = row(request, "7 controller SIGKILL during a burst, restart: unchanged Service keeps working")
    public = API_PUBLIC
    with w.Steady(w.INET, public, 9443) as steady:
        time.sleep(1.0)
        t0 = time.monotonic()
        for i, name in enumerate(BURST):
            world.cluster.apply(service_body(name, [{"name": "http", "port": 80, "targetPort": 8080,
                                                     "protocol": "TCP"}]))
            world.cluster.apply(slice_body(f"{name}-1", name, (API_PODS[i % 2],),
                                           [{"name": "http", "port": 8080, "protocol": "TCP"}]))
            if i == 2:
                world.host.kill_controller()
                killed = time.monotonic() - t0
        time.sleep(2.0)
        world.host.start_controller()
        restarted = time.monotonic() - t0
        wait(world, "every burst Service's VIP", lambda: all(vip_of(world, n) for n in BURST), timeout=180)
        vips = {n: vip_of(world, n) for n in BURST}
        converged = wait(world, "IPVS on every node for the burst",
                         lambda: all(ipvs_everywhere(v, 80, (API_PODS[i % 2],), 8080) for i, v in
                                     enumerate(vips.values())), timeout=180) + restarted
        wait(world, "the office reaches every burst VIP (policy rules on the firewall)",
             lambda: all(w.reaches(w.OFFICE, v, 80, src=w.OFFICE_ADDR, timeout=1.0) for v in vips.values()))
        time.sleep(1.0)
    # Nothing twice: in IPVS one virtual service per VIP and port, in the running config one NAT
    # rule per destination, one address object per value, one route per destination and next hop.
    xml = world.running_xml()
    assert not _duplicates(xml), _duplicates(xml)
    # And no node balances a VIP that no Service holds (a leftover of the killed controller's work).
    want_vips = {ing.ip for s in world.cluster.core.list_namespaced_service(NS).items
                 for ing in (s.status.load_balancer.ingress or [])}
    for ns, _ in w.NODES.values():
        held = {k.split()[1].rsplit(":", 1)[0] for k in w.ipvs_services(ns)}
        assert held <= want_vips, (ns, held - want_vips)
    commits = world.host.controller()["commits"]
    quiet = 5.0
    time.sleep(quiet)
    assert world.host.controller()["commits"] == commits, "the restarted controller committed with nothing to do"
    r.measured = (f"killed {killed:.1f}s into the burst, restarted at {restarted:.1f}s, burst in IPVS at "
                  f"{converged:.1f}s; no second commit in {quiet:.0f}s")
    r.failed_connections = f"{len(steady.failed)} of {steady.ok + len(steady.failed)}"
    print(f"\n[s7] {r.measured}; failed {r.failed_connections}: {steady.failed[:6]}")
    assert steady.ok > 0 and not steady.failed, steady.failed[:5]


def test_s8_service_deleted_leaves_nothing(world: World, request: pytest.FixtureRequest) -> None:
    r = row(request, "8 Service deleted: public address silent, firewall and IPVS clean")
    vip, public = vip_of(world, "web"), public_of(world, "web-https")
    assert w.reaches(w.INET, public, 443) in WEB_PODS
    t0 = time.monotonic()
    world.cluster.delete("Service", "web", NS)
    world.cluster.delete("EndpointSlice", "web-1", NS)
    wait(world, f"{public}:443 silent", lambda: w.reaches(w.INET, public, 443, timeout=0.5) is None)
    silent = time.monotonic() - t0
    wait(world, "the firewall holds nothing of the VIP or the public address",
         lambda: not w.mentions(world.running_xml(), vip) and not nat_to(world, public, 443))
    fw_clean = time.monotonic() - t0
    wait(world, "no node's IPVS holds the VIP",
         lambda: all(not any(vip + ":" in k for k in w.ipvs_services(ns)) for ns, _ in w.NODES.values()))
    ipvs_clean = time.monotonic() - t0
    assert w.reaches(w.OFFICE, vip, 80, src=w.OFFICE_ADDR, timeout=1.0) is None
    assert w.reaches(w.INET, API_PUBLIC, 9443) in API_PODS  # the other Service is untouched
    r.measured = f"silent after {silent:.1f}s, firewall clean {fw_clean:.1f}s, IPVS clean {ipvs_clean:.1f}s"
    print(f"\n[s8] {r.measured} (times from the delete, {time.monotonic() - t0:.1f}s in all)")


L2_POOL = "10.96.200.0/29"  # inside the node subnet: the firewall ARPs for it on ethernet1/4
L2_DURATION = 6.0  # the VIP Leases' duration: 3 s (the default) is tight for agents under TCG


def _announcer(vip: str) -> str | None:
    """The node whose uplink holds the VIP now (what the kernel says), if exactly one does."""
    holders = [n for n, (ns, _) in w.NODES.items() if f" {vip}/" in w.sh("ip -4 -o addr show dev eth0", ns=ns)]
    return holders[0] if len(holders) == 1 else None


def _failover(world: World, vip: str, old: str, cut: Any) -> tuple[float, int, int, str]:
    """Cut `old` (by `cut()`), with an office client steady on the VIP: seconds from the cut to the
    last failed connection, failed and total connections, the new announcer."""
    with w.Steady(w.OFFICE, vip, 80) as steady:
        time.sleep(1.0)
        t0 = time.monotonic()
        cut()
        wait(world, f"another node announcing {vip}", lambda: _announcer(vip) not in (None, old), timeout=60)
        wait(world, "connections succeed again", lambda: w.reaches(w.OFFICE, vip, 80, src=w.OFFICE_ADDR, timeout=1.0))
        time.sleep(2.0)
    last = max((t for t, _ in steady.failed if t >= t0), default=t0) - t0
    return last, len(steady.failed), steady.ok + len(steady.failed), str(_announcer(vip))


def test_s9_l2_mode_with_lease_election(world: World, request: pytest.FixtureRequest) -> None:
    r = row(request, "9 L2 mode (ARP, Kubernetes Lease election): failover on SIGKILL and on link loss")
    # The firewall stops routing to the nodes (routing.mode none); the agents restart in L2 mode.
    world.cluster.custom.patch_cluster_custom_object("bmlb.io", "v1alpha1", "firewalls", "edge",
                                                     {"spec": {"routing": {"mode": "none"}}})
    for node in w.NODES:
        world.agents[node].stop()
        world.start_agent(node, "--mode", "l2", "--uplink", "eth0", "--l2-lease-duration", str(L2_DURATION))
    world.cluster.apply({"apiVersion": "bmlb.io/v1alpha1", "kind": "VIPPool", "metadata": {"name": "l2"},
                         "spec": {"addresses": [L2_POOL], "zone": "k8s", "autoAssign": False}})
    world.cluster.apply(service_body("l2web", [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
                                     **{"bmlb.io/pool": "l2"}))
    world.cluster.apply(slice_body("l2web-1", "l2web", ("pod-1a", "pod-2a"),
                                   [{"name": "http", "port": 8080, "protocol": "TCP"}]))
    wait(world, "l2web's VIP", lambda: vip_of(world, "l2web"))
    vip = vip_of(world, "l2web")
    assert w.in_subnet(vip, L2_POOL), vip
    wait(world, "no static route left on the firewall", lambda: not w.fw_routes().strip(), timeout=240)
    wait(world, "the office reaches the L2 VIP", lambda: w.reaches(w.OFFICE, vip, 80, src=w.OFFICE_ADDR), timeout=300)
    # One announcer, the same in two reads a Lease duration apart (a takeover may still be settling).
    wait(world, f"one node announcing {vip}, steadily",
         lambda: (a := _announcer(vip)) is not None and time.sleep(L2_DURATION) is None and _announcer(vip) == a,
         timeout=120)
    first = _announcer(vip)
    assert first is not None
    # 1. The announcer's node loses its link (data path and control plane): the other takes over.
    ns_first = w.NODES[first][0]

    def unplug() -> None:
        w.sh("ip link set eth0 down", ns=ns_first)
        world.relay.isolate(ns_first)

    link_last, link_failed, link_total, second = _failover(world, vip, first, unplug)
    w.relink(first)
    world.relay.restore(ns_first)
    # 2. The new announcer's agent is SIGKILLed: the first node, back on the link, takes over.
    time.sleep(L2_DURATION + 1.0)  # the restored node's agent renews its view of the VIP Leases
    kill_last, kill_failed, kill_total, third = _failover(world, vip, second, world.agents[second].kill)
    r.measured = (f"link loss on {first}: {second} took over, last failure {link_last:.1f}s after the cut; "
                  f"SIGKILL on {second}: {third} took over, last failure {kill_last:.1f}s after")
    r.failed_connections = f"link {link_failed} of {link_total}, kill {kill_failed} of {kill_total}"
    print(f"\n[s9] VIP {vip}: {r.measured}; failed {r.failed_connections}")
    assert third == first
