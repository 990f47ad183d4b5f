"""No string a tenant writes can start a new line in the `set` commands a reviewer pastes, or a
control sequence on the terminal: the API server refuses it (CRD patterns), offline validate
refuses it the same way (full-match patterns), and the renderer refuses it even if both were
bypassed."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from kubernetes.client.rest import ApiException

from controller.cli import main
from controller.cli.localcluster import Cluster
from controller.core import render
from firewall.model import DesiredFirewall, SecurityRule
from tests.controller.estate import nat, policy, pool

INJECTION = "default\ndelete rulebase security rules allow-office"
HOSTILE = [
    ("SecurityPolicy", ["spec", "rules", 0, "log", "profile"], INJECTION),
    ("SecurityPolicy", ["spec", "rules", 0, "from", "zones", 0], "trust\n"),  # `$` before a final newline
    ("SecurityPolicy", ["spec", "rules", 0, "from", "addresses", 0], "1.2.3.4/99"),
    ("SecurityPolicy", ["spec", "rules", 0, "from", "addresses", 0], "192.168.1.300"),
    ("SecurityPolicy", ["spec", "rules", 0, "applications", 0], "ssl\x1b]0;x\x07"),
    ("NATRule", ["spec", "from", "zones", 0], "untrust\r\nset x"),
    ("NATRule", ["spec", "from", "addresses", 0], "10.30.0.0/33"),
    ("NATRule", ["spec", "public", "address"], "203.0.113.300"),
    ("VIPPool", ["spec", "zone"], "k8s\n"),
]


def hostile(kind: str, path: list, value: str, ns: str) -> dict:
    body = {"SecurityPolicy": policy(ns, "p", ["web"], [{"name": "r", "from": {"zones": ["trust"],
                                                                              "addresses": ["10.0.0.0/8"]},
                                                         "applications": ["ssl"], "log": {"profile": "fwd"}}]),
            "NATRule": nat(ns, "n", "web", 443, address="203.0.113.5", zones=("untrust",)),
            "VIPPool": pool(f"{ns}-p", "10.84.0.0/28")}[kind]
    if kind == "NATRule":
        body["spec"]["from"]["addresses"] = ["10.0.0.0/8"]
    target = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return body


def field(path: list) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else p)
    return out


@pytest.mark.parametrize(("kind", "path", "value"), HOSTILE, ids=[f"{k}-{field(p)}" for k, p, _ in HOSTILE])
def test_the_api_server_and_offline_validate_refuse_it_alike(kind: str, path: list, value: str, cluster: Cluster,
                                                             ns: str, tmp_path) -> None:
    import yaml
    body = hostile(kind, path, value, ns)
    with pytest.raises(ApiException) as refused:
        cluster.apply(body)
    assert refused.value.status == 422 and field(path) in refused.value.body, refused.value.body
    manifest = tmp_path / "hostile.yaml"
    manifest.write_text(yaml.safe_dump(body))
    result = CliRunner().invoke(main, ["validate", "-f", str(manifest)])
    assert result.exit_code == 1 and f": {field(path)}: " in result.output, result.output


def test_the_set_renderer_refuses_a_newline_even_past_validation() -> None:
    rule = SecurityRule("bmlb_a_p_r_web", ("trust",), ("k8s",), log_setting=INJECTION)
    fw = DesiredFirewall("bmlb-managed", security_rules=(rule,))
    with pytest.raises(render.UnsafeValue):
        render.panos_set(fw, target="test")
    quoted = SecurityRule("bmlb_a_p_r_web", ("trust",), ("k8s",), description='say "hi"')
    with pytest.raises(render.UnsafeValue):
        render.panos_set(DesiredFirewall("bmlb-managed", security_rules=(quoted,)), target="test")
    ok = render.panos_set(DesiredFirewall("bmlb-managed", security_rules=(
        SecurityRule("bmlb_a_p_r_web", ("my zone",), ("k8s",), log_setting="fwd all"),)), target="test")
    assert 'from "my zone"' in ok and 'log-setting "fwd all"' in ok
    assert all(line.startswith(("set ", "#")) for line in ok.splitlines() if line)


def test_terminal_output_shows_control_sequences_escaped(tmp_path) -> None:
    manifest = tmp_path / "esc.yaml"
    manifest.write_text('apiVersion: v1\nkind: Service\nmetadata: {name: "web\\e]0;pwned\\a", namespace: a}\n'
                        "spec: {type: LoadBalancer, loadBalancerClass: bmlb.io/ipvs, ports: [{port: 80}]}\n")
    result = CliRunner().invoke(main, ["validate", "-f", str(manifest)])
    assert result.exit_code == 1 and "\x1b" not in result.output and "\x07" not in result.output
    assert "\\x1b]0;pwned\\x07" in result.output
