"""deploy/ as kustomize builds it: the overlays routed (default) and l2, each with and without the
webhook component, rendered by the real `kubectl kustomize`, pass `bmlb validate` and keep the
least-privilege rules of the base (tests/deploy/test_manifests.py) with only the stated additions."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kopf
import pytest
import yaml
from click.testing import CliRunner

from controller.cli import main
from controller.cli.kapilite_build import kubectl_path
from controller.runtime import webhook
from controller.runtime.index import ClusterIndex
from tests.deploy import test_manifests as base

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
NAMESPACE = base.NAMESPACE
BUILDS = ["routed", "l2", "routed+webhook", "l2+webhook"]
Doc = dict[str, Any]


def _kubectl() -> str:
    found = kubectl_path() if os.access(kubectl_path(), os.X_OK) else shutil.which("kubectl")
    assert found, "kubectl is needed (tests/setup.sh builds it into /var/cache/bmlb/bin)"
    return str(found)


def _kustomize(folder: Path) -> str:
    out = subprocess.run([_kubectl(), "kustomize", str(folder)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and not out.stderr.strip(), out.stderr
    return out.stdout


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The YAML `kubectl kustomize` builds for each overlay, alone and with the webhook component
    (the way a user's overlay adds it: a kustomization beside theirs naming both)."""
    out = {}
    for name in BUILDS:
        overlay, _, component = name.partition("+")
        if not component:
            out[name] = _kustomize(DEPLOY / "overlays" / overlay)
            continue
        user = tmp_path_factory.mktemp(name.replace("+", "-"))
        rel = os.path.relpath(DEPLOY, user)
        (user / "kustomization.yaml").write_text(yaml.safe_dump({
            "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
            "resources": [f"{rel}/overlays/{overlay}"], "components": [f"{rel}/components/{component}"]}))
        out[name] = _kustomize(user)
    return out


def _docs(text: str) -> list[Doc]:
    return [d for d in yaml.safe_load_all(text) if d]


def _key(d: Doc) -> tuple[str, str, str | None]:
    return d["kind"], d["metadata"]["name"], d["metadata"].get("namespace")


@pytest.mark.parametrize("name", BUILDS)
def test_bmlb_validate_passes_on_the_build(built: dict[str, str], name: str, tmp_path: Path) -> None:
    f = tmp_path / f"{name}.yaml"
    f.write_text(built[name])
    result = CliRunner().invoke(main, ["validate", "--strict", "-f", str(f)])
    assert result.exit_code == 0, result.output
    assert re.search(r"\b\d\d+ objects, 0 errors, 0 warnings", result.output), result.output


def test_routed_is_the_base_unchanged(built: dict[str, str], request: pytest.FixtureRequest) -> None:
    on_disk = [d for f in sorted((DEPLOY / "base").glob("*.yaml")) if f.name != "kustomization.yaml"
               for d in yaml.safe_load_all(f.read_text()) if d]
    assert sorted(_docs(built["routed"]), key=_key) == sorted(on_disk, key=_key)


@pytest.mark.parametrize("name", BUILDS)
def test_least_privilege_holds_in_every_build(built: dict[str, str], name: str) -> None:
    docs = _docs(built[name])
    # cert-manager's kinds are not in the Kubernetes client; test_webhook_component checks them.
    base.test_kubernetes_objects_have_only_known_fields([d for d in docs if d["apiVersion"] != "cert-manager.io/v1"])
    base.test_no_wildcards_and_no_escalation(docs)
    base.test_secrets_are_read_by_name_only_in_a_namespaced_role(docs)
    base.test_bindings_only_grant_our_roles_to_our_service_accounts(docs)
    base.test_controller_reads_what_it_watches_and_writes_only_status_finalizers_events(docs)
    base.test_only_the_agents_init_step_is_privileged(docs)
    if "webhook" not in name:
        base.test_controller_deployment(docs)
    if not name.startswith("l2"):
        base.test_agent_only_reads_and_writes_its_lease(docs)
        base.test_agent_daemonset(docs)


def _agent(docs: list[Doc]) -> Doc:
    ds = base._one(docs, "DaemonSet", "bmlb-agent", NAMESPACE)
    (c,) = ds["spec"]["template"]["spec"]["containers"]
    return c


def test_l2_agent_runs_in_l2_mode_with_net_raw_and_lists_leases(built: dict[str, str]) -> None:
    routed, l2 = _docs(built["routed"]), _docs(built["l2"])
    c = _agent(l2)
    example = {"NODE_NAME": "node-a", "NODE_IP": "192.0.2.10", "POD_NAMESPACE": NAMESPACE}
    args = [re.sub(r"\$\((\w+)\)", lambda m: example[m.group(1)], a) for a in c["args"][1:]]
    params = base._parse("agent", args)
    assert params["mode"] == "l2" and params["uplink"] and params["lease_namespace"] == NAMESPACE
    assert base._parse("agent", [a.replace("$(NODE_NAME)", "n").replace("$(NODE_IP)", "192.0.2.1")
                                 .replace("$(POD_NAMESPACE)", NAMESPACE)
                                 for a in _agent(routed)["args"][1:]])["mode"] == "routed"
    assert c["securityContext"]["capabilities"] == {"drop": ["ALL"], "add": ["NET_ADMIN", "NET_RAW"]}
    # Its one RBAC addition: list Leases in its namespace (which nodes are alive); writes unchanged.
    grants = [(role["kind"], role["metadata"].get("namespace"), tuple(rule["apiGroups"]), tuple(rule["resources"]),
               frozenset(rule["verbs"])) for role, rule in base._rules_of(l2, "bmlb-agent")]
    before = [(role["kind"], role["metadata"].get("namespace"), tuple(rule["apiGroups"]), tuple(rule["resources"]),
               frozenset(rule["verbs"])) for role, rule in base._rules_of(routed, "bmlb-agent")]
    lease = ("Role", NAMESPACE, ("coordination.k8s.io",), ("leases",))
    assert [g for g in grants if g[:4] != lease] == [g for g in before if g[:4] != lease]
    assert [g[4] for g in grants if g[:4] == lease] == [frozenset({"create", "get", "update", "list"})]
    # The init step: the base's script, then arp_ignore/arp_announce on all links and the uplink,
    # which the agent checks and cannot write itself (read-only /proc/sys).
    (init,) = base._one(l2, "DaemonSet", "bmlb-agent", NAMESPACE)["spec"]["template"]["spec"]["initContainers"]
    (routed_init,) = base._one(routed, "DaemonSet", "bmlb-agent", NAMESPACE)["spec"]["template"]["spec"][
        "initContainers"]
    script = init["command"][-1]
    assert script.startswith(routed_init["command"][-1]) and init["command"][:-1] == routed_init["command"][:-1]
    assert f"for conf in all {params['uplink']}; do" in script
    assert "echo 1 > /proc/sys/net/ipv4/conf/$conf/arp_ignore" in script
    assert "echo 2 > /proc/sys/net/ipv4/conf/$conf/arp_announce" in script
    # The sample Firewall leaves routing to the announcements.
    assert base._one(l2, "Firewall", "edge")["spec"]["routing"] == {"mode": "none"}
    assert "routing" not in base._one(routed, "Firewall", "edge")["spec"]
    # Everything else is the routed build's.
    changed = {("DaemonSet", "bmlb-agent", NAMESPACE), ("Role", "bmlb-agent", NAMESPACE), ("Firewall", "edge", None)}
    assert sorted((d for d in l2 if _key(d) not in changed), key=_key) == \
        sorted((d for d in routed if _key(d) not in changed), key=_key)


@pytest.mark.parametrize("name", ["routed+webhook", "l2+webhook"])
def test_webhook_component_wires_the_controllers_handlers(built: dict[str, str], name: str) -> None:
    docs = _docs(built[name])
    dep = base._one(docs, "Deployment", "bmlb-controller", NAMESPACE)
    pod = dep["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    params = base._parse("controller", c["args"][1:])
    port = params["webhook_port"]
    assert port and {"name": "webhook", "containerPort": port, "protocol": "TCP"} in c["ports"]
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env[webhook.ADDR_ENV] == "0.0.0.0"
    mount = next(m for m in c["volumeMounts"] if m["mountPath"] == env[webhook.CERT_DIR_ENV])
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    secret = volume["secret"]["secretName"]
    assert c["securityContext"]["readOnlyRootFilesystem"] is True and mount["readOnly"] is True
    svc = base._one(docs, "Service", "bmlb-webhook", NAMESPACE)
    assert svc["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"]
    (svc_port,) = svc["spec"]["ports"]
    assert svc_port["targetPort"] == "webhook"
    cert = base._one(docs, "Certificate", "bmlb-webhook", NAMESPACE)
    assert cert["spec"]["secretName"] == secret
    assert f"bmlb-webhook.{NAMESPACE}.svc" in cert["spec"]["dnsNames"]
    vwc = base._one(docs, "ValidatingWebhookConfiguration", "bmlb")
    assert vwc["metadata"]["annotations"]["cert-manager.io/inject-ca-from"] == f"{NAMESPACE}/bmlb-webhook"
    # The paths are the ids of the handlers the controller registers (kopf serves /<id>).
    registry = kopf.OperatorRegistry()
    webhook.register_webhooks(registry, ClusterIndex())
    handlers = {h.id: h for h in registry._webhooks.get_all_handlers()}
    served = {f"/{hid}" for hid in handlers}
    paths = {}
    for hook in vwc["webhooks"]:
        ref = hook["clientConfig"]["service"]
        assert (ref["name"], ref["namespace"], ref["port"]) == ("bmlb-webhook", NAMESPACE, svc_port["port"])
        (rule,) = hook["rules"]
        paths[ref["path"]] = rule["resources"][0]
        assert hook["sideEffects"] == "None" and hook["admissionReviewVersions"] == ["v1"]
        assert hook["failurePolicy"] == ("Ignore" if rule["resources"] == ["services"] else "Fail")
    assert set(paths) == served
    for path, resource in paths.items():
        assert handlers[path[1:]].selector.any_name == resource


def test_the_readme_overlay_renders_and_validates(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    (text,) = re.findall(r"cat > my-bmlb/kustomization.yaml <<'YAML'\n(.*?)\nYAML\n", readme, re.S)
    (tmp_path / "bmlb").symlink_to(ROOT)
    (tmp_path / "my-bmlb").mkdir()
    (tmp_path / "my-bmlb" / "kustomization.yaml").write_text(text)
    docs = _docs(_kustomize(tmp_path / "my-bmlb"))
    out = tmp_path / "bmlb.yaml"
    out.write_text(yaml.safe_dump_all(docs))
    result = CliRunner().invoke(main, ["validate", "--strict", "-f", str(out)])
    assert result.exit_code == 0, result.output
    images = {c["image"] for d in docs if d["kind"] in ("Deployment", "DaemonSet")
              for c in d["spec"]["template"]["spec"]["containers"] + d["spec"]["template"]["spec"].get(
                  "initContainers", [])}
    assert images == {"registry.example.com/bmlb:0.1.0"}
    assert base._one(docs, "Firewall", "edge")["spec"]["host"] == "fw.example.com"
