"""The fault suite's harness: a small estate, convergence, and the invariant counts.

Invariants (all must be 0 after every scenario):
  lost             flows the manifests ask for (security: zone, zone, source, destination value,
                   port, action; NAT: the same and the translated address value and port) that the
                   running config does not have: tests/faults/oracle.py, not bmlb's compiler; and
                   routed destinations with fewer good next hops than wanted (route_oracle.py)
  duplicates       two firewall objects for one desired object (same NAT public ip:port, same
                   security rule content, same address value, same route destination + next hop)
  foreign_touched  non-bmlb entries (no ownership tag, not inside one of bmlb's) changed, added or
                   removed, or reordered
  re_ips           Services whose ingress changed across the scenario
  stray_commits    commits by bmlb's admin that carried another admin's changes or changed
                   nothing, and commit requests with nothing to commit
and `stale`: flows of bmlb's rules that nothing asks for, bmlb's address/service objects no
rule of bmlb refers to (convergence of deletions), and static routes of bmlb's that are not
wanted or wrong in an attribute (next hop, metric, interface, path monitor).
The agents' IPVS tables are judged in their scenarios (tests/faults/ipvs_oracle.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from typing import Any

from controller.cli.localcluster import Cluster, wait_for
from firewall.sim import Simulator
from firewall.sim.changes import Change
from tests.controller.estate import nat, policy, pool, service, slice_
from tests.faults import oracle, route_oracle

TAG = "bmlb-managed"
ADMIN = "admin"  # the admin the controller's API key belongs to
VSYS = "/config/devices/entry[@name='localhost.localdomain']/vsys/entry[@name='vsys1']"
SEC = f"{VSYS}/rulebase/security/rules"
NAT = f"{VSYS}/rulebase/nat/rules"
_VSYS_ET = "devices/entry/vsys/entry[@name='vsys1']"


@dataclass
class Counts:
    lost: int = 0
    duplicates: int = 0
    foreign_touched: int = 0
    re_ips: int = 0
    stray_commits: int = 0
    stale: int = 0
    details: list[str] = field(default_factory=list)

    def add(self, other: Counts) -> None:
        for f in fields(self):
            if f.name != "details":
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        self.details += other.details

    @property
    def clean(self) -> bool:
        return not any(getattr(self, f.name) for f in fields(self) if f.name != "details")

    def line(self) -> str:
        return (f"lost={self.lost} duplicates={self.duplicates} foreign_touched={self.foreign_touched} "
                f"re_ips={self.re_ips} stray_commits={self.stray_commits} stale={self.stale}")


# ---------------------------------------------------------------------------- commits


@dataclass
class CommitRecord:
    admin: str
    partial_for: tuple[str, ...] | None  # None: a full commit
    change_admins: frozenset[str]
    ids: frozenset[int]
    ok: bool | None = None
    changed_running: bool | None = None
    no_job: bool = False  # the request found nothing to commit


class CommitRecorder:
    """Wraps the simulated device's commit path (in-process) to record what each commit carried."""

    def __init__(self, sim: Simulator) -> None:
        self.records: list[CommitRecord] = []
        dev = sim.device
        orig_commit, orig_finish = dev.commit, dev._finish_commit

        def commit(admin: str, *, admins: list[str] | None, force: bool = False, description: str = "") -> Any:
            with dev.lock:
                todo = [c for c in dev.changes if c.id not in dev._in_flight and (admins is None or c.admin in admins)]
                job = orig_commit(admin, admins=admins, force=force, description=description)
                record = CommitRecord(admin, tuple(admins) if admins is not None else None,
                                      frozenset(c.admin for c in todo), frozenset(c.id for c in todo))
                if job is None:  # a commit request with nothing to commit: the device answers, no job
                    record.ok, record.changed_running, record.no_job = True, False, True
                self.records.append(record)
                return job

        def finish(ids: set[int], snapshot: Any, replay: list[Change], failure: Any,
                   *known: Any) -> tuple[bool, list[str]]:
            with dev.lock:
                before = ET.tostring(dev.running)
                ok, lines = orig_finish(ids, snapshot, replay, failure, *known)
                changed = ET.tostring(dev.running) != before
            for r in self.records:
                if r.ids == frozenset(ids) and r.ok is None and not r.no_job:
                    r.ok, r.changed_running = ok, changed
                    break
            return ok, lines

        dev.commit = commit  # type: ignore[method-assign]
        dev._finish_commit = finish  # type: ignore[method-assign]

    def stray(self, since: int, admin: str = ADMIN) -> list[str]:
        out = []
        for i, r in enumerate(self.records[since:], since):
            if r.admin != admin:
                continue
            foreign = sorted(r.change_admins - {admin})
            if foreign:
                out.append(f"commit #{i} by {admin} carried changes of {foreign}")
            elif r.no_job:
                out.append(f"commit request #{i} by {admin} with nothing to commit")
            elif r.ok and r.changed_running is False:
                out.append(f"commit #{i} by {admin} changed nothing")
        return out

    def by(self, admin: str = ADMIN) -> list[CommitRecord]:
        """Commits (jobs) by `admin`; requests that found nothing to commit are left out."""
        return [r for r in self.records if r.admin == admin and not r.no_job]


# ---------------------------------------------------------------------------- firewall views


def _is_owned(entry: ET.Element, container: str) -> bool:
    name = entry.get("name") or ""
    if container in ("tag", "static-route"):
        return name == TAG or name.startswith("bmlb-")
    return any((m.text or "").strip() == TAG for m in entry.findall("tag/member"))


def _leaves(root: ET.Element) -> dict[str, tuple[str, bool]]:
    """Every named leaf entry (no named entries inside) by its path: (canonical xml, owned)."""
    out: dict[str, tuple[str, bool]] = {}

    def walk(node: ET.Element, path: str, parent_tag: str, owned_above: bool) -> None:
        for child in node:
            here = f"{path}/{child.tag}"
            owned = owned_above
            if child.tag == "entry":
                here = f"{path}/entry[{child.get('name')}]"
                owned = owned or _is_owned(child, parent_tag)  # inside one of bmlb's entries: bmlb's
                if child.find(".//entry") is None:
                    out[here] = (ET.tostring(child, encoding="unicode"), owned)
                    continue
            walk(child, here, child.tag, owned)

    walk(root, "", "", False)
    return out


def _foreign_order(root: ET.Element) -> dict[str, list[str]]:
    out = {}
    for rb in ("security", "nat"):
        rules = root.findall(f"{_VSYS_ET}/rulebase/{rb}/rules/entry")
        out[rb] = [r.get("name") or "" for r in rules if not _is_owned(r, "rules")]
    return out


def _foreign_view(sim: Simulator) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for which, xml in (("running", sim.running_xml()), ("candidate", sim.candidate_xml())):
        root = ET.fromstring(xml)
        out[which] = ({p: x for p, (x, owned) in _leaves(root).items() if not owned}, _foreign_order(root))
    return out


def _owned_on_device(root: ET.Element) -> dict[str, dict[str, ET.Element]]:
    vsys = root.find(_VSYS_ET)
    assert vsys is not None
    conts = {"tag": vsys.find("tag"), "address": vsys.find("address"), "service": vsys.find("service"),
             "security": vsys.find("rulebase/security/rules"), "nat": vsys.find("rulebase/nat/rules"),
             "route": root.find("devices/entry/network/virtual-router/entry/routing-table/ip/static-route")}
    out: dict[str, dict[str, ET.Element]] = {}
    for kind, cont in conts.items():
        entries = cont.findall("entry") if cont is not None else []
        parent = {"tag": "tag", "route": "static-route"}.get(kind, kind)
        out[kind] = {e.get("name") or "": e for e in entries if _is_owned(e, parent)}
    return out


def _members(e: ET.Element, path: str) -> tuple[str, ...]:
    return tuple(sorted((m.text or "").strip() for m in e.findall(f"{path}/member")))


def _duplicates(owned: dict[str, dict[str, ET.Element]], all_addresses: dict[str, str]) -> list[str]:
    out = []
    values = Counter(e.findtext("ip-netmask") or e.findtext("ip-range") or "" for e in owned["address"].values())
    out += [f"address value {v} held by {n} objects" for v, n in values.items() if n > 1]
    ports = {n: (e.findtext("protocol/tcp/port") or e.findtext("protocol/udp/port") or "")
             for n, e in owned["service"].items()}
    nat_keys: Counter[tuple[Any, ...]] = Counter()
    for e in owned["nat"].values():
        dst = tuple(sorted(all_addresses.get(m, m) for m in _members(e, "destination")))
        svc = e.findtext("service") or "any"
        nat_keys[(dst, ports.get(svc, svc))] += 1
    out += [f"public {k} published by {n} NAT rules" for k, n in nat_keys.items() if n > 1]
    sec_keys: Counter[tuple[Any, ...]] = Counter()
    for e in owned["security"].values():
        fields_ = ("from", "to", "source", "destination", "service", "application")
        sec_keys[(*(_members(e, p) for p in fields_), e.findtext("action"))] += 1
    out += [f"security rule {k} present {n} times" for k, n in sec_keys.items() if n > 1]
    return out


# ---------------------------------------------------------------------------- the cluster's view


def ingress_map(cluster: Cluster, ns: str) -> dict[str, tuple[str, ...]]:
    out = {}
    for s in cluster.core.list_namespaced_service(ns).items:
        lb = s.status.load_balancer if s.status else None
        out[s.metadata.name] = tuple(i.ip for i in (lb.ingress or [])) if lb else ()
    return out


class Invariants:
    """Snapshot before the fault (`baseline`), count after convergence (`check`)."""

    def __init__(self, cluster: Cluster, sim: Simulator, ns: str) -> None:
        self.cluster, self.sim, self.ns = cluster, sim, ns
        self.commits = CommitRecorder(sim)
        self._foreign: dict[str, Any] = {}
        self._ingress: dict[str, tuple[str, ...]] = {}
        self._since = 0

    def baseline(self) -> None:
        self.sim.wait_for_jobs()
        self._foreign = _foreign_view(self.sim)
        self._ingress = ingress_map(self.cluster, self.ns)
        self._since = len(self.commits.records)

    def rebase_foreign(self, *which: str) -> None:
        """Accept the foreign config as it is now (after a scenario's own foreign admin acted)."""
        self.sim.wait_for_jobs()
        now = _foreign_view(self.sim)
        for w in which or ("running", "candidate"):
            self._foreign[w] = now[w]

    def firewall_state(self) -> Counts:
        """lost, duplicates and stale: the running config against the independent oracle
        (tests/faults/oracle.py: flows from the manifests, compared by attributes)."""
        c = Counts()
        xml = self.sim.running_xml()
        for verdict, what in oracle.compare(oracle.cluster_flows(self.cluster), oracle.device_flows(xml, TAG)):
            setattr(c, verdict, getattr(c, verdict) + 1)
            c.details.append(f"{verdict} {what}")
        left = oracle.unreferenced_owned(xml, TAG)
        c.stale += len(left)
        c.details += [f"stale {x} (no rule of bmlb refers to it)" for x in left]
        root = ET.fromstring(xml)
        owned = _owned_on_device(root)
        routing, want = route_oracle.cluster_routes(self.cluster, lease_namespace=self.ns)
        for verdict, what in route_oracle.compare(routing, want, route_oracle.device_routes(xml)):
            setattr(c, verdict, getattr(c, verdict) + 1)
            c.details.append(f"{verdict} {what}")
        vsys = root.find(_VSYS_ET)
        assert vsys is not None
        addresses = {e.get("name") or "": e.findtext("ip-netmask") or "" for e in vsys.findall("address/entry")}
        dups = _duplicates(owned, addresses)
        c.duplicates += len(dups)
        c.details += dups
        return c

    def converged(self) -> bool:
        return self.firewall_state().clean and ADMIN not in self.sim.pending_admins()

    def check(self, *, ignore_services: Iterable[str] = (), changed_ips: Iterable[str] = ()) -> Counts:
        self.sim.wait_for_jobs()
        c = self.firewall_state()
        now = _foreign_view(self.sim)
        for which in ("running", "candidate"):
            before, order_before = self._foreign[which]
            after, order_after = now[which]
            touched = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
            c.foreign_touched += len(touched)
            c.details += [f"foreign {which} {p} touched" for p in touched]
            if order_before != order_after:
                c.foreign_touched += 1
                c.details.append(f"foreign {which} rule order {order_before} -> {order_after}")
        skip = set(ignore_services) | set(changed_ips)
        ingress = ingress_map(self.cluster, self.ns)
        for name, ips in self._ingress.items():
            if name in skip or name not in ingress or not ips:
                continue
            if ingress[name] != ips:
                c.re_ips += 1
                c.details.append(f"Service {name} re-IPed {ips} -> {ingress[name]}")
        stray = self.commits.stray(self._since)
        c.stray_commits += len(stray)
        c.details += stray
        return c


# ---------------------------------------------------------------------------- the estate


def foreign_setup(sim: Simulator) -> None:
    """Another admin's objects, committed: an address, two security rules and a NAT rule."""
    alice = sim.as_admin("alice")
    alice.set(f"{VSYS}/address", "<entry name='corp-dns'><ip-netmask>192.168.50.53/32</ip-netmask></entry>")
    alice.set(SEC, "<entry name='corp-allow-dns'><from><member>trust</member></from><to><member>dmz</member></to>"
                   "<source><member>any</member></source><destination><member>corp-dns</member></destination>"
                   "<application><member>dns</member></application><service><member>application-default</member>"
                   "</service><action>allow</action></entry>")
    alice.set(SEC, "<entry name='corp-deny-all'><from><member>any</member></from><to><member>any</member></to>"
                   "<source><member>any</member></source><destination><member>any</member></destination>"
                   "<application><member>any</member></application><service><member>any</member></service>"
                   "<action>deny</action></entry>")
    alice.set(NAT, "<entry name='corp-nat'><from><member>untrust</member></from><to><member>untrust</member></to>"
                   "<source><member>any</member></source><destination><member>corp-dns</member></destination>"
                   "<service>any</service><destination-translation><translated-address>192.168.50.53"
                   "</translated-address></destination-translation></entry>")
    alice.commit(partial=True)


SERVICES = {"web": (443, 8443), "api": (8080, 8080), "metrics": (9100, 9100)}


def estate(cluster: Cluster, ns: str, firewall_object: Callable[..., Any], **firewall_spec: Any) -> None:
    commit = {"debounceSeconds": 0.3, **firewall_spec.pop("commit", {})}
    firewall_object(commit=commit, **firewall_spec)
    cluster.apply(pool(f"{ns}-vips", "10.80.0.0/28", namespaces=[ns]))
    cluster.apply(pool(f"{ns}-pub", "198.51.100.0/29", zone="untrust", purpose="Public", auto=False,
                       namespaces=[ns]))
    for i, (name, (port, target)) in enumerate(SERVICES.items()):
        cluster.apply(service(ns, name, (port, target)))
        cluster.apply(slice_(ns, name, [(port, target)], [(f"10.244.1.{i + 1}", "n1"), (f"10.244.2.{i + 1}", "n2")]))
    cluster.apply(nat(ns, "web", "web", 443, pool=f"{ns}-pub"))
    cluster.apply(nat(ns, "api", "api", 8080, address="198.51.100.7"))
    cluster.apply(policy(ns, "edge", ["web", "api"], [{"name": "inet", "from": {"zones": ["untrust"]}},
                                                      {"name": "office", "from": {"zones": ["trust"]}}]))


def publish(fx: Any, name: str, port: int, host: int | None = None) -> None:
    """A firewall-relevant change: a new Service published at an explicit public address."""
    fx.cluster.apply(service(fx.ns, name, (port, port)))
    fx.cluster.apply(nat(fx.ns, name, name, port, address=f"198.51.100.{host if host is not None else 2}"))


def ready(cluster: Cluster, kind: str, name: str, ns: str | None) -> bool:
    c = cluster.condition(kind, name, ns, "Ready")
    return bool(c and c["status"] == "True")


def all_ready(cluster: Cluster, ns: str) -> bool:
    crs = [("NATRule", n) for n in _names(cluster, ns, "natrules")] + \
          [("SecurityPolicy", n) for n in _names(cluster, ns, "securitypolicies")]
    return all(ready(cluster, k, n, ns) for k, n in crs) and \
        (cluster.condition("Firewall", "edge", None, "FirewallSynced") or {}).get("status") == "True"


def _names(cluster: Cluster, ns: str, plural: str) -> list[str]:
    items = cluster.custom.list_namespaced_custom_object("bmlb.io", "v1alpha1", ns, plural)["items"]
    return [i["metadata"]["name"] for i in items if not i["metadata"].get("deletionTimestamp")]


def firewall_reason(cluster: Cluster) -> str:
    return (cluster.condition("Firewall", "edge", None, "FirewallSynced") or {}).get("reason", "")


def kill9(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def wait_stats(sim: Simulator, pred: Callable[[dict[str, Any]], bool], what: str, timeout: float = 30.0,
               interval: float = 0.01) -> dict[str, Any]:
    return wait_for(what, lambda: (s := sim.stats_snapshot()) and pred(s) and s, timeout=timeout, interval=interval)
