"""bmlb's own templates, validated as CI would: templates/firewall.j2 (names and descriptions) and
templates/panos-set.j2 (the `set` commands of `bmlb plan -o panos-set`) rendered with edge-case
inputs (longest names, IPv6, Unicode), the output checked against PAN-OS's rules as the reference
states them (shared/reference/panos-xml-api.md: names 63 characters of [A-Za-z0-9._-] starting
alphanumeric, descriptions 1023 / rules 1024, tags 127), with no control characters; the objects
are also accepted by the PAN-OS simulator; and `bmlb deploy render` prints valid YAML.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from typing import Any

import yaml
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.cli import main
from controller.core import naming
from controller.core.compiler import compile
from controller.core.snapshot import Snapshot
from firewall import sync
from firewall.config import SyncConfig
from firewall.device import Credentials, Endpoint, connect
from firewall.sim import Simulator
from tests.controller.estate import firewall, nat, policy, pool, service, slice_

# PAN-OS limits, written from the reference, not imported from bmlb.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
TAG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,126}")
MAX_DESCRIPTION, MAX_RULE_DESCRIPTION = 1023, 1024
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def label(n: int, seed: str = "a") -> str:
    """A DNS label of exactly n characters."""
    return (seed + "x" * n)[: n - 1] + "z"


def subdomain(n: int) -> str:
    """A DNS subdomain of exactly n characters (labels of 63, joined with dots)."""
    parts, left = [], n
    while left > 0:
        size = min(63, left)
        parts.append(label(size, "s"))
        left -= size + 1
    text = ".".join(parts)[:n]
    return text.rstrip(".-") or "a"


NS = label(63, "n")  # the longest namespace
SVC = label(63, "w")  # the longest Service name (DNS-1035 label)
NAT_NAME = subdomain(253)  # the longest NATRule / SecurityPolicy name
POL_NAME = subdomain(253)


def edge_estate() -> list[dict[str, Any]]:
    """The longest names the CRDs admit, an IPv6-only Service allowed from IPv6 and IPv4 sources,
    the highest port (NAT66 is refused by bmlb: the NATRule is IPv4)."""
    return [
        pool("vips6", "2001:db8:ffff:ffff:ffff:ffff:ffff:ff00/120", zone="k8s"),
        pool("vips4", "10.80.0.0/28", zone="k8s"),
        pool("pub4", "198.51.100.0/29", zone="untrust", purpose="Public", auto=False),
        service(NS, SVC, (443, 8443), (65535, 65535), ipFamilies=["IPv6"], ipFamilyPolicy="SingleStack",
                ingress=["2001:db8:ffff:ffff:ffff:ffff:ffff:ff01"]),
        service(NS, "v4", (80, 8080), ingress=["10.80.0.1"]),
        slice_(NS, "v4", [(80, 8080)], [("10.1.0.5", "node-a")]),
        nat(NS, NAT_NAME, "v4", 80, address="198.51.100.7", public_port=65535),
        policy(NS, POL_NAME, [SVC, "v4"], [
            {"name": label(31, "r"), "from": {"zones": ["untrust"], "addresses": ["2001:db8::/32", "0.0.0.0/0"]}},
            {"name": "office", "from": {"zones": ["trust"]}},
        ]),
        firewall("edge", admin="admin"),
    ]


def compiled_edge() -> Any:
    compiled = compile(Snapshot.of(edge_estate()))
    errors = [p for p in compiled.problems if p.severity.value == "error"]
    assert not errors, errors
    target = compiled.firewall("edge")
    assert target is not None
    return target.desired


def check_name(value: str, *, tag: bool = False) -> None:
    assert (TAG if tag else NAME).fullmatch(value), f"not a PAN-OS {'tag' if tag else 'name'}: {value!r}"


def check_text(value: str, limit: int) -> None:
    assert len(value) <= limit, f"{len(value)} characters: {value[:80]!r}..."
    assert not CONTROL.search(value) and '"' not in value, repr(value)
    value.encode("utf-8")


def test_desired_objects_with_edge_inputs_are_valid_panos() -> None:
    fw = compiled_edge()
    assert fw.nat_rules and fw.security_rules and fw.addresses and fw.services
    for t in fw.tags:
        check_name(t.name, tag=True)
        check_text(t.comments, MAX_DESCRIPTION)
    for a in fw.addresses:
        check_name(a.name)
        check_text(a.description, MAX_DESCRIPTION)
        ipaddress.ip_network(a.value)
    assert any(ipaddress.ip_network(a.value).version == 6 for a in fw.addresses)
    for s in fw.services:
        check_name(s.name)
        check_text(s.description, MAX_DESCRIPTION)
        assert all(1 <= int(p) <= 65535 for p in re.split(r"[,-]", s.port))
    for r in (*fw.nat_rules, *fw.security_rules):
        check_name(r.name)
        check_text(r.description, MAX_RULE_DESCRIPTION)
        for tag in r.tags:
            check_name(tag, tag=True)
    names = [o.name for group in (fw.addresses, fw.services, fw.nat_rules, fw.security_rules) for o in group]
    assert len(names) == len(set(names))
    # The longest owners' names are in the descriptions, cut to the limit with "...", or whole.
    nat_rule = next(r for r in fw.nat_rules if "198.51.100.7" in r.description)
    assert NAT_NAME in nat_rule.description or nat_rule.description.endswith("...")


def test_panos_set_template_output_parses_as_cli_commands() -> None:
    result = CliRunner().invoke(main, ["plan", "-f", "-", "-o", "panos-set"], input=yaml.safe_dump_all(edge_estate()))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert not CONTROL.search(out.replace("\n", ""))
    lines = [line for line in out.splitlines() if line and not line.startswith("#")]
    assert lines
    fw = compiled_edge()
    expected = {t.name for t in fw.tags} | {o.name for o in (*fw.addresses, *fw.services, *fw.nat_rules,
                                                            *fw.security_rules)}
    seen = set()
    for line in lines:
        tokens = shlex.split(line)  # balanced quotes: each value is one token
        assert tokens[0] == "set", line
        if tokens[1] in ("tag", "address", "service"):
            seen.add(tokens[2])
            check_name(tokens[2], tag=tokens[1] == "tag")
        elif tokens[1] == "rulebase":
            assert tokens[2] in ("nat", "security") and tokens[3] == "rules"
            seen.add(tokens[4])
            check_name(tokens[4])
        if "description" in tokens:
            check_text(tokens[tokens.index("description") + 1], MAX_RULE_DESCRIPTION)
        for token in tokens:
            if ":" in token and "/" in token and token[0] in "0123456789abcdef" and " " not in token:
                ipaddress.ip_network(token)  # IPv6 values are whole, unquoted CIDRs
    assert seen == expected


def test_the_simulator_accepts_the_edge_objects() -> None:
    fw = compiled_edge()
    with Simulator.start(commit_seconds=0.05) as sim:
        device = connect(Endpoint(sim.host, sim.port, ca_bundle=sim.ca_file), Credentials(api_key=sim.api_key()))
        report = sync.sync(fw, device, config=SyncConfig(admin="admin"))
        assert report.ok and report.committed, (report.errors, report.skipped)
        sim.wait_for_jobs()
        commands = sim.set_commands()
    for name in (r.name for r in (*fw.nat_rules, *fw.security_rules)):
        assert any(f" rules {name} " in c for c in commands), name


UNICODE = st.text(st.characters(codec="utf-8"), min_size=0, max_size=300)
DNS = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", fullmatch=True)
IPV6 = st.ip_addresses(v=6).map(str)
ANY_VALUE = st.one_of(UNICODE, DNS, IPV6, st.integers(0, 65535), st.just(subdomain(253)))


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_every_firewall_macro_renders_valid_names_and_texts(data: st.DataObject) -> None:
    """Every macro of templates/firewall.j2, whatever its inputs (beyond what the CRDs admit:
    Unicode, controls, IPv6, the longest names), renders a valid name or a clean description."""
    owner = {"kind": data.draw(st.sampled_from(["NATRule", "SecurityPolicy", "Service"])),
             "namespace": data.draw(st.one_of(DNS, UNICODE)), "name": data.draw(st.one_of(DNS, UNICODE)),
             "uid": data.draw(UNICODE), "generation": data.draw(st.integers(0, 2**31))}
    v = lambda: data.draw(ANY_VALUE)  # noqa: E731
    names = [
        naming.name("address", ip=data.draw(IPV6)),
        naming.name("address", ip=v()),
        naming.name("service", protocol=data.draw(st.sampled_from(["TCP", "UDP", "SCTP"])), port=v()),
        naming.name("nat_rule", namespace=v(), name=v()),
        naming.name("security_rule", namespace=v(), policy=v(), rule=v(), service=v(),
                    published=data.draw(st.booleans())),
        naming.name("route", ip=v(), node=v()),
    ]
    for n in names:
        check_name(n)
    check_name(naming.name("namespace_tag", namespace=v()), tag=True)
    texts = [
        naming.text("vip_description", services=[str(v()) for _ in range(3)], owner=owner),
        naming.text("public_description", natrules=[str(v())], owner=owner),
        naming.text("service_description", protocol="TCP", port=v()),
        naming.text("nat_description", natrule=v(), service=v(), public=v(), vip=v(), owner=owner),
        naming.text("security_description", policy=v(), rule=v(), service=v(), published=True, owner=owner),
        naming.text("namespace_tag_comments", namespace=v()),
    ]
    for t in texts:
        check_text(t, MAX_DESCRIPTION)


def deploy_render(*args: str) -> list[dict[str, Any]]:
    result = CliRunner().invoke(main, ["deploy", "render", *args])
    assert result.exit_code == 0, result.output
    docs = [d for d in yaml.safe_load_all(result.stdout) if d is not None]
    assert docs
    for d in docs:
        assert isinstance(d, dict) and d.get("apiVersion") and d.get("kind"), d
        assert isinstance(d.get("metadata"), dict) and d["metadata"].get("name"), d
    return docs


def test_deploy_render_is_valid_yaml() -> None:
    docs = deploy_render()
    kinds = {d["kind"] for d in docs}
    assert {"CustomResourceDefinition", "Deployment", "DaemonSet"} <= kinds


def test_deploy_render_with_edge_inputs_is_valid_yaml() -> None:
    ns = label(63, "d")
    image = "registry.example.com:5000/team/bmlb@sha256:" + "f" * 64
    docs = deploy_render("--namespace", ns, "--image", image, "--firewall-secret", f"{label(63, 'o')}/"
                         f"{subdomain(253)}", "--replicas", "3", "--no-samples")
    images = [c["image"] for d in docs if d["kind"] in ("Deployment", "DaemonSet")
              for c in d["spec"]["template"]["spec"]["containers"]]
    assert images and set(images) == {image}
    assert {d["metadata"].get("namespace") for d in docs if d["kind"] in ("Deployment", "DaemonSet")} == {ns}
