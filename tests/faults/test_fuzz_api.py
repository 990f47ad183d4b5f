"""Bad input at the API boundary: generated SecurityPolicy, NATRule and VIPPool specs, through the
compiler alone and through the real API server with the controller and the simulator running."""

from __future__ import annotations

import json
import re
import time
import xml.etree.ElementTree as ET
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from kubernetes.client.rest import ApiException

from controller.cli.localcluster import PLURALS, Cluster, wait_for
from controller.core import schema
from controller.core.compiler import compile
from controller.core.snapshot import Snapshot
from firewall.names import MAX_DESCRIPTION, NAME_RE, is_valid_tag
from firewall.sim import Simulator
from tests.controller.conftest import dump_log
from tests.controller.estate import pool, service
from tests.faults import strategies as S

NAMESPACES = ("a", "b")
FIREWALL = {"apiVersion": "bmlb.io/v1alpha1", "kind": "Firewall", "metadata": {"name": "edge"},
            "spec": {"host": "127.0.0.1", "credentialsSecret": {"name": "s", "namespace": "bmlb-system"}}}


@st.composite
def snapshots(draw: Any) -> Snapshot:
    bodies: list[dict[str, Any]] = []
    for i, obj in enumerate(draw(st.lists(S.any_object(public_pool="p0", namespaces=NAMESPACES), max_size=12))):
        namespace = draw(st.sampled_from(NAMESPACES))
        meta: dict[str, Any] = {"name": f"o{i}", "uid": f"uid-{i}", "generation": 1,
                                "creationTimestamp": f"2024-01-01T00:00:{i:02d}Z"}
        if obj["kind"] != "VIPPool":
            meta["namespace"] = namespace
        else:
            meta["name"] = f"p{i}"
        bodies.append({**obj, "metadata": meta})
    for namespace in NAMESPACES:
        for name in ("web", "api", *draw(st.lists(st.just("db"), max_size=1))):
            bodies.append(draw(S.lb_service(name, namespace)))
    if draw(st.booleans()):
        bodies.append(FIREWALL)
    # Pools that always work, so generated policies and NAT rules do reach the desired firewall.
    bodies.append({**pool("p-vips", "10.210.0.0/24"), "metadata": {"name": "a-vips"}})
    bodies.append({**pool("p0", "198.51.100.0/28", zone="untrust", purpose="Public", auto=False)})
    return Snapshot.of(bodies)


def api_server_admits(body: Any) -> bool:
    """What the API server stores: schema- and CEL-valid, with unique list-map keys (rule names),
    which the offline validator does not check."""
    if body.get("apiVersion") != S.API or body.get("kind") == "Firewall":
        return True
    if schema.validate(dict(body)):
        return False
    names = [r.get("name") for r in (body.get("spec") or {}).get("rules") or []]
    return len(names) == len(set(names))


@settings(max_examples=250, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(snapshots())
def test_compile_never_raises_and_emits_only_valid_unique_names(snapshot: Snapshot) -> None:
    compile(snapshot)  # whatever it is fed, it reports problems and never raises
    compiled = compile(Snapshot.of(b for b in snapshot.all() if api_server_admits(b)))
    for p in compiled.problems:
        assert p.path and p.message, p
    for target in compiled.firewalls:
        d = target.desired
        for what, objs in (("tag", d.tags), ("address", d.addresses), ("service", d.services),
                           ("security rule", d.security_rules), ("nat rule", d.nat_rules),
                           ("route", d.static_routes)):
            names = [o.name for o in objs]
            dup = [n for n, c in Counter(names).items() if c > 1]
            assert not dup, f"duplicate {what} names {dup}"
            for n in names:
                assert NAME_RE.fullmatch(n) if what != "tag" else is_valid_tag(n), f"invalid {what} name {n!r}"
            for o in objs:
                assert len(getattr(o, "description", "") or getattr(o, "comments", "")) <= MAX_DESCRIPTION
        # Every zone and address text that reaches the device stays free of XML/XPath metacharacters.
        for r in (*d.security_rules, *d.nat_rules):
            for z in (*r.from_zones, *r.to_zones):
                assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._ -]{0,30}", z), z


BATCH = 250
BATCHES = 4
ACCEPT_TIMEOUT = 60.0
PATH_FIRST = re.compile(r"^(spec|metadata)[.\[:]")
GROUP, VERSION = "bmlb.io", "v1alpha1"


def _post(cluster: Cluster, ns: str, body: dict[str, Any]) -> tuple[str, dict[str, Any] | ApiException]:
    plural = PLURALS[body["kind"]]
    try:
        if body["kind"] == "VIPPool":
            return "created", cluster.custom.create_cluster_custom_object(GROUP, VERSION, plural, body)
        return "created", cluster.custom.create_namespaced_custom_object(GROUP, VERSION, ns, plural, body)
    except ApiException as err:
        return "refused", err


def _causes(err: ApiException) -> list[dict[str, Any]]:
    try:
        return list((json.loads(err.body or "{}").get("details") or {}).get("causes") or [])
    except ValueError:
        return []


def _listed(cluster: Cluster, ns: str, selector: str) -> list[dict[str, Any]]:
    out = []
    for kind in ("SecurityPolicy", "NATRule"):
        out += cluster.custom.list_namespaced_custom_object(GROUP, VERSION, ns, PLURALS[kind],
                                                           label_selector=selector)["items"]
    out += cluster.custom.list_cluster_custom_object(GROUP, VERSION, "vippools", label_selector=selector)["items"]
    return out


def _accepted(body: dict[str, Any]) -> dict[str, Any] | None:
    gen = body["metadata"].get("generation")
    for c in (body.get("status") or {}).get("conditions") or []:
        if c["type"] == "Accepted" and c.get("observedGeneration") == gen:
            return c
    return None


def owned_entries(xml: str, tag: str) -> list[ET.Element]:
    """Every entry on the device that carries bmlb's ownership tag, and the tag itself."""
    root = ET.fromstring(xml)  # the simulator's tree, serialised: it must parse
    out = []
    for e in root.iter("entry"):
        if any(m.text == tag for m in e.findall("tag/member")) or (e.get("name") == tag):
            out.append(e)
    return out


def check_device(sim: Simulator, tag: str = "bmlb-managed") -> int:
    seen = 0
    for which, xml in (("running", sim.running_xml()), ("candidate", sim.candidate_xml())):
        for e in owned_entries(xml, tag):
            name = e.get("name") or ""
            assert NAME_RE.fullmatch(name) or (name == tag and is_valid_tag(name)), f"{which}: bad name {name!r}"
            desc = e.findtext("description") or e.findtext("comments") or ""
            assert len(desc) <= MAX_DESCRIPTION, f"{which}: {name}: description of {len(desc)} chars"
            for text in (t for t in e.itertext()):
                assert not any(ord(ch) < 32 and ch not in "\n\t" for ch in text), f"{which}: {name}: {text!r}"
            seen += which == "running"
    return seen


def _poster(cluster: Cluster, ns: str, strategy: Any, label: dict[str, str], batch: int,
            stats: Counter[str]) -> Any:
    counter = iter(range(10**6))

    @settings(max_examples=BATCH, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(obj=strategy, bad_name=st.one_of(st.none(), st.none(), st.none(), st.none(), S.nasty_name()))
    def post(obj: dict[str, Any], bad_name: str | None) -> None:
        i = next(counter)
        name = f"{bad_name}{i}" if bad_name else f"f{batch}-{i}-{obj['kind'].lower()}"
        if obj["kind"] == "VIPPool":
            name = f"{name}-{ns}"
        body = {**obj, "metadata": {"name": name, "labels": label}}
        outcome, result = _post(cluster, ns, body)
        stats["posted"] += 1
        stats[f"{obj['kind']} {outcome}"] += 1
        if isinstance(result, ApiException):
            assert result.status == 422, (result.status, result.body)
            causes = _causes(result)
            assert causes and all(c.get("field") for c in causes), result.body

    return post


def test_storm_of_generated_objects_through_the_api_server(cluster: Cluster, ns: str, sim: Simulator,
                                                           firewall_object, run_controller) -> None:
    started = time.monotonic()
    firewall_object(commit={"debounceSeconds": 0.3})
    vips, pub = f"aaa-{ns}", f"aab-{ns}-pub"
    cluster.apply(pool(vips, "10.99.0.0/28", namespaces=[ns]))
    cluster.apply(pool(pub, "198.51.100.0/28", zone="untrust", purpose="Public", auto=False, namespaces=[ns]))
    for name, ports in (("web", ((80, 8080), (443, 8443))), ("api", ((443, 443),))):
        cluster.apply(service(ns, name, *ports, annotations={"bmlb.io/pool": vips}))
    proc = run_controller()
    wait_for("web's VIP", lambda: cluster.ingress("web", ns), timeout=60)

    stats: Counter[str] = Counter()
    most_owned = 0
    strategy = S.any_object(public_pool=pub, namespaces=(ns, "kube-system", "default"))
    for batch in range(BATCHES):
        label = {"bmlb.io/fuzz": ns, "bmlb.io/batch": str(batch)}
        post = _poster(cluster, ns, strategy, label, batch, stats)
        post()
        selector = ",".join(f"{k}={v}" for k, v in label.items())

        def all_judged(_selector: str = selector) -> bool:
            items = _listed(cluster, ns, _selector)
            return all(_accepted(b) for b in items) and bool(items or True)

        wait_for(f"batch {batch}: every accepted object judged", all_judged, timeout=ACCEPT_TIMEOUT, interval=1.0)
        for body in _listed(cluster, ns, selector):
            cond = _accepted(body)
            assert cond is not None
            stats[f"Accepted {cond['status']}"] += 1
            if cond["status"] == "False":
                assert PATH_FIRST.match(cond["message"]), (body["kind"], body["metadata"]["name"], cond)
        sim.wait_for_jobs()
        most_owned = max(most_owned, check_device(sim))
        assert proc.poll() is None, dump_log(proc)
        for kind in ("SecurityPolicy", "NATRule"):
            cluster.custom.delete_collection_namespaced_custom_object(GROUP, VERSION, ns, PLURALS[kind],
                                                                      label_selector=selector)
        cluster.custom.delete_collection_cluster_custom_object(GROUP, VERSION, "vippools", label_selector=selector)
        wait_for(f"batch {batch} deleted", lambda _s=selector: not _listed(cluster, ns, _s), timeout=90, interval=1.0)

    assert stats["posted"] >= 1000, stats
    assert proc.poll() is None, dump_log(proc)
    cluster.apply(service(ns, "canary", (80, 80), annotations={"bmlb.io/pool": vips}))
    wait_for("the canary's VIP after the storm", lambda: cluster.ingress("canary", ns), timeout=60)
    sim.wait_for_jobs()
    check_device(sim)
    assert most_owned > 0, "no generated object ever reached the firewall"
    elapsed = time.monotonic() - started
    print(f"\nfuzz storm: {stats['posted']} objects posted in {elapsed:.0f}s; "
          f"{dict(sorted(stats.items()))}; up to {most_owned} bmlb objects on the device")
