"""`bmlb audit`: the pure core, the renderings, the CLI on manifests, and end to end against the real
API server, the controller and the PAN-OS simulator, with the HTML report opened in headless Chromium."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.cli import audit_render
from controller.cli.localcluster import ROOT, Cluster, wait_for
from controller.core import naming
from controller.core.audit import AuditReport, OwnerStatus, Row, audit
from controller.core.audit_findings import NatMismatch
from controller.core.audit_inputs import parse_owner
from controller.core.compiler import compile
from controller.core.snapshot import Snapshot
from firewall import diff, sync
from firewall.config import SyncConfig
from firewall.device import Credentials, Endpoint, connect
from firewall.model import (
    Action,
    AddressObject,
    DesiredFirewall,
    NatRule,
    Owner,
    SecurityRule,
    ServiceObject,
    Tag,
)
from firewall.sim import Simulator
from firewall.sim.defaults import VSYS1_XPATH as VSYS
from tests.controller.conftest import dump_log
from tests.controller.estate import firewall, nat, policy, pool, service

NS = "shop"


def bodies(*, vip: str = "10.80.0.1", nat_rule: bool = True, nat_uid: str = "uid-nat-web", nat_gen: int = 2,
           addresses: list[str] | None = None) -> list[dict[str, Any]]:
    n = nat(NS, "web", "web", 443, address="198.51.100.7", zones=("untrust",))
    n["metadata"].update(uid=nat_uid, generation=nat_gen)
    rule: dict[str, Any] = {"name": "office", "from": {"zones": ["trust"]}}
    if addresses:
        rule["from"]["addresses"] = addresses
    out = [pool("vips", "10.80.0.0/28", zone="k8s"), pool("pub", "198.51.100.0/29", zone="untrust",
                                                          purpose="Public", auto=False),
           service(NS, "web", (443, 8443), ingress=[vip]),
           policy(NS, "web", ["web"], [{"name": "inet", "from": {"zones": ["untrust"]}}, rule]),
           firewall("edge")]
    return [*out, n] if nat_rule else out


def desired_of(objs: list[dict[str, Any]]) -> tuple[Snapshot, DesiredFirewall]:
    snap = Snapshot.of(objs)
    compiled = compile(snap)
    target = compiled.firewall("edge")
    assert target is not None and not compiled.errors, compiled.errors
    return snap, target.desired


def as_read(desired: DesiredFirewall) -> DesiredFirewall:
    """What firewall.reader.read_owned returns after a sync of `desired`: owners unknown, tags added."""
    want = diff.wanted(desired, SyncConfig(ownership_tag=desired.ownership_tag))
    objs = [dataclasses.replace(o, owner=None) if hasattr(o, "owner") else o for o in want.values()]

    def of(t: type) -> tuple[Any, ...]:
        return tuple(o for o in objs if type(o) is t)

    return DesiredFirewall(desired.ownership_tag, of(Tag), of(AddressObject), of(ServiceObject), of(SecurityRule),
                           of(NatRule))


def rows(report: AuditReport) -> dict[str, Row]:
    return {r.name: r for r in report.rows}


def test_parse_owner_one_place() -> None:
    text = ("Publishes Service shop/web:443 at 198.51.100.7:443 -> 10.80.0.1:443 (NATRule shop/web). "
            "owner: NATRule shop/web uid=1f0c-aa gen=7. Managed by bmlb: do not edit.")
    assert parse_owner(text) == Owner("NATRule", "shop", "web", "1f0c-aa", 7)
    assert parse_owner("owner: VIPPool vips uid=- gen=1.") == Owner("VIPPool", "", "vips", "", 1)
    assert parse_owner("hand-written") is None


def test_clean_estate_maps_every_object_to_its_owner() -> None:
    snap, desired = desired_of(bodies())
    report = audit(actual=as_read(desired), desired=desired, snapshot=snap, firewall="edge")
    assert report.clean() and not report.drift and not report.nat_mismatches
    by = rows(report)
    nat_row = by[f"bmlb-nat_{NS}_web"]
    assert (nat_row.kind, nat_row.status, nat_row.owner) == ("nat", OwnerStatus.PRESENT,
                                                             Owner("NATRule", NS, "web", "uid-nat-web", 2))
    assert by["bmlb-10.80.0.1"].owner == Owner("Service", NS, "web", f"uid-{NS}-web", 1)
    assert by[f"bmlb_{NS}_web_office_web"].owner == Owner("SecurityPolicy", NS, "web", "uid-pol-web", 3)
    assert by["bmlb-managed"].status is OwnerStatus.SHARED and by["bmlb-tcp-443"].status is OwnerStatus.SHARED
    # Neither rule names source addresses: both expose web to any source, one directly, one published.
    exposed = {a.name: a.exposed for a in report.any_source}
    assert exposed == {f"bmlb_{NS}_web_inet_web_pub": (f"{NS}/web",), f"bmlb_{NS}_web_office_web": (f"{NS}/web",)}
    assert not report.clean(strict=True)


def test_any_source_only_for_allow_rules_open_to_any() -> None:
    snap, desired = desired_of(bodies(addresses=["10.1.0.0/16"]))
    actual = as_read(desired)
    deny = [dataclasses.replace(r, action=Action.DENY) if "inet" in r.name else r for r in actual.security_rules]
    report = audit(actual=dataclasses.replace(actual, security_rules=tuple(deny)), desired=desired, snapshot=snap)
    assert report.any_source == ()


def test_orphan_when_the_owner_is_gone() -> None:
    _, before = desired_of(bodies())
    snap, after = desired_of(bodies(nat_rule=False))
    report = audit(actual=as_read(before), desired=after, snapshot=snap)
    orphans = {r.name: r.owner for r in report.orphans}
    assert orphans == {f"bmlb-nat_{NS}_web": Owner("NATRule", NS, "web", "uid-nat-web", 2),
                       "bmlb-198.51.100.7": Owner("NATRule", NS, "web", "uid-nat-web", 2)}
    assert (("nat", f"bmlb-nat_{NS}_web", "unexpected") in
            {(d.kind, d.name, d.attribute) for d in report.drift})
    # The published security rule is no longer desired either, but its owner is still there.
    pub = rows(report)[f"bmlb_{NS}_web_inet_web_pub"]
    assert pub.status is OwnerStatus.PRESENT and not pub.desired
    assert not report.clean()


def test_stale_uid_and_generation_behind() -> None:
    _, before = desired_of(bodies())
    snap, after = desired_of(bodies(nat_uid="uid-recreated"))
    report = audit(actual=as_read(before), desired=after, snapshot=snap)
    row = rows(report)[f"bmlb-nat_{NS}_web"]
    assert (row.status, row.cluster_uid) == (OwnerStatus.STALE_UID, "uid-recreated")
    assert ("description" in {d.attribute for d in report.drift if d.name == row.name})

    snap, after = desired_of(bodies(nat_gen=5))
    report = audit(actual=as_read(before), desired=after, snapshot=snap)
    row = rows(report)[f"bmlb-nat_{NS}_web"]
    assert (row.status, row.cluster_generation) == (OwnerStatus.GENERATION_BEHIND, 5)
    assert not report.clean()


def test_drift_per_attribute() -> None:
    snap, desired = desired_of(bodies())
    actual = as_read(desired)
    name = f"bmlb_{NS}_web_office_web"
    edited = tuple(dataclasses.replace(r, action=Action.DENY, sources=("10.9.9.9",)) if r.name == name else r
                   for r in actual.security_rules)
    gone = tuple(a for a in actual.addresses if a.name != "bmlb-198.51.100.7")
    report = audit(actual=dataclasses.replace(actual, security_rules=edited, addresses=gone), desired=desired,
                   snapshot=snap)
    got = {(d.name, d.attribute, d.expected, d.actual) for d in report.drift}
    assert got == {(name, "action", "allow", "deny"), (name, "sources", "any", "10.9.9.9"),
                   ("bmlb-198.51.100.7", "missing", "present", "absent")}
    assert next(d for d in report.drift if d.attribute == "action").owner == Owner("SecurityPolicy", NS, "web",
                                                                                   "uid-pol-web", 3)
    # Without its address object the NAT rule's destination no longer resolves; the VIP still does.
    assert report.nat_mismatches == ()


def test_nat_mismatch_when_the_vip_moved() -> None:
    _, before = desired_of(bodies(vip="10.80.0.1"))
    snap, after = desired_of(bodies(vip="10.80.0.9"))
    report = audit(actual=as_read(before), desired=after, snapshot=snap)
    rule = f"bmlb-nat_{NS}_web"
    assert report.nat_mismatches == (NatMismatch(
        rule, "bmlb-10.80.0.1", "10.80.0.1", f"{NS}/web", ("10.80.0.9",),
        f"translates to 10.80.0.1, but the VIP of Service {NS}/web is 10.80.0.9",
        Owner("NATRule", NS, "web", "uid-nat-web", 2)),)
    drift = {(d.name, d.attribute): (d.expected, d.actual) for d in report.drift}
    assert drift[(rule, "translated_address")] == ("bmlb-10.80.0.9", "bmlb-10.80.0.1")
    assert drift[("bmlb-10.80.0.9", "missing")] == ("present", "absent")


def test_renderings_escape_and_list_rows() -> None:
    snap, desired = desired_of(bodies(vip="10.80.0.9"))
    _, before = desired_of(bodies(vip="10.80.0.1"))
    report = audit(actual=as_read(before), desired=desired, snapshot=snap, firewall="edge",
                   source=(("cluster", "<script>alert(1)</script>"),))
    out = audit_render.text(report)
    assert out.startswith("Firewall edge (ownership tag bmlb-managed):") and "NAT MISMATCHES" in out
    assert f"bmlb-nat_{NS}_web" in out and "DRIFT" in out
    data = json.loads(audit_render.as_json(report))
    assert data["summary"]["nat_mismatches"] == 1 and data["clean"] is False
    assert data["objects"][0]["status"] in {"shared", "present"}
    html = audit_render.html(report)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert f'id="nat-mismatch-bmlb-nat_{NS}_web"' in html and 'id="count-nat_mismatches" data-count="1"' in html
    assert "http://" not in html and "https://" not in html and "<link" not in html  # self-contained


# ---------------------------------------------------------------------------- the CLI


def bmlb(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "controller.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          env=env, timeout=timeout)


def test_cli_on_manifests_against_the_simulator(sim: Simulator, tmp_path: Path) -> None:
    objs = bodies()
    fw = objs[4]
    fw["spec"].update(host=sim.host, port=sim.port, caBundle=Path(sim.ca_file).read_text(),
                      credentialsSecret={"name": "creds", "namespace": "bmlb-system"})
    objs.append({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds", "namespace": "bmlb-system"},
                 "data": {"apiKey": base64.b64encode(sim.api_key("admin").encode()).decode()}})
    (tmp_path / "estate.yaml").write_text(yaml.safe_dump_all(objs))
    _, desired = desired_of(objs)
    device = connect(Endpoint(sim.host, sim.port, ca_bundle=sim.ca_file), Credentials(api_key=sim.api_key()))
    sync.sync(desired, device, config=SyncConfig(admin="admin"))
    sim.wait_for_jobs()

    clean = bmlb("audit", "-f", str(tmp_path / "estate.yaml"), "-o", "json")
    assert clean.returncode == 0, clean.stderr
    data = json.loads(clean.stdout)
    assert data["summary"]["objects"] == len(data["objects"]) > 5 and data["summary"]["drift"] == 0
    assert bmlb("audit", "-f", str(tmp_path / "estate.yaml"), "--strict").returncode == 1

    sim.as_admin("alice").edit(f"{VSYS}/rulebase/security/rules/entry[@name='bmlb_{NS}_web_office_web']/action",
                               "<action>deny</action>")
    sim.as_admin("alice").commit()
    drifted = bmlb("audit", "-f", str(tmp_path / "estate.yaml"))
    assert drifted.returncode == 1, drifted.stderr
    assert f"bmlb_{NS}_web_office_web" in drifted.stdout and "action" in drifted.stdout

    bad_key = tmp_path / "key"
    bad_key.write_text("not-a-key")
    err = bmlb("audit", "-f", str(tmp_path / "estate.yaml"), "--api-key-file", str(bad_key))
    assert err.returncode == 2 and "AuthFailed" in err.stderr


# ---------------------------------------------------------------------------- end to end

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage"]


def chromium() -> str:
    """The Chromium binary; installed with apt-get when missing; the test skips only if that fails."""
    for name in ("chromium", "chromium-browser"):
        if found := shutil.which(name):
            return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=300)
            subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], env=env, capture_output=True,
                           timeout=900)
        if found := shutil.which("chromium"):
            return found
    pytest.skip("Chromium is not installed and could not be installed with apt-get (Debian package `chromium`)")


def browse(binary: str, what: str, page: Path, tmp: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    profile = tempfile.mkdtemp(prefix="chromium-", dir=tmp)
    return subprocess.run([binary, *CHROMIUM_FLAGS, *extra, f"--user-data-dir={profile}", what, page.as_uri()],
                          cwd=tmp, capture_output=True, text=True, timeout=120)


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", head
    return struct.unpack(">II", head[16:24])


def test_audit_end_to_end_html_in_chromium(cluster: Cluster, ns: str, sim: Simulator, firewall_object,
                                           run_controller, apiserver: Any, tmp_path: Path) -> None:
    browser = chromium()
    firewall_object(commit={"debounceSeconds": 0.3})
    cluster.apply(pool(f"{ns}-vips", "10.82.0.0/28", namespaces=[ns]))
    cluster.apply(pool(f"{ns}-pub", "198.51.100.16/29", zone="untrust", purpose="Public", auto=False,
                       namespaces=[ns]))
    for name, port in (("web", 443), ("api", 8080)):
        cluster.apply(service(ns, name, (port, port)))
        cluster.apply(nat(ns, name, name, port, pool=f"{ns}-pub"))
    cluster.apply(policy(ns, "web", ["web"], [{"name": "office", "from": {"zones": ["trust"],
                                                                         "addresses": ["10.1.0.0/16"]}},
                                              {"name": "inet", "from": {"zones": ["untrust"]}}]))
    proc = run_controller()
    for kind, name in (("NATRule", "web"), ("NATRule", "api"), ("SecurityPolicy", "web")):
        wait_for(f"{kind} {name} Ready", lambda k=kind, n=name: (c := cluster.condition(k, n, ns, "Ready"))
                 and c["status"] == "True", timeout=60)
    sim.wait_for_jobs()
    html = tmp_path / "report.html"
    env = apiserver.env()
    clean = bmlb("audit", "--kubeconfig", str(apiserver.kubeconfig), "-o", "json", env=env)
    assert clean.returncode == 0, (clean.stdout, clean.stderr, dump_log(proc))

    # The controller stops; then three things go wrong behind its back.
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(20)
    api_uid = cluster.get("NATRule", "api", ns)["metadata"]["uid"]
    cluster.custom.patch_namespaced_custom_object("bmlb.io", "v1alpha1", ns, "natrules", "api",
                                                  {"metadata": {"finalizers": None}})
    cluster.delete("NATRule", "api", ns)
    wait_for("NATRule api gone", lambda: cluster.gone("NATRule", "api", ns))
    office = naming.name("security_rule", namespace=ns, policy="web", rule="office", service="web", published=False)
    inet = naming.name("security_rule", namespace=ns, policy="web", rule="inet", service="web", published=True)
    alice = sim.as_admin("alice")
    alice.edit(f"{VSYS}/rulebase/security/rules/entry[@name='{office}']/action", "<action>deny</action>")
    alice.commit()
    old_vip = cluster.ingress("web", ns)[0]
    new_vip = "10.82.0.9" if old_vip != "10.82.0.9" else "10.82.0.10"
    moved = {"status": {"loadBalancer": {"ingress": [{"ip": new_vip}]}}}
    cluster.core.patch_namespaced_service_status("web", ns, moved)

    started = time.monotonic()
    out = bmlb("audit", "--kubeconfig", str(apiserver.kubeconfig), "-o", "html", "--out", str(html), env=env)
    audit_seconds = time.monotonic() - started
    assert out.returncode == 1, (out.stdout, out.stderr)
    assert audit_seconds < 30

    dom = browse(browser, "--dump-dom", html, tmp_path)
    assert dom.returncode == 0 and "</html>" in dom.stdout, dom.stderr[-2000:]
    page = dom.stdout
    nat_api, nat_web = (naming.name("nat_rule", namespace=ns, name=n) for n in ("api", "web"))
    assert f'id="orphan-nat-{nat_api}"' in page and f'data-owner="NATRule {ns}/api"' in page
    assert f'id="object-nat-{nat_api}" class="orphan"' in page and api_uid in page
    assert f'id="drift-security-{office}-action"' in page
    assert f'id="nat-mismatch-{nat_web}"' in page and f'data-translated-ip="{old_vip}"' in page
    assert f'data-vips="{new_vip}"' in page
    assert f'id="drift-nat-{nat_web}-translated_address"' in page
    assert f'id="any-source-{inet}"' in page and f'id="any-source-{office}"' not in page
    assert 'id="verdict" class="verdict bad" data-clean="false"' in page
    assert 'id="count-orphans" data-count="2"' in page  # the NAT rule and its public address

    shot = browse(browser, "--screenshot", html, tmp_path, "--window-size=1280,1600")
    png = tmp_path / "screenshot.png"
    assert shot.returncode == 0 and png.is_file(), shot.stderr[-2000:]
    width, height = png_size(png)
    assert (width, height) == (1280, 1600) and png.stat().st_size > 10_000


def test_routes_name_the_node_and_flag_an_expired_lease() -> None:
    import time as _time

    from controller.core.snapshot import LEASE_PREFIX
    from firewall.model import StaticRoute

    snap, desired = desired_of(bodies())
    nodes = [{"kind": "Node", "metadata": {"name": n}, "status": {
        "addresses": [{"type": "InternalIP", "address": ip}], "conditions": [{"type": "Ready", "status": "True"}]}}
        for n, ip in (("node-a", "10.96.0.11"), ("node-b", "10.96.0.12"))]
    now = _time.time()
    fresh = {"kind": "Lease", "metadata": {"name": f"{LEASE_PREFIX}node-a", "namespace": "bmlb-system"},
             "spec": {"renewTime": _time.strftime("%Y-%m-%dT%H:%M:%SZ", _time.gmtime(now - 5)),
                      "leaseDurationSeconds": 30}}
    expired = {**fresh, "metadata": {"name": f"{LEASE_PREFIX}node-b", "namespace": "bmlb-system"},
               "spec": {**fresh["spec"], "renewTime": _time.strftime("%Y-%m-%dT%H:%M:%SZ", _time.gmtime(now - 300))}}
    snap = dataclasses.replace(Snapshot.of([*bodies(), *nodes, fresh, expired]), now=now)
    routes = tuple(StaticRoute(f"bmlb-rt-10.80.0.1_{n}", "default", "10.80.0.1/32", ip)
                   for n, ip in (("node-a", "10.96.0.11"), ("node-b", "10.96.0.12"), ("gone", "10.96.0.99")))
    actual = dataclasses.replace(as_read(desired), static_routes=routes)
    report = audit(actual=actual, desired=dataclasses.replace(desired, static_routes=routes), snapshot=snap)
    got = {r.nexthop: (r.serves, r.node, r.healthy, r.why) for r in report.routes}
    assert got == {"10.96.0.11": (f"Service {NS}/web", "node-a", True, ""),
                   "10.96.0.12": (f"Service {NS}/web", "node-b", False, "agent Lease expired or missing"),
                   "10.96.0.99": (f"Service {NS}/web", "", False, "the next hop is no node's address")}
    assert report.summary()["unhealthy_routes"] == 2
    md = audit_render.markdown(report)
    assert "### Static routes" in md and "| 10.80.0.1/32 | 10.96.0.12 | Service shop/web | node-b | no: agent" in md
    assert not report.rulebase_read and report.exposure == () and report.effect == ()


def test_markdown_escapes_cells() -> None:
    assert audit_render._md("a|b\n<script>") == "a\\|b &lt;script&gt;"
