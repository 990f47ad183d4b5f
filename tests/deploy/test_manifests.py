"""deploy/: rendered from templates/deploy/, valid, least-privilege RBAC, hardened workloads,
and the Dockerfile that builds the image they run. No cluster needed."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes.client
import pytest
import yaml
from click.testing import CliRunner

from controller.cli import main
from controller.core import deploy
from controller.runtime import agent, operator

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "base"
NAMESPACE = "bmlb-system"
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection"}
DANGEROUS_VERBS = {"escalate", "bind", "impersonate", "approve", "sign"}

Doc = dict[str, Any]


def _docs(rendered: list[tuple[str, str]]) -> list[Doc]:
    return [d for _, text in rendered for d in yaml.safe_load_all(text) if d is not None]


@pytest.fixture(scope="module")
def docs() -> list[Doc]:
    return [d for f in sorted(DEPLOY.glob("*.yaml")) if f.name != deploy.KUSTOMIZATION
            for d in yaml.safe_load_all(f.read_text()) if d is not None]


def _one(docs: list[Doc], kind: str, name: str, namespace: str | None = None) -> Doc:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name
             and d["metadata"].get("namespace") == namespace]
    assert len(found) == 1, f"expected one {kind} {namespace}/{name}, found {len(found)}"
    return found[0]


def _rules_of(docs: list[Doc], sa: str) -> Iterator[tuple[Doc, dict[str, Any]]]:
    """(Role or ClusterRole, rule) for every rule bound to ServiceAccount `sa` in NAMESPACE."""
    for binding in docs:
        if binding["kind"] not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        if not any(s["kind"] == "ServiceAccount" and s["name"] == sa and s.get("namespace") == NAMESPACE
                   for s in binding["subjects"]):
            continue
        ref = binding["roleRef"]
        ns = binding["metadata"].get("namespace") if ref["kind"] == "Role" else None
        role = _one(docs, ref["kind"], ref["name"], ns)
        for rule in role["rules"]:
            yield role, rule


def _grants(docs: list[Doc], sa: str, group: str, resource: str, verb: str,
            *, namespace: str | None = None) -> bool:
    for role, rule in _rules_of(docs, sa):
        scoped = role["kind"] == "ClusterRole" or role["metadata"]["namespace"] == namespace
        if (scoped and group in rule["apiGroups"] and resource in rule["resources"] and verb in rule["verbs"]
                and not rule.get("resourceNames")):
            return True
    return False


# --- rendering ------------------------------------------------------------------------------


def test_deploy_folder_is_the_rendering_of_the_templates() -> None:
    rendered = dict(deploy.render())
    on_disk = {f.name: f.read_text() for f in DEPLOY.glob("*.yaml") if f.name != deploy.KUSTOMIZATION}
    assert sorted(on_disk) == sorted(rendered), "run: .venv/bin/bmlb deploy render -o deploy/base"
    for name, text in rendered.items():
        assert on_disk[name] == text, f"deploy/base/{name} is stale; run: .venv/bin/bmlb deploy render -o deploy/base"


@pytest.mark.parametrize("values", [
    {},
    {"namespace": "lb", "image": "registry.example.com/bmlb@sha256:" + "0" * 64, "samples": False},
    {"firewall_secrets": ["a", "fw/b", "fw/c"], "replicas": 3},
], ids=["defaults", "other-namespace", "many-secrets"])
def test_every_rendered_document_is_valid_yaml_with_identity(values: dict[str, Any]) -> None:
    for name, text in deploy.render(values):
        for doc in yaml.safe_load_all(text):
            assert isinstance(doc, dict), name
            assert doc.get("apiVersion") and doc.get("kind") and doc["metadata"].get("name"), name


def _unknown_fields(data: Any, typ: str, path: str) -> Iterator[str]:
    """Field names the kubernetes client's model of `typ` does not know (typos, wrong nesting)."""
    if data is None or typ in ("object", "str", "int", "bool", "float", "datetime"):
        return
    if m := re.fullmatch(r"List\[(.+)\]", typ):
        for i, item in enumerate(data):
            yield from _unknown_fields(item, m.group(1), f"{path}[{i}]")
        return
    if m := re.fullmatch(r"Dict\[str, (.+)\]", typ):
        for key, value in data.items():
            yield from _unknown_fields(value, m.group(1), f"{path}.{key}")
        return
    model = getattr(kubernetes.client, typ)
    fields = {json_name: attr for attr, json_name in model.attribute_map.items()}
    for key, value in data.items():
        if key not in fields:
            yield f"{path}.{key}: not a field of {typ}"
        else:
            yield from _unknown_fields(value, model.openapi_types[fields[key]], f"{path}.{key}")


def test_kubernetes_objects_have_only_known_fields(docs: list[Doc]) -> None:
    checked = set()
    for doc in docs:
        model = "V1" + doc["kind"]
        if doc["apiVersion"].endswith("/v1") or doc["apiVersion"] == "v1":
            assert hasattr(kubernetes.client, model) or doc["apiVersion"] == "kopf.dev/v1", doc["kind"]
        if hasattr(kubernetes.client, model):
            checked.add(doc["kind"])
            where = f"{doc['kind']} {doc['metadata']['name']}"
            assert not list(_unknown_fields(doc, model, where))
    assert {"Deployment", "DaemonSet", "ClusterRole", "Role", "RoleBinding", "ClusterRoleBinding",
            "ServiceAccount", "Namespace", "CustomResourceDefinition"} <= checked


def test_crds_are_copied_with_kopf_peering(docs: list[Doc]) -> None:
    crds = {d["metadata"]["name"]: d for d in docs if d["kind"] == "CustomResourceDefinition"}
    ours = {yaml.safe_load(f.read_text())["metadata"]["name"] for f in (ROOT / "crds").glob("*.yaml")}
    assert ours | {"clusterkopfpeerings.kopf.dev", "kopfpeerings.kopf.dev"} == set(crds)
    for f in (ROOT / "crds").glob("*.yaml"):
        crd = yaml.safe_load(f.read_text())
        assert crds[crd["metadata"]["name"]] == crd, f"{f.name} is copied verbatim"
    assert crds["clusterkopfpeerings.kopf.dev"]["spec"]["scope"] == "Cluster"
    assert crds["kopfpeerings.kopf.dev"]["spec"]["scope"] == "Namespaced"
    peering = _one(docs, "ClusterKopfPeering", "bmlb")
    assert peering["apiVersion"] == "kopf.dev/v1"


def test_bmlb_validate_passes_on_deploy() -> None:
    result = CliRunner().invoke(main, ["validate", "--strict", "-f", str(DEPLOY)])
    assert result.exit_code == 0, result.output
    assert "0 errors, 0 warnings" in result.output


def test_no_credentials_are_shipped(docs: list[Doc]) -> None:
    assert not [d for d in docs if d["kind"] == "Secret"]
    firewall = _one(docs, "Firewall", "edge")
    secret = firewall["spec"]["credentialsSecret"]
    assert secret == {"name": "firewall-credentials", "namespace": NAMESPACE}
    assert "create secret generic firewall-credentials" in (DEPLOY / "30-samples.yaml").read_text()
    assert sum(d["kind"] == "VIPPool" for d in docs) == 2


def test_bad_values_are_refused() -> None:
    for values in ({"namespace": "Bad_NS"}, {"image": "x y"}, {"firewall_secrets": ["a/b/C"]},
                   {"firewall_secrets": []}, {"replicas": 0}, {"sysctls": {"net.ipv4.ip_forward": "1; rm"}},
                   {"no_such_value": 1}):
        with pytest.raises(ValueError):
            deploy.render(values)


def test_cli_renders_a_stream_and_a_folder(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["deploy", "render", "--image", "reg.example/bmlb:1", "--namespace", "lb",
                                  "--firewall-secret", "vault/fw"])
    assert result.exit_code == 0, result.output
    streamed = [d for d in yaml.safe_load_all(result.output) if d]
    assert {d["metadata"].get("namespace") for d in streamed} >= {"lb", "vault"}
    secret_role = _one(streamed, "Role", "bmlb-controller-firewall-credentials", "vault")
    assert secret_role["rules"][0]["resourceNames"] == ["fw"]

    result = runner.invoke(main, ["deploy", "render", "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f.name for f in DEPLOY.glob("*.yaml"))
    bad = runner.invoke(main, ["deploy", "render", "--namespace", "NO"])
    assert bad.exit_code == 2


# --- RBAC -----------------------------------------------------------------------------------


def _roles(docs: list[Doc]) -> list[Doc]:
    return [d for d in docs if d["kind"] in ("Role", "ClusterRole")]


def test_no_wildcards_and_no_escalation(docs: list[Doc]) -> None:
    roles = _roles(docs)
    assert roles
    for role in roles:
        for rule in role["rules"]:
            for key in ("verbs", "resources", "apiGroups", "resourceNames"):
                assert "*" not in rule.get(key, []), f"{role['metadata']['name']}: {key} has *"
                assert not any("*" in v for v in rule.get(key, [])), f"{role['metadata']['name']}: {key}"
            assert "nonResourceURLs" not in rule
            assert not DANGEROUS_VERBS & set(rule["verbs"]), role["metadata"]["name"]
            assert not {"pods/exec", "pods/attach", "serviceaccounts/token", "nodes/proxy"} & set(rule["resources"])
            assert "delete" not in rule["verbs"] and "deletecollection" not in rule["verbs"]


def test_secrets_are_read_by_name_only_in_a_namespaced_role(docs: list[Doc]) -> None:
    secret_rules = [(role, rule) for role in _roles(docs) for rule in role["rules"] if "secrets" in rule["resources"]]
    assert secret_rules, "the controller must be able to read its firewall credentials"
    for role, rule in secret_rules:
        assert role["kind"] == "Role", "Secrets are never granted cluster-wide"
        assert rule["verbs"] == ["get"], "never list or watch Secrets"
        assert rule["resourceNames"], "get only on named Secrets"
        assert rule["resources"] == ["secrets"]
    firewall = _one(docs, "Firewall", "edge")
    ref = firewall["spec"]["credentialsSecret"]
    role = _one(docs, "Role", "bmlb-controller-firewall-credentials", ref["namespace"])
    assert role["rules"] == [{"apiGroups": [""], "resources": ["secrets"], "resourceNames": [ref["name"]],
                              "verbs": ["get"]}]
    assert any(r is role for r, _ in _rules_of(docs, "bmlb-controller"))
    assert not [r for r, rule in _rules_of(docs, "bmlb-agent") if "secrets" in rule["resources"]]


def test_bindings_only_grant_our_roles_to_our_service_accounts(docs: list[Doc]) -> None:
    ours = {(d["kind"], d["metadata"]["name"]) for d in _roles(docs)}
    for binding in (d for d in docs if d["kind"] in ("RoleBinding", "ClusterRoleBinding")):
        ref = binding["roleRef"]
        assert (ref["kind"], ref["name"]) in ours, f"{binding['metadata']['name']} binds {ref['name']}"
        assert ref["name"] not in ("cluster-admin", "admin", "edit", "view")
        for subject in binding["subjects"]:
            assert subject["kind"] == "ServiceAccount"
            assert subject["name"] in ("bmlb-controller", "bmlb-agent") and subject["namespace"] == NAMESPACE


def test_controller_reads_what_it_watches_and_writes_only_status_finalizers_events(docs: list[Doc]) -> None:
    sa = "bmlb-controller"
    for _, group, _, plural in operator.WATCHED:
        for verb in ("get", "list", "watch"):
            assert _grants(docs, sa, group, plural, verb), f"controller cannot {verb} {plural}"
    assert _grants(docs, sa, "", "namespaces", "watch")  # the reconcile loop's daemon
    assert _grants(docs, sa, "", "services/status", "patch")
    for plural in ("vippools", "firewalls", "natrules", "securitypolicies"):
        assert _grants(docs, sa, "bmlb.io", f"{plural}/status", "patch")
    for group, plural in (("", "services"), ("bmlb.io", "natrules"), ("bmlb.io", "securitypolicies")):
        assert _grants(docs, sa, group, plural, "patch"), f"finalizers on {plural}"
    assert _grants(docs, sa, "", "events", "create") and _grants(docs, sa, "events.k8s.io", "events", "create")
    assert _grants(docs, sa, "kopf.dev", "clusterkopfpeerings", "watch")
    assert _grants(docs, sa, "coordination.k8s.io", "leases", "watch")  # the agents' node Leases

    allowed_writes = {("", "services"), ("", "services/status"), ("bmlb.io", "natrules"),
                      ("bmlb.io", "securitypolicies"), ("", "events"), ("events.k8s.io", "events"),
                      ("", "namespaces"), ("kopf.dev", "clusterkopfpeerings")}
    allowed_writes |= {("bmlb.io", f"{p}/status") for p in ("vippools", "firewalls", "natrules", "securitypolicies")}
    for _role, rule in _rules_of(docs, sa):
        if WRITE_VERBS & set(rule["verbs"]):
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    assert (group, resource) in allowed_writes, f"controller may write {group}/{resource}"
            if "namespaces" in rule["resources"]:
                assert rule["resourceNames"] == [NAMESPACE], "only its own Namespace object"
            if "clusterkopfpeerings" in rule["resources"]:
                assert rule["resourceNames"] == ["bmlb"]


def test_agent_only_reads_and_writes_its_lease(docs: list[Doc]) -> None:
    sa = "bmlb-agent"
    for watched in agent.WATCHED:
        for verb in ("get", "list", "watch"):
            assert _grants(docs, sa, watched.group, watched.plural, verb), f"agent cannot {verb} {watched.plural}"
    assert not _grants(docs, sa, "", "services/status", "patch")
    for role, rule in _rules_of(docs, sa):
        assert "bmlb.io" not in rule["apiGroups"] or set(rule["verbs"]) <= {"get", "list", "watch"}
        assert not any(r.endswith("/status") for r in rule["resources"])
        if WRITE_VERBS & set(rule["verbs"]):
            assert rule["apiGroups"] == ["coordination.k8s.io"] and rule["resources"] == ["leases"]
            assert role["kind"] == "Role" and role["metadata"]["namespace"] == NAMESPACE
            assert set(rule["verbs"]) == {"create", "get", "update"}


# --- workloads ------------------------------------------------------------------------------


def _parse(command: str, args: list[str]) -> dict[str, Any]:
    cmd = main.commands[command]
    ctx = cmd.make_context(command, list(args))
    return dict(ctx.params)


def test_controller_deployment(docs: list[Doc]) -> None:
    dep = _one(docs, "Deployment", "bmlb-controller", NAMESPACE)
    assert dep["spec"]["replicas"] == 2
    pod = dep["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "bmlb-controller"
    assert not pod.get("hostNetwork")
    anti = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]
    assert anti["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert anti["podAffinityTerm"]["labelSelector"]["matchLabels"] == dep["spec"]["selector"]["matchLabels"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    (c,) = pod["containers"]
    assert c["args"][0] == "controller"
    params = _parse("controller", c["args"][1:])
    assert params["health"] == "http://0.0.0.0:8080/healthz" and params["metrics_port"] == 9090
    assert params["peering"] == _one(docs, "ClusterKopfPeering", "bmlb")["metadata"]["name"]
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    for probe in ("livenessProbe", "readinessProbe"):
        assert c[probe]["httpGet"]["path"] == "/healthz"
        assert ports[c[probe]["httpGet"]["port"]] == 8080
    assert {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}} in c["env"]
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]} and sc["runAsNonRoot"] is True
    assert set(c["resources"]["requests"]) == {"cpu", "memory"} and set(c["resources"]["limits"]) == {"cpu", "memory"}
    assert c["image"] == deploy.DEFAULTS["image"]


def test_agent_daemonset(docs: list[Doc]) -> None:
    ds = _one(docs, "DaemonSet", "bmlb-agent", NAMESPACE)
    pod = ds["spec"]["template"]["spec"]
    assert pod["hostNetwork"] is True and pod["dnsPolicy"] == "ClusterFirstWithHostNet"
    assert pod["serviceAccountName"] == "bmlb-agent"
    assert {"operator": "Exists"} in pod["tolerations"]
    (c,) = pod["containers"]
    assert c["args"][0] == "agent"
    env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in c["env"]}
    assert env == {"NODE_NAME": "spec.nodeName", "NODE_IP": "status.hostIP", "POD_NAMESPACE": "metadata.namespace"}
    example = {"NODE_NAME": "node-a", "NODE_IP": "192.0.2.10", "POD_NAMESPACE": NAMESPACE}
    args = [re.sub(r"\$\((\w+)\)", lambda m: example[m.group(1)], a) for a in c["args"][1:]]
    params = _parse("agent", args)
    assert params["node"] == "node-a" and params["backend"] == "kernel"
    assert params["lease_namespace"] == NAMESPACE and params["address"] == "192.0.2.10"
    assert _grants(docs, "bmlb-agent", "coordination.k8s.io", "leases", "create", namespace=NAMESPACE)
    assert _grants(docs, "bmlb-agent", "coordination.k8s.io", "leases", "update", namespace=NAMESPACE)
    sc = c["securityContext"]
    assert sc["capabilities"]["drop"] == ["ALL"] and sc["capabilities"]["add"] == ["NET_ADMIN"]
    assert not sc.get("privileged") and sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"]
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["resources"]["limits"] and c["resources"]["requests"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    (init,) = pod["initContainers"]
    mounts = {m["mountPath"]: m for m in init["volumeMounts"]}
    assert mounts["/lib/modules"]["readOnly"] is True
    assert volumes[mounts["/lib/modules"]["name"]]["hostPath"]["path"] == "/lib/modules"
    script = init["command"][-1]
    for name, value in deploy.SYSCTLS.items():
        assert f"echo {value} > /proc/sys/{name.replace('.', '/')}" in script
    assert "modprobe -q ip_vs" in script


def test_only_the_agents_init_step_is_privileged(docs: list[Doc]) -> None:
    for d in docs:
        if d["kind"] not in ("Deployment", "DaemonSet"):
            continue
        pod = d["spec"]["template"]["spec"]
        for c in pod.get("containers", []):
            assert not c.get("securityContext", {}).get("privileged"), c["name"]
        for c in pod.get("initContainers", []):
            assert c["name"] == "kernel-setup" and d["kind"] == "DaemonSet"


# --- image ----------------------------------------------------------------------------------


def _dockerfile() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instr, _, rest = line.partition(" ")
            out.append((instr.upper(), rest.strip()))
    return out


def test_dockerfile_entrypoint_and_non_root_user(docs: list[Doc]) -> None:
    steps = _dockerfile()
    entrypoint = [json.loads(rest) for instr, rest in steps if instr == "ENTRYPOINT"]
    cmd = [json.loads(rest) for instr, rest in steps if instr == "CMD"]
    assert entrypoint[-1] == ["bmlb"] and cmd[-1] == ["controller"]
    user = [rest for instr, rest in steps if instr == "USER"][-1]
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "a numeric non-root USER lets runAsNonRoot verify it"
    dep = _one(docs, "Deployment", "bmlb-controller", NAMESPACE)
    assert dep["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == int(uid)
    runs = " ".join(rest for instr, rest in steps if instr == "RUN")
    assert re.search(r"pip install /src\b", runs), "a normal install: the CRDs and templates are package data"
    assert " -e " not in runs and "--editable" not in runs
    assert steps[0] == ("ARG", "BASE=docker.io/library/python:3.11-slim")
    froms = [rest for instr, rest in steps if instr == "FROM"]
    assert froms == ["${BASE} AS build", "${BASE}"], "multi-stage, both stages on BASE"
    assert ("COPY", "--from=build /opt/bmlb /opt/bmlb") in steps
    copied = {rest.split()[0] for instr, rest in steps if instr == "COPY" and not rest.startswith("--")}
    assert {"controller", "firewall", "ipvs", "crds", "templates", "examples"} <= copied
    ignored = {ln.strip().rstrip("/") for ln in (ROOT / ".dockerignore").read_text().splitlines()
               if ln.strip() and not ln.startswith("#")}
    assert not ignored & {"controller", "firewall", "ipvs", "crds", "templates", "examples", "pyproject.toml",
                          "README.md"}
