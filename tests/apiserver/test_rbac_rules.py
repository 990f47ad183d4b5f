"""kapilite's RBAC authorizer follows kube-apiserver's RBAC semantics (documented at
kubernetes.io/docs/reference/access-authn-authz/rbac/): bindings, subjects, resourceNames,
subresources, wildcards, non-resource URLs. Each case is one request by a fresh user."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from controller.cli.kapilite_pki import service_account_user
from tests.apiserver.server import ApiServer


@pytest.fixture
def user(apiserver: ApiServer, kube_api: Any) -> Iterator[Callable[..., Any]]:
    """user(name, groups) -> an ApiClient authenticated as that user (client certificate)."""
    made: list[Any] = []

    def make(name: str, groups: tuple[str, ...] = ()) -> Any:
        c = config.new_client_from_config(config_file=str(apiserver.user_kubeconfig(name, groups)))
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


def status(call: Callable[[], Any]) -> int:
    try:
        call()
    except ApiException as e:
        return int(e.status)
    return 200


def bind(kube_api: Any, ns: str | None, role: dict[str, Any], subjects: list[dict[str, Any]]) -> None:
    rbac = client.RbacAuthorizationV1Api(kube_api)
    name = role["metadata"]["name"]
    ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": role["kind"], "name": name}
    if role["kind"] == "ClusterRole":
        rbac.create_cluster_role(role)
    else:
        rbac.create_namespaced_role(ns, role)
    binding = {"metadata": {"name": name}, "roleRef": ref, "subjects": subjects}
    if ns:
        rbac.create_namespaced_role_binding(ns, binding)
    else:
        rbac.create_cluster_role_binding(binding)


def test_rbac_semantics(apiserver: ApiServer, kube_api: Any, k8s_namespace: str, user: Callable[..., Any]) -> None:
    ns, tag = k8s_namespace, secrets.token_hex(3)
    core = client.CoreV1Api(kube_api)
    core.create_namespaced_config_map(ns, {"metadata": {"name": "mine"}, "data": {"a": "1"}})
    core.create_namespaced_config_map(ns, {"metadata": {"name": "other"}, "data": {"a": "1"}})
    core.create_namespaced_service(ns, {"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}})
    alice = client.CoreV1Api(user(f"alice-{tag}"))
    assert status(lambda: alice.list_namespaced_config_map(ns)) == 403  # nothing bound yet

    # A Role with resourceNames: get of that name only; list (no name) is not covered.
    bind(kube_api, ns, {"kind": "Role", "metadata": {"name": f"cm-{tag}"}, "rules": [
        {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["mine"], "verbs": ["get", "update"]}]},
        [{"kind": "User", "name": f"alice-{tag}", "apiGroup": "rbac.authorization.k8s.io"}])
    assert status(lambda: alice.read_namespaced_config_map("mine", ns)) == 200
    assert status(lambda: alice.read_namespaced_config_map("other", ns)) == 403
    assert status(lambda: alice.list_namespaced_config_map(ns)) == 403
    assert status(lambda: alice.delete_namespaced_config_map("mine", ns)) == 403

    # A RoleBinding to a ClusterRole grants it in that namespace only; a subresource needs its own
    # rule ("*/status" covers every status).
    bind(kube_api, None, {"kind": "ClusterRole", "metadata": {"name": f"svc-read-{tag}"}, "rules": [
        {"apiGroups": [""], "resources": ["services"], "verbs": ["get", "list"]}]}, [])
    client.RbacAuthorizationV1Api(kube_api).create_namespaced_role_binding(ns, {
        "metadata": {"name": f"svc-read-{tag}"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": f"svc-read-{tag}"},
        "subjects": [{"kind": "Group", "name": f"team-{tag}", "apiGroup": "rbac.authorization.k8s.io"}]})
    bob = client.CoreV1Api(user(f"bob-{tag}", (f"team-{tag}",)))
    assert status(lambda: bob.list_namespaced_service(ns)) == 200
    assert status(lambda: bob.list_namespaced_service("default")) == 403
    assert status(lambda: bob.list_service_for_all_namespaces()) == 403
    assert status(lambda: bob.patch_namespaced_service_status("web", ns, {"status": {}})) == 403
    bind(kube_api, ns, {"kind": "Role", "metadata": {"name": f"status-{tag}"}, "rules": [
        {"apiGroups": ["*"], "resources": ["*/status"], "verbs": ["patch"]}]},
        [{"kind": "Group", "name": f"team-{tag}", "apiGroup": "rbac.authorization.k8s.io"}])
    assert status(lambda: bob.patch_namespaced_service_status("web", ns, {"status": {}})) == 200
    assert status(lambda: bob.patch_namespaced_service("web", ns, {"metadata": {"labels": {"a": "b"}}})) == 403

    # A ServiceAccount subject without a namespace means the binding's namespace; its user is
    # system:serviceaccount:NS:NAME and only that.
    bind(kube_api, ns, {"kind": "Role", "metadata": {"name": f"sa-{tag}"}, "rules": [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}]},
        [{"kind": "ServiceAccount", "name": "app"}])
    sa = client.CoreV1Api(user(*service_account_user(ns, "app")))
    assert status(lambda: sa.list_namespaced_config_map(ns)) == 200
    other_sa = client.CoreV1Api(user(*service_account_user("default", "app")))
    assert status(lambda: other_sa.list_namespaced_config_map(ns)) == 403

    # Non-resource URLs: discovery for every authenticated user (bootstrap policy); nothing else.
    carol = apiserver.user_kubeconfig(f"carol-{tag}")
    for path in ("/api", "/apis", "/version", "/healthz"):
        assert apiserver.kubectl("get", "--raw", path, kubeconfig=carol, check=False).returncode == 0, path
    r = apiserver.kubectl("get", "--raw", "/metrics", kubeconfig=carol, check=False)
    assert r.returncode != 0 and "Forbidden" in r.stderr, r.stderr
    # system:masters is allowed everything.
    root = client.CoreV1Api(user(f"root-{tag}", ("system:masters",)))
    assert status(lambda: root.list_secret_for_all_namespaces()) == 200
