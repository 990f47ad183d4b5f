"""`bmlb audit` on the PAN-OS simulator with rules of other admins above and below bmlb's:
shadowed and overridden rules with their positions, the exposure matrix of examples/ against
expectations derived by hand, routes, the report in headless Chromium, and commit descriptions
that name the owners of what changed."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.cli import audit as cli_audit
from controller.cli import audit_render, manifest_files
from controller.cli.localcluster import ROOT
from controller.core.compiler import compile
from controller.core.snapshot import Snapshot
from firewall import sync
from firewall.config import SyncConfig
from firewall.device import Credentials, Endpoint, connect
from firewall.sim import Simulator
from firewall.sim.defaults import VSYS1_XPATH as VSYS
from tests.controller.test_audit import browse, chromium, png_size

EXAMPLES = [ROOT / "examples" / f for f in ("00-pools.yaml", "10-shop.yaml", "20-payments.yaml")]
RULES = f"{VSYS}/rulebase/security/rules"

# bmlb's rules for examples/, in the order the device holds them (placement: bottom).
APP_DNS, APP_LEDGER = "bmlb_payments_internal-only_app-servers_dns", "bmlb_payments_internal-only_app-servers_ledger"
DENY_DNS, DENY_LEDGER = "bmlb_payments_internal-only_deny-rest_dns", "bmlb_payments_internal-only_deny-rest_ledger"
INET_WEB, OFFICE_API = "bmlb_shop_frontend_internet-https_web_pub", "bmlb_shop_frontend_office_api"
OFFICE_WEB = "bmlb_shop_frontend_office_web"
MANAGED = [APP_DNS, APP_LEDGER, DENY_DNS, DENY_LEDGER, INET_WEB, OFFICE_API, OFFICE_WEB]
ALLOWS = {APP_DNS, APP_LEDGER, INET_WEB, OFFICE_API, OFFICE_WEB}
NAT_WEB = "bmlb-nat_shop_web-https"


def entry(name: str, action: str, *, src_zone: str = "any", dst_zone: str = "any", source: str = "any",
          destination: str = "any", service: str = "any") -> str:
    return (f"<entry name='{name}'><from><member>{src_zone}</member></from><to><member>{dst_zone}</member></to>"
            f"<source><member>{source}</member></source><destination><member>{destination}</member></destination>"
            f"<application><member>any</member></application><service><member>{service}</member></service>"
            f"<action>{action}</action></entry>")


DENY_ALL = entry("deny-all", "deny")
ALLOW_ANY = entry("allow-any", "allow")
# Narrower than bmlb's office rules (half of 192.0.2.0/24): it takes part of their traffic, not all.
NARROW = entry("block-office-upper", "deny", src_zone="trust", dst_zone="k8s", source="192.0.2.128/25")
BELOW = entry("dmz-to-frontend", "allow", src_zone="dmz", dst_zone="k8s", destination="10.96.100.2")


def estate(sim: Simulator, tmp: Path) -> tuple[Path, list[dict[str, Any]]]:
    docs, errors = manifest_files.load([str(p) for p in EXAMPLES], recursive=False)
    assert not errors, errors
    bodies = [d.body for d in docs]
    vips = {("shop", "web"): ["10.96.100.2"], ("shop", "api"): ["10.96.100.2"],
            ("payments", "ledger"): ["10.96.100.1", "fd00:10:96::"], ("payments", "dns"): ["10.96.100.5"]}
    for b in bodies:
        if b["kind"] == "Service":  # what the controller writes into status (the cluster's IPAM)
            ips = vips[(b["metadata"]["namespace"], b["metadata"]["name"])]
            b["status"] = {"loadBalancer": {"ingress": [{"ip": ip} for ip in ips]}}
        if b["kind"] == "Firewall":
            b["spec"].update(host=sim.host, port=sim.port, caBundle=Path(sim.ca_file).read_text())
    bodies.append({"apiVersion": "v1", "kind": "Secret",
                   "metadata": {"name": "edge-credentials", "namespace": "bmlb-system"},
                   "data": {"apiKey": base64.b64encode(sim.api_key("admin").encode()).decode()}})
    path = tmp / "estate.yaml"
    path.write_text(yaml.safe_dump_all(bodies))
    return path, bodies


def device(sim: Simulator) -> Any:
    return connect(Endpoint(sim.host, sim.port, ca_bundle=sim.ca_file), Credentials(api_key=sim.api_key()))


def sync_estate(sim: Simulator, bodies: list[dict[str, Any]]) -> sync.SyncReport:
    target = compile(Snapshot.of(bodies)).firewall("edge")
    assert target is not None
    report = sync.sync(target.desired, device(sim), config=SyncConfig(admin="admin"))
    sim.wait_for_jobs()
    assert report.ok, report.errors
    return report


def foreign(sim: Simulator, *entries: str) -> None:
    alice = sim.as_admin("alice")
    for e in entries:
        alice.set(RULES, e)
    alice.commit()


def run_audit(path: Path, service: str | None = None) -> Any:
    return cli_audit.run(kubeconfig=None, paths=(str(path),), recursive=False, firewall_name=None, host=None,
                         port=None, ca_file=None, api_key_file=None, username=None, password_file=None,
                         service=service)


def effect(report: Any) -> dict[str, tuple[str, int, str, int, bool]]:
    return {f.rule: (f.effect.value, f.position, f.by, f.by_position, f.overridden) for f in report.effect}


def test_deny_all_above_shadows_every_allow(sim: Simulator, tmp_path: Path) -> None:
    path, bodies = estate(sim, tmp_path)
    foreign(sim, DENY_ALL)
    sync_estate(sim, bodies)
    report = run_audit(path)
    # Every bmlb rule sits below deny-all (#1): the allows never take effect, the denies add nothing.
    want = {name: ("shadowed" if name in ALLOWS else "redundant", pos, "deny-all", 1, name in ALLOWS)
            for pos, name in enumerate(MANAGED, 2)}
    assert effect(report) == want
    assert {p.rule: (p.position, p.foreign_above, p.foreign_below) for p in report.placements} == {
        name: (pos, 1, 0) for pos, name in enumerate(MANAGED, 2)}
    assert report.exposure == ()  # deny-all takes intrazone traffic too
    assert report.clean() and not report.clean(strict=True)  # drift-free; --strict: shadowed rules are findings
    text = audit_render.text(report)
    assert f"{OFFICE_WEB}  8" in text.replace("   ", "  ") or OFFICE_WEB in text
    md = audit_render.markdown(report)
    assert f"| {OFFICE_WEB} | 8 | shadowed | deny-all (deny) | 1 | yes |" in md


def test_allow_any_above_overrides_the_denies(sim: Simulator, tmp_path: Path) -> None:
    path, bodies = estate(sim, tmp_path)
    foreign(sim, ALLOW_ANY)
    sync_estate(sim, bodies)
    report = run_audit(path)
    want = {name: ("redundant" if name in ALLOWS else "shadowed", pos, "allow-any", 1, name not in ALLOWS)
            for pos, name in enumerate(MANAGED, 2)}
    assert effect(report) == want
    assert {f.rule for f in report.overridden} == {DENY_DNS, DENY_LEDGER}
    # The ledger, meant for the app servers alone, is open to every zone through allow-any.
    ledger = {(r.source_zone, r.sources, r.rule, r.position, r.foreign) for r in report.exposure
              if r.service == "payments/ledger" and r.address == "10.96.100.1"}
    assert ledger == {(z, ("any",), "allow-any", 1, True) for z in ("dmz", "k8s", "trust", "untrust")}


def reach(report: Any) -> set[tuple[str, str, tuple[str, ...], str, int, str, str, str]]:
    return {(r.service, r.source_zone, r.sources, r.address, r.port, r.protocol, r.via, r.rule)
            for r in report.exposure}


def test_narrow_rule_above_and_one_below_exposure_by_hand(sim: Simulator, tmp_path: Path) -> None:
    path, bodies = estate(sim, tmp_path)
    foreign(sim, NARROW)
    sync_estate(sim, bodies)
    foreign(sim, BELOW)  # appended: below bmlb's rules
    report = run_audit(path)
    # A narrower rule shadows nothing; it takes part of the office rules' traffic (and says so).
    assert effect(report) == {name: ("narrowed", pos, "block-office-upper", 1, False)
                              for name, pos in ((OFFICE_API, 7), (OFFICE_WEB, 8))}
    assert report.shadowed == () and report.overridden == ()
    assert {p.rule: (p.position, p.foreign_above, p.foreign_below) for p in report.placements} == {
        name: (pos, 1, 1) for pos, name in enumerate(MANAGED, 2)}
    # Derived by hand from examples/ and the simulator's zones (k8s: 10.96.0.0/16 on ethernet1/4,
    # untrust: 203.0.113.0/24): VIPs web+api 10.96.100.2, ledger 10.96.100.1 and fd00:10:96:: (k8s, its
    # pool's zone), dns 10.96.100.5; public 203.0.113.16:443 -> web. Security matches the pre-NAT
    # address and the post-NAT zone; k8s -> k8s is intrazone (allowed by default) except where
    # deny-rest (any -> k8s) comes first; every other zone pair ends in interzone-default deny.
    upper_half_blocked = ("192.0.2.0/25",)
    web, api, ledger, dns = "shop/web", "shop/api", "payments/ledger", "payments/dns"
    expected = {
        (web, "trust", upper_half_blocked, "10.96.100.2", 443, "tcp", "vip", OFFICE_WEB),
        (web, "trust", upper_half_blocked, "10.96.100.2", 80, "tcp", "vip", OFFICE_WEB),
        (web, "k8s", ("any",), "10.96.100.2", 443, "tcp", "vip", "intrazone-default"),
        (web, "k8s", ("any",), "10.96.100.2", 80, "tcp", "vip", "intrazone-default"),
        (web, "dmz", ("any",), "10.96.100.2", 443, "tcp", "vip", "dmz-to-frontend"),
        (web, "dmz", ("any",), "10.96.100.2", 80, "tcp", "vip", "dmz-to-frontend"),
        (web, "untrust", ("any",), "203.0.113.16", 443, "tcp", "public", INET_WEB),
        (api, "trust", upper_half_blocked, "10.96.100.2", 9443, "tcp", "vip", OFFICE_API),
        (api, "k8s", ("any",), "10.96.100.2", 9443, "tcp", "vip", "intrazone-default"),
        (api, "dmz", ("any",), "10.96.100.2", 9443, "tcp", "vip", "dmz-to-frontend"),
        (ledger, "trust", ("10.20.0.0/16",), "10.96.100.1", 5432, "tcp", "vip", APP_LEDGER),
        (ledger, "trust", ("fd00:20::/48",), "fd00:10:96::", 5432, "tcp", "vip", APP_LEDGER),
        (dns, "trust", ("10.20.0.0/16",), "10.96.100.5", 53, "udp", "vip", APP_DNS),
        (dns, "trust", ("10.20.0.0/16",), "10.96.100.5", 53, "tcp", "vip", APP_DNS),
    }
    assert reach(report) == expected
    rows = {(r.rule, r.via): r for r in report.exposure}
    assert (rows[(INET_WEB, "public")].nat, rows[(INET_WEB, "public")].applications) == (NAT_WEB,
                                                                                        ("ssl", "web-browsing"))
    assert (rows[("dmz-to-frontend", "vip")].position, rows[("dmz-to-frontend", "vip")].foreign) == (9, True)

    one = run_audit(path, service="payments/dns")
    assert {r.service for r in one.exposure} == {dns}
    with pytest.raises(cli_audit.AuditError, match="no such Service"):
        run_audit(path, service="payments/nope")

    data = json.loads(audit_render.as_json(report))
    assert set(data["exposure"]) == {"payments", "shop"}
    assert {(r["service"], r["rule"]) for r in data["exposure"]["payments"]} == {(ledger, APP_LEDGER), (dns, APP_DNS)}
    # Routes: every bmlb route names the node behind its next hop (manifests: Leases not judged).
    assert report.routes and {r.node for r in report.routes} == {"node-a", "node-b"}
    assert all(r.healthy for r in report.routes)
    assert next(r for r in report.routes if r.destination == "10.96.100.1/32").serves == "Service payments/ledger"


def test_report_in_chromium(sim: Simulator, tmp_path: Path) -> None:
    browser = chromium()
    path, bodies = estate(sim, tmp_path)
    foreign(sim, entry("allow-trust-any", "allow", src_zone="trust", dst_zone="k8s"))
    sync_estate(sim, bodies)
    foreign(sim, BELOW)
    html = tmp_path / "report.html"
    html.write_text(audit_render.html(run_audit(path)))
    dom = browse(browser, "--dump-dom", html, tmp_path)
    assert dom.returncode == 0 and "</html>" in dom.stdout, dom.stderr[-2000:]
    page = dom.stdout
    # allow-any from trust (#1) makes the office and app-server allows redundant; nothing is shadowed.
    assert f'id="effect-{OFFICE_WEB}-allow-trust-any"' in page and 'data-effect="redundant"' in page
    # ...and takes the trust part of the deny-rest rules' traffic (any -> k8s): narrowed.
    assert f'id="effect-{DENY_LEDGER}-allow-trust-any"' in page and 'id="count-narrowed" data-count="2"' in page
    assert 'data-by="allow-trust-any" data-by-position="1"' in page
    assert 'id="count-shadowed" data-count="0"' in page
    assert 'id="exposure-ns-payments"' in page and 'id="exposure-ns-shop"' in page
    assert 'data-rule="dmz-to-frontend" data-foreign="true"' in page
    assert f'id="placement-{OFFICE_WEB}" data-position="8" data-above="1" data-below="1"' in page
    assert 'id="route-10.96.100.1/32-10.96.0.11"' in page and 'data-node="node-a"' in page
    shot = browse(browser, "--screenshot", html, tmp_path, "--window-size=1280,1400")
    png = tmp_path / "screenshot.png"
    assert shot.returncode == 0 and png.is_file(), shot.stderr[-2000:]
    assert png_size(png) == (1280, 1400)


def commit_descriptions(sim: Simulator) -> list[str]:
    """What the device's own job list says (show jobs all, over the XML API)."""
    jobs = device(sim).op("<show><jobs><all/></jobs></show>")
    return [(j.findtext("description") or "") for j in jobs.iter("job")]


def test_commit_description_names_the_owners(sim: Simulator, tmp_path: Path) -> None:
    _, bodies = estate(sim, tmp_path)
    sync_estate(sim, bodies)
    first = commit_descriptions(sim)
    assert len(first) == 1 and first[0].startswith("bmlb: ") and len(first[0]) <= 512
    for part in ("+NATRule shop/web-https gen 0", "+SecurityPolicy shop/frontend gen 0",
                 "+SecurityPolicy payments/internal-only gen 0", "+Service payments/ledger gen 0"):
        assert part in first[0], first[0]

    changed = []
    for b in bodies:
        if b["kind"] == "SecurityPolicy" and b["metadata"]["name"] == "frontend":
            b["metadata"]["generation"] = 2
            b["spec"]["rules"][1]["from"]["addresses"] = ["192.0.2.0/25"]
            changed.append(b)
    assert changed
    sync_estate(sim, bodies)
    second = commit_descriptions(sim)
    new = [d for d in second if d != first[0]]
    assert len(second) == 2 and len(new) == 1
    last = new[0]
    assert last.startswith("bmlb: ~SecurityPolicy shop/frontend gen 2"), last
    assert "payments" not in last and "NATRule" not in last  # only what changed, only whose it is


def test_judged_on_the_running_config(sim: Simulator, tmp_path: Path) -> None:
    """An uncommitted foreign deny-all moved to the top is not in effect yet: nothing is shadowed."""
    path, bodies = estate(sim, tmp_path)
    sync_estate(sim, bodies)
    alice = sim.as_admin("alice")
    alice.set(RULES, DENY_ALL)
    alice.move(f"{RULES}/entry[@name='deny-all']", "top")
    assert run_audit(path).effect == ()
    alice.commit()
    committed = run_audit(path)
    assert {f.by for f in committed.effect} == {"deny-all"} and len(committed.shadowed) == len(ALLOWS)
