"""Two owners never share a firewall name: injective names, and the compiler's guard.

Each collision of issue 18 is replayed through the real API server, the controller and the
PAN-OS simulator; what each tenant got is read back from the simulator's running config (the
rule's description names its owner), never from bmlb's compiler.
"""

from __future__ import annotations

import contextlib
import itertools
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kubernetes.client.rest import ApiException

from controller.cli.localcluster import Cluster, wait_for
from controller.core import naming
from controller.core.compiler import compile
from controller.core.snapshot import Snapshot
from firewall.names import is_valid_name
from firewall.sim import Simulator
from tests.controller.conftest import _strip_finalizers
from tests.controller.estate import firewall, nat, policy, pool, service

VSYS = "./devices/entry/vsys/entry[@name='vsys1']"

# Few letters and many dashes: the splits that made the old "-"-joined names collide.
short = st.lists(st.text("ab", min_size=1, max_size=2), min_size=1, max_size=3).map("-".join)
long = st.text("ab-", min_size=38, max_size=58).map(lambda s: f"a{s}b")
part = st.one_of(short, long, st.sampled_from(["a", "a-b", "a-b-c", "b-c", "dev", "dev-web", "web"]))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(part, part, part, part, st.booleans()), min_size=2, max_size=12, unique=True))
def test_security_rule_names_are_injective(owners: list[tuple[str, str, str, str, bool]]) -> None:
    names = {}
    for ns, pol, rule, svc, pub in owners:
        name = naming.name("security_rule", namespace=ns, policy=pol, rule=rule, service=svc, published=pub)
        assert is_valid_name(name), name
        assert names.setdefault(name, (ns, pol, rule, svc, pub)) == (ns, pol, rule, svc, pub), name


@st.composite
def same_text_two_owners(draw: st.DrawFn) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Two different (namespace, policy, rule, service) splits of one dash-joined text: exactly
    what a tenant choosing its names can aim at."""
    tokens = draw(st.lists(st.sampled_from(["a", "b", "ab", "dev", "web", "x" * 20]), min_size=5, max_size=9))
    cuts = st.lists(st.integers(1, len(tokens) - 1), min_size=3, max_size=3, unique=True).map(sorted)
    a = draw(cuts)
    b = draw(cuts.filter(lambda cut: cut != a))

    def split(at: list[int]) -> tuple[str, ...]:
        bounds = [0, *at, len(tokens)]
        return tuple("-".join(tokens[i:j]) for i, j in itertools.pairwise(bounds))
    return split(a), split(b)


@settings(max_examples=150, deadline=None)
@given(same_text_two_owners())
def test_owners_aiming_at_one_text_get_distinct_names(pair: tuple[tuple[str, ...], tuple[str, ...]]) -> None:
    (ns1, p1, r1, s1), (ns2, p2, r2, s2) = pair
    assert (ns1, p1, r1, s1) != (ns2, p2, r2, s2)
    one = naming.name("security_rule", namespace=ns1, policy=p1, rule=r1, service=s1, published=False)
    two = naming.name("security_rule", namespace=ns2, policy=p2, rule=r2, service=s2, published=False)
    assert one != two
    nat1, nat2 = (ns1, "-".join((p1, r1, s1))), (ns2, "-".join((p2, r2, s2)))
    if nat1 != nat2:
        assert naming.name("nat_rule", namespace=nat1[0], name=nat1[1]) != naming.name(
            "nat_rule", namespace=nat2[0], name=nat2[1])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(part, part), min_size=2, max_size=12, unique=True))
def test_nat_rule_and_tag_names_are_injective(owners: list[tuple[str, str]]) -> None:
    nats, tags = {}, {}
    for ns, name in owners:
        n = naming.name("nat_rule", namespace=ns, name=name)
        t = naming.name("namespace_tag", namespace=ns)
        assert is_valid_name(n) and is_valid_name(t)
        assert nats.setdefault(n, (ns, name)) == (ns, name)
        assert tags.setdefault(t, ns) == ns


def test_the_pairs_of_the_issue_get_distinct_names() -> None:
    assert naming.name("nat_rule", namespace="shop", name="dev-web") != naming.name(
        "nat_rule", namespace="shop-dev", name="web")
    sec = lambda ns, p, r: naming.name("security_rule", namespace=ns, policy=p, rule=r, service="fe",  # noqa: E731
                                       published=False)
    assert sec("shop", "dev-fe", "r") != sec("shop-dev", "fe", "r")
    assert sec("shop", "web", "office-vpn") != sec("shop", "web-office", "vpn")
    # The brute-forced pair: two namespaces sharing their first 49 characters, names cut to 63.
    common = "platform-team-customer-facing-storefront-service"
    a = naming.name("security_rule", namespace=common[:49] + "-production"[:12], policy="p", rule="r",
                    service="s", published=False)
    b = naming.name("security_rule", namespace=common[:49] + "-preview-lab"[:12], policy="p", rule="r",
                    service="s", published=False)
    assert a != b and a[:41] == b[:41], "same readable prefix, told apart by 100 bits of hash"


def test_compiler_keeps_the_older_owner_when_names_collide(monkeypatch: pytest.MonkeyPatch) -> None:
    """Even if two identities ever rendered one name, the older owner keeps it and the newer gets
    an error and nothing on the firewall."""
    monkeypatch.setattr(naming, "identity_hash", lambda kind, values: "x" * naming.HASH_CHARS)
    objs = [pool("vips", "10.9.0.0/28"), pool("pub", "198.51.100.0/28", zone="untrust", purpose="Public"),
            firewall()]
    older, newer = "a" * 59 + "x", "a" * 59 + "y"
    for ns, when in ((newer, "2026-02-01T00:00:00Z"), (older, "2026-01-01T00:00:00Z")):
        objs.append(service(ns, "web", (80, 8080)))
        n = nat(ns, "web", "web", 80, pool="pub")
        n["metadata"]["creationTimestamp"] = when
        objs.append(n)
    c = compile(Snapshot.of(objs))
    rules = c.firewalls[0].desired.nat_rules
    assert len(rules) == 1 and rules[0].owner.namespace == older, rules
    loser = [p for p in c.errors if p.code == "NameCollision"]
    assert [p.ref.namespace for p in loser] == [newer] and older not in loser[0].message
    assert not c.report(loser[0].ref).firewall_objects


# --- through the API server, the controller and the simulator ------------------------------


@pytest.fixture
def ns2(cluster: Cluster, ns: str) -> Iterator[str]:
    """A second namespace whose name extends the first: `NS-dev`."""
    name = f"{ns}-dev"
    cluster.core.create_namespace({"metadata": {"name": name}})
    yield name
    _strip_finalizers(cluster, name)
    with contextlib.suppress(ApiException):
        cluster.core.delete_namespace(name)


def running_rules(sim: Simulator, rulebase: str) -> list[ET.Element]:
    root = ET.fromstring(sim.running_xml())
    return root.findall(f"{VSYS}/rulebase/{rulebase}/rules/entry")


def owned_by(rules: list[ET.Element], kind: str, owner: str) -> list[ET.Element]:
    return [r for r in rules if f"owner: {kind} {owner} " in (r.findtext("description") or "")]


def ready(cluster: Cluster, kind: str, name: str, ns: str) -> bool:
    c = cluster.condition(kind, name, ns, "Ready")
    return bool(c and c["status"] == "True")


def test_colliding_owners_each_keep_their_own_rules(cluster: Cluster, ns: str, ns2: str, sim: Simulator,
                                                     firewall_object, run_controller) -> None:
    firewall_object(commit={"debounceSeconds": 0.3})
    cluster.apply(pool(f"{ns}-vips", "10.83.0.0/28", namespaces=[ns, ns2]))
    cluster.apply(pool(f"{ns}-pub", "198.51.100.32/28", zone="untrust", purpose="Public", auto=False,
                       namespaces=[ns, ns2]))
    for n in (ns, ns2):
        cluster.apply(service(n, "web", (443, 8443)))
    cluster.apply(service(ns, "x", (80, 8080)))
    # Pair 1: NATRule NS/dev-web vs NS-dev/web.
    cluster.apply(nat(ns, "dev-web", "web", 443, pool=f"{ns}-pub"))
    cluster.apply(nat(ns2, "web", "web", 443, pool=f"{ns}-pub"))
    # Pair 2: SecurityPolicy NS/dev-fe (allow) vs NS-dev/fe (deny), same rule and Service names.
    cluster.apply(policy(ns, "dev-fe", ["web"], [{"name": "r", "from": {"zones": ["trust"]}}]))
    cluster.apply(policy(ns2, "fe", ["web"], [{"name": "r", "from": {"zones": ["trust"]}, "action": "deny"}]))
    # Pair 3, inside one namespace: policy web rule office-vpn vs policy web-office rule vpn.
    cluster.apply(policy(ns, "web", ["x"], [{"name": "office-vpn", "from": {"zones": ["trust"],
                                                                          "addresses": ["192.0.2.0/24"]}}]))
    cluster.apply(policy(ns, "web-office", ["x"], [{"name": "vpn", "from": {"zones": ["untrust"]},
                                                    "action": "deny"}]))
    run_controller()
    objects = [("NATRule", ns, "dev-web"), ("NATRule", ns2, "web"), ("SecurityPolicy", ns, "dev-fe"),
               ("SecurityPolicy", ns2, "fe"), ("SecurityPolicy", ns, "web"), ("SecurityPolicy", ns, "web-office")]
    for kind, n, name in objects:
        wait_for(f"{kind} {n}/{name} Ready", lambda k=kind, n=n, m=name: ready(cluster, k, m, n), timeout=90)

    nats = running_rules(sim, "nat")
    vip = {n: cluster.ingress("web", n)[0] for n in (ns, ns2)}
    assert vip[ns] != vip[ns2]
    for n, name in ((ns, "dev-web"), (ns2, "web")):
        mine = owned_by(nats, "NATRule", f"{n}/{name}")
        assert len(mine) == 1, f"NATRule {n}/{name} has {len(mine)} rules on the device"
        assert mine[0].findtext("destination-translation/translated-address") == f"bmlb-{vip[n]}"
    sec = running_rules(sim, "security")
    names = [r.get("name") for r in sec]
    assert len(names) == len(set(names))
    for owner, action, zone in ((f"{ns}/dev-fe", "allow", "trust"), (f"{ns2}/fe", "deny", "trust"),
                                (f"{ns}/web", "allow", "trust"), (f"{ns}/web-office", "deny", "untrust")):
        mine = owned_by(sec, "SecurityPolicy", owner)
        assert len(mine) == 1, f"SecurityPolicy {owner} has {len(mine)} rules on the device"
        assert mine[0].findtext("action") == action and mine[0].findtext("from/member") == zone, owner
    office = owned_by(sec, "SecurityPolicy", f"{ns}/web")[0]
    assert [m.text for m in office.findall("source/member")] == ["192.0.2.0/24"], "the office-only rule"
