"""One refused object hurts nobody else (issue 18, item 4), through the real API server, the
`bmlb controller` process and the PAN-OS simulator over HTTPS.

Namespace `good` and namespace `bad` share one Firewall. The simulator refuses a rule of `bad`
(at write, or when committed: `refuse_write` / `refuse_commit` faults match the entry's XML, so
any value the device refuses stands in for `1.2.3.4/99` or a control character). Then:
`good`'s objects become Ready and are on the running config; its conditions say nothing of
`bad`; deleting a `good` object releases its finalizer; writes still go as multi-config; the
refused object alone says DeviceRefused with the device's words about it; fixed, it converges.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes.client.rest import ApiException

from controller.cli.localcluster import Cluster, wait_for
from firewall.sim import Simulator
from tests.controller.conftest import (  # noqa: F401
    _strip_finalizers,
    cluster,
    dump_log,
    firewall_object,
    ns,
    run_controller,
    sim,
)
from tests.controller.estate import nat, policy, pool, service, slice_

WRITE_REFUSED = "10.66.0.0/16"
COMMIT_REFUSED = "10.67.0.0/16"
FIXED = "10.68.0.0/16"


@pytest.fixture
def bad_ns(cluster: Cluster, ns: str) -> Iterator[str]:  # noqa: F811
    name = f"tenant-{secrets.token_hex(4)}"
    cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    yield name
    _strip_finalizers(cluster, name)
    with contextlib.suppress(ApiException):
        cluster.core.delete_namespace(name)


def running(sim: Simulator) -> ET.Element:  # noqa: F811
    return ET.fromstring(sim.running_xml())


def running_rules(sim: Simulator) -> dict[str, str]:  # noqa: F811
    """name -> entry XML of every rule on the running config, read from the simulator."""
    root = running(sim)
    return {e.get("name", ""): ET.tostring(e, encoding="unicode")
            for e in root.iter("entry") if e.find("action") is not None or e.find("destination-translation")
            is not None}


def firewall_names(cluster: Cluster, kind: str, name: str, ns: str) -> list[str]:  # noqa: F811
    st = cluster.get(kind, name, ns).get("status") or {}
    if kind == "NATRule":
        return [n.strip() for n in (st.get("rule") or "").split(",") if n.strip()]
    return list(st.get("rules") or [])


def ready(cluster: Cluster, kind: str, name: str, ns: str) -> bool:  # noqa: F811
    c = cluster.condition(kind, name, ns, "Ready")
    return bool(c and c["status"] == "True")


def publish(cluster: Cluster, ns: str, name: str, public_host: int) -> None:  # noqa: F811
    cluster.apply(service(ns, name, (443, 8443)))
    cluster.apply(slice_(ns, name, [(443, 8443)], [("10.244.1.1", "n1")]))
    cluster.apply(nat(ns, name, name, 443, address=f"198.51.100.{public_host}"))


def estate(cluster: Cluster, good: str, bad: str, firewall_object: Callable[..., Any],  # noqa: F811
           refused: str) -> None:
    firewall_object(commit={"debounceSeconds": 0.3})
    cluster.apply(pool(f"{good}-vips", "10.80.0.0/28", namespaces=[good, bad]))
    cluster.apply(pool(f"{good}-pub", "198.51.100.0/29", zone="untrust", purpose="Public", auto=False,
                       namespaces=[good, bad]))
    publish(cluster, good, "web", 2)
    cluster.apply(policy(good, "web", ["web"], [{"name": "inet", "from": {"zones": ["untrust"]}}]))
    cluster.apply(policy(good, "office", ["web"], [{"name": "lan", "from": {"zones": ["trust"]}}]))
    publish(cluster, bad, "api", 3)
    cluster.apply(policy(bad, "api", ["api"], [{"name": "ok", "from": {"zones": ["trust"]}}]))
    cluster.apply(policy(bad, "leak", ["api"], [{"name": "evil", "from": {"zones": ["untrust"],
                                                                           "addresses": [refused]}}]))


def conditions_text(cluster: Cluster, kind: str, name: str, ns: str) -> str:  # noqa: F811
    st = cluster.get(kind, name, ns).get("status") or {}
    return json.dumps(st.get("conditions") or [])


def scenario(cluster: Cluster, good: str, bad: str, sim: Simulator, proc: Any,  # noqa: F811
             refused: str) -> None:
    def log() -> str:
        return dump_log(proc)

    # The good namespace converges: Ready, and its rules on the running config.
    for kind, name in (("NATRule", "web"), ("SecurityPolicy", "web"), ("SecurityPolicy", "office")):
        try:
            # Ready alone can come first from a compile that did not see the Service yet
            # (SelectsNothing is a warning): wait for the rules it names too
            wait_for(f"{good} {kind}/{name} Ready with its rules",
                     lambda k=kind, n=name: ready(cluster, k, n, good) and firewall_names(cluster, k, n, good),
                     timeout=60)
        except AssertionError as err:
            raise AssertionError(f"{err}\n{conditions_text(cluster, kind, name, good)}\n{log()}") from None
    good_names = [n for kind, name in (("NATRule", "web"), ("SecurityPolicy", "web"), ("SecurityPolicy", "office"))
                  for n in firewall_names(cluster, kind, name, good)]
    assert len(good_names) >= 3
    wait_for("good rules on the running config", lambda: set(good_names) <= set(running_rules(sim)), timeout=30)
    # So do the bad namespace's other objects.
    wait_for("bad ns NATRule Ready", lambda: ready(cluster, "NATRule", "api", bad), timeout=30)
    assert ready(cluster, "SecurityPolicy", "api", bad)

    # The refused object says so, with the device's words about it, and is not on the device.
    cond = wait_for("the refused policy says DeviceRefused",
                    lambda: (c := cluster.condition("SecurityPolicy", "leak", bad, "FirewallSynced"))
                    and c["status"] == "False" and c, timeout=30)
    assert cond["reason"] == "DeviceRefused", cond
    leak_names = firewall_names(cluster, "SecurityPolicy", "leak", bad)
    assert leak_names and any(n in cond["message"] for n in leak_names), cond
    assert refused in cond["message"], cond
    assert not any(refused in xml for xml in running_rules(sim).values())
    for other in good_names:
        assert other not in cond["message"], cond

    # Nothing of the bad namespace in any good condition, nor the device's words about it.
    for kind, name in (("NATRule", "web"), ("SecurityPolicy", "web"), ("SecurityPolicy", "office")):
        text = conditions_text(cluster, kind, name, good)
        assert bad not in text and refused not in text and "leak" not in text, text
        assert not any(n in text for n in leak_names), text
    for _, reason, message in cluster.events(good, "web") + cluster.events(good, "office"):
        assert bad not in message and refused not in message, (reason, message)

    # Settled: nothing of ours pending, no commit while nothing changes (no commit that fails each time).
    sim.wait_for_jobs()
    wait_for("nothing pending", lambda: sim.pending_admins() == [], timeout=20)
    time.sleep(1.5)
    before = sim.stats_snapshot()
    time.sleep(2.0)
    after = sim.stats_snapshot()
    assert after["commits"] == before["commits"] and after["writes"] == before["writes"], log()

    # Multi-config is still on: a change of the good namespace goes as multi-config, no single write.
    sim.reset_stats()
    cluster.apply(policy(good, "web", ["web"], [{"name": "inet", "from": {"zones": ["untrust"]}},
                                                {"name": "dmz", "from": {"zones": ["dmz"]}},
                                                {"name": "lan", "from": {"zones": ["trust"]}}]))
    wait_for("the change is on the running config",
             lambda: len(firewall_names(cluster, "SecurityPolicy", "web", good)) == 3
             and set(firewall_names(cluster, "SecurityPolicy", "web", good)) <= set(running_rules(sim)), timeout=60)
    requests = sim.stats_snapshot()["requests"]
    singles = sum(requests.get(f"config.{a}", 0) for a in ("set", "edit", "delete", "move"))
    assert requests.get("config.multi-config", 0) >= 1 and singles == 0, requests

    # Deleting a good object releases its finalizer; its rules leave the firewall.
    office = firewall_names(cluster, "SecurityPolicy", "office", good)
    cluster.delete("SecurityPolicy", "office", good)
    wait_for("finalizer released", lambda: cluster.gone("SecurityPolicy", "office", good), timeout=30)
    wait_for("office rules removed", lambda: not set(office) & set(running_rules(sim)), timeout=30)

    # Fixed, the refused object converges.
    cluster.apply(policy(bad, "leak", ["api"], [{"name": "evil", "from": {"zones": ["untrust"],
                                                                           "addresses": [FIXED]}}]))
    wait_for("fixed policy Ready", lambda: ready(cluster, "SecurityPolicy", "leak", bad), timeout=60)
    fixed = firewall_names(cluster, "SecurityPolicy", "leak", bad)
    wait_for("fixed rule on the running config",
             lambda: any(FIXED in running_rules(sim).get(n, "") for n in fixed), timeout=30)
    assert re.search(r"Synced", conditions_text(cluster, "SecurityPolicy", "leak", bad))


def test_refused_at_write(cluster: Cluster, ns: str, bad_ns: str, sim: Simulator,  # noqa: F811
                          firewall_object: Callable[..., Any], run_controller: Callable[..., Any]) -> None:  # noqa: F811
    sim.faults.add("refuse_write", pattern=re.escape(WRITE_REFUSED))
    estate(cluster, ns, bad_ns, firewall_object, WRITE_REFUSED)
    proc = run_controller()
    scenario(cluster, ns, bad_ns, sim, proc, WRITE_REFUSED)


def test_refused_at_commit(cluster: Cluster, ns: str, bad_ns: str, sim: Simulator,  # noqa: F811
                           firewall_object: Callable[..., Any], run_controller: Callable[..., Any]) -> None:  # noqa: F811
    sim.faults.add("refuse_commit", pattern=re.escape(COMMIT_REFUSED))
    estate(cluster, ns, bad_ns, firewall_object, COMMIT_REFUSED)
    proc = run_controller()
    scenario(cluster, ns, bad_ns, sim, proc, COMMIT_REFUSED)
