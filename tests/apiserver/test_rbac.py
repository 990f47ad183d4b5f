"""RBAC: bmlb's controller and agent authenticate as the deploy ServiceAccounts (client
certificates for system:serviceaccount:bmlb-system:NAME, as the API server names a ServiceAccount
token's user) and are authorized by exactly the RBAC objects in deploy/. They do their job under
those rights, and what the rights leave out is refused with 403.

kapilite evaluates the RBAC objects itself (kube-apiserver's RBAC authorizer is not packaged; see
kapilite/rbac.go): the deploy manifests are applied unchanged by the real kubectl.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from controller.cli.kapilite_pki import service_account_user
from controller.cli.localcluster import Cluster, process, wait_for
from controller.runtime.operator import FINALIZER
from firewall.sim import Simulator
from tests.apiserver.fixtures import install_crds
from tests.apiserver.server import ApiServer

# The controller tests' fixtures (API server with bmlb's CRDs, PAN-OS simulator).
from tests.controller.conftest import cluster, ns, sim  # noqa: F401
from tests.controller.estate import nat, policy, pool, service, slice_

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "base"
HOME = "bmlb-system"
SECRET = "firewall-credentials"


@pytest.fixture(scope="module")
def deploy_rbac(apiserver: ApiServer, kube_api: Any) -> dict[str, Path]:
    """deploy/'s namespace, peering and RBAC applied with kubectl; a kubeconfig per ServiceAccount."""
    crds = [d for d in yaml.safe_load_all((DEPLOY / "01-crds.yaml").read_text())
            if d and d["spec"]["group"] == "kopf.dev"]
    install_crds(kube_api, crds)
    for f in ("00-namespace.yaml", "02-peering.yaml", "10-rbac-controller.yaml", "11-rbac-agent.yaml"):
        apiserver.kubectl("apply", "-f", str(DEPLOY / f))
    return {sa: apiserver.user_kubeconfig(*service_account_user(HOME, f"bmlb-{sa}"), namespace=HOME)
            for sa in ("controller", "agent")}


@pytest.fixture(scope="module")
def as_sa(deploy_rbac: dict[str, Path]) -> Iterator[Callable[[str], Any]]:
    clients: dict[str, Any] = {}

    def get(sa: str) -> Any:
        if sa not in clients:
            clients[sa] = config.new_client_from_config(config_file=str(deploy_rbac[sa]))
        return clients[sa]

    yield get
    for c in clients.values():
        c.close()


def _status(call: Callable[[], Any]) -> int:
    try:
        call()
    except ApiException as e:
        return int(e.status)
    return 200


def _forbidden(call: Callable[[], Any]) -> str:
    try:
        call()
    except ApiException as e:
        assert e.status == 403, (e.status, e.body)
        return str(json.loads(e.body)["message"])
    raise AssertionError("allowed")


def test_forbidden_actions_are_refused_with_403(as_sa: Callable[[str], Any], cluster: Cluster,  # noqa: F811
                                                ns: str) -> None:  # noqa: F811
    cluster.apply(service(ns, "web", (80, 8080)))
    if _status(lambda: cluster.core.read_namespaced_secret("other-secret", HOME)) == 404:
        cluster.core.create_namespaced_secret(HOME, {"metadata": {"name": "other-secret"}, "stringData": {"k": "v"}})
    ctl, agent = client.CoreV1Api(as_sa("controller")), client.CoreV1Api(as_sa("agent"))
    ctl_coord, agent_coord = client.CoordinationV1Api(as_sa("controller")), client.CoordinationV1Api(as_sa("agent"))
    lease = {"metadata": {"name": "bmlb-node-n9"}, "spec": {"holderIdentity": "n9"}}

    # Secrets: no list or watch anywhere, no get beyond the firewall credentials.
    msg = _forbidden(lambda: ctl.list_namespaced_secret(HOME))
    assert msg == (f'secrets is forbidden: User "system:serviceaccount:{HOME}:bmlb-controller" cannot list '
                   f'resource "secrets" in API group "" in the namespace "{HOME}"')
    _forbidden(lambda: ctl.list_secret_for_all_namespaces())
    _forbidden(lambda: ctl.list_namespaced_secret(HOME, watch=True, timeout_seconds=1))
    _forbidden(lambda: ctl.read_namespaced_secret("other-secret", HOME))
    _forbidden(lambda: agent.list_namespaced_secret(HOME))
    _forbidden(lambda: agent.read_namespaced_secret(SECRET, HOME))

    # Leases: the controller writes none; the agent none outside its own namespace, and deletes none.
    _forbidden(lambda: ctl_coord.create_namespaced_lease(HOME, lease))
    _forbidden(lambda: agent_coord.create_namespaced_lease("kube-node-lease", lease))
    _forbidden(lambda: agent_coord.create_namespaced_lease(ns, lease))
    _forbidden(lambda: agent_coord.delete_namespaced_lease("bmlb-node-n9", HOME))

    # Services: the agent only reads; nobody deletes one or replaces its spec; status is the
    # controller's alone.
    spec_patch = {"spec": {"ports": [{"name": "p80", "port": 81, "targetPort": 8080, "protocol": "TCP"}]}}
    msg = _forbidden(lambda: agent.patch_namespaced_service("web", ns, spec_patch))
    assert "cannot patch resource \"services\"" in msg, msg
    _forbidden(lambda: agent.patch_namespaced_service_status("web", ns, {"status": {}}))
    _forbidden(lambda: ctl.replace_namespaced_service("web", ns, cluster.core.read_namespaced_service("web", ns)))
    _forbidden(lambda: ctl.delete_namespaced_service("web", ns))
    _forbidden(lambda: ctl.create_namespaced_service(ns, service(ns, "new", (80, 80))))
    assert cluster.core.read_namespaced_service("web", ns).spec.ports[0].port == 80

    # bmlb objects: users write them, bmlb does not; RBAC objects: nobody here.
    custom = client.CustomObjectsApi(as_sa("controller"))
    _forbidden(lambda: custom.create_namespaced_custom_object("bmlb.io", "v1alpha1", ns, "natrules",
                                                              nat(ns, "x", "web", 80, address="198.51.100.1")))
    _forbidden(lambda: custom.delete_cluster_custom_object("bmlb.io", "v1alpha1", "vippools", "any"))
    _forbidden(lambda: client.RbacAuthorizationV1Api(as_sa("controller")).list_cluster_role())
    _forbidden(lambda: agent.create_namespaced_event(ns, {"metadata": {"name": "e"}, "involvedObject": {}}))
    # A name-restricted right does not reach other names: only Namespace bmlb-system gets kopf's finalizer.
    _forbidden(lambda: ctl.patch_namespace(ns, {"metadata": {"annotations": {"x": "y"}}}))
    assert _status(lambda: ctl.patch_namespace(HOME, {"metadata": {"annotations": {"bmlb.io/rbac-test": "1"}}})) == 200

    # What the rights do allow (so the refusals above are not a server that refuses everything).
    assert _status(lambda: ctl.list_service_for_all_namespaces()) == 200
    assert _status(lambda: agent.list_node()) == 200
    assert _status(lambda: agent_coord.create_namespaced_lease(HOME, lease)) in (200, 409)
    client.CoordinationV1Api(cluster.api).delete_namespaced_lease("bmlb-node-n9", HOME)
    cluster.core.patch_namespace(HOME, {"metadata": {"annotations": {"bmlb.io/rbac-test": None}}})


@pytest.mark.xfail(strict=True, raises=AssertionError, reason=(
    "deploy/base/11-rbac-agent.yaml: every agent shares one ServiceAccount with update on every Lease in "
    "bmlb-system; RBAC cannot tell node n1's agent from n2's"))
def test_agent_cannot_write_another_nodes_lease(as_sa: Callable[[str], Any], kube_api: Any) -> None:
    admin = client.CoordinationV1Api(kube_api)
    with contextlib.suppress(ApiException):
        admin.create_namespaced_lease(HOME, {"metadata": {"name": "bmlb-node-n2"}, "spec": {"holderIdentity": "n2"}})
    agent = client.CoordinationV1Api(as_sa("agent"))  # n1's agent
    lease = agent.read_namespaced_lease("bmlb-node-n2", HOME)
    lease.spec.holder_identity = "n1"
    _forbidden(lambda: agent.replace_namespaced_lease("bmlb-node-n2", HOME, lease))


@pytest.mark.xfail(strict=True, raises=AssertionError, reason=(
    "deploy/base/10-rbac-controller.yaml grants patch on services (bmlb's finalizer); RBAC cannot limit a "
    "patch to metadata"))
def test_controller_cannot_patch_a_service_spec(as_sa: Callable[[str], Any], cluster: Cluster,  # noqa: F811
                                                ns: str) -> None:  # noqa: F811
    cluster.apply(service(ns, "web", (80, 8080)))
    ctl = client.CoreV1Api(as_sa("controller"))
    _forbidden(lambda: ctl.patch_namespaced_service("web", ns, {"spec": {"sessionAffinity": "ClientIP"}}))


def _ready(c: Cluster, kind: str, name: str, namespace: str | None) -> bool:
    cond = c.condition(kind, name, namespace, "Ready")
    return bool(cond and cond["status"] == "True")


_STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ")
# A 403 as a status code, not the digits of a number such as a log line's milliseconds or "0.403s".
_DENIAL = re.compile(r"(?<![\d.,])\b403\b(?![.,]\d)|[Ff]orbidden")


def _denials(log: Path) -> list[str]:
    return [line for line in log.read_text(errors="replace").splitlines()
            if _DENIAL.search(_STAMP.sub("", line))]


def test_controller_and_agent_do_their_job_with_exactly_the_deploy_rights(
    apiserver: ApiServer, deploy_rbac: dict[str, Path], cluster: Cluster, ns: str, sim: Simulator,  # noqa: F811
    tmp_path: Path,
) -> None:
    _forget_other_controllers(cluster)
    with contextlib.suppress(ApiException):
        cluster.core.delete_namespaced_secret(SECRET, HOME)
    cluster.core.create_namespaced_secret(HOME, {"metadata": {"name": SECRET}, "data": {
        "apiKey": base64.b64encode(sim.api_key("admin").encode()).decode(),
        "username": base64.b64encode(b"admin").decode()}})
    fw = f"{ns}-edge"[:63]
    cluster.apply({"apiVersion": "bmlb.io/v1alpha1", "kind": "Firewall", "metadata": {"name": fw},
                   "spec": {"host": sim.host, "port": sim.port, "caBundle": Path(sim.ca_file).read_text(),
                            "credentialsSecret": {"name": SECRET, "namespace": HOME},
                            "commit": {"debounceSeconds": 0.3}}})
    cluster.apply(pool(f"{ns}-vips", "10.83.0.0/28", namespaces=[ns]))
    cluster.apply(pool(f"{ns}-pub", "198.51.100.32/29", zone="untrust", purpose="Public", auto=False,
                       namespaces=[ns]))
    cluster.apply(service(ns, "web", (443, 8443)))
    cluster.apply(slice_(ns, "web", [(443, 8443)], [("10.244.1.1", "n1")]))
    cluster.apply(nat(ns, "web", "web", 443, pool=f"{ns}-pub"))
    cluster.apply(policy(ns, "web", ["web"], [{"name": "inet", "from": {"zones": ["untrust"]}}]))

    ctl_log, agent_log, state = tmp_path / "controller.log", tmp_path / "agent.log", tmp_path / "n1.json"
    env = {k: v for k, v in apiserver.env().items() if k != "KUBECONFIG"}
    controller = ["controller", "--kubeconfig", str(deploy_rbac["controller"]), "--namespace", HOME,
                  "--peering", "bmlb", "--debounce", "0.3", "--resync", "3600"]
    agent = ["agent", "--node", "n1", "--backend", "memory", "--kubeconfig", str(deploy_rbac["agent"]),
             "--state-file", str(state), "--lease-namespace", HOME, "--address", "192.0.2.41"]
    lease_api = client.CoordinationV1Api(cluster.api)
    try:
        with process(controller, env=env, log=ctl_log) as ctl, process(agent, env=env, log=agent_log) as ag:
            def logs() -> str:
                return f"controller:\n{ctl_log.read_text()[-4000:]}\nagent:\n{agent_log.read_text()[-3000:]}"

            vip = wait_for("a VIP", lambda: cluster.ingress("web", ns), timeout=60)[0]
            wait_for("NATRule Ready", lambda: _ready(cluster, "NATRule", "web", ns), timeout=60)
            wait_for("SecurityPolicy Ready", lambda: _ready(cluster, "SecurityPolicy", "web", ns), timeout=30)
            # The NAT rule on the firewall translates to the VIP's address object.
            assert f"<translated-address>bmlb-{vip}</translated-address>" in sim.running_xml(), logs()
            wait_for("the Firewall's status", lambda: (c := cluster.condition("Firewall", fw, None, "FirewallSynced"))
                     and c["status"] == "True", timeout=30)
            wait_for("the controller's Events", lambda: [e for e in cluster.events(ns, "web") if e[1]], timeout=30)
            # The agent programs the VIP and keeps its node's Lease.
            wait_for("the agent's table", lambda: state.exists() and vip in state.read_text(), timeout=40)
            lease = wait_for("n1's Lease", lambda: _lease(lease_api, "bmlb-node-n1"), timeout=30)
            assert lease.spec.holder_identity == "n1"
            # Deleting a NATRule: the controller removes its firewall rule and its own finalizer.
            cluster.delete("NATRule", "web", ns)
            wait_for("NATRule gone", lambda: cluster.gone("NATRule", "web", ns), timeout=60)
            wait_for("the NAT rule removed", lambda: f"<translated-address>bmlb-{vip}</translated-address>"
                     not in sim.running_xml(), timeout=30)
            assert ctl.poll() is None and ag.poll() is None, logs()
            assert _denials(ctl_log) == [] and _denials(agent_log) == [], logs()
    finally:
        with contextlib.suppress(ApiException):
            cluster.core.delete_namespaced_secret(SECRET, HOME)
        with contextlib.suppress(ApiException):
            lease_api.delete_namespaced_lease("bmlb-node-n1", HOME)


def _forget_other_controllers(c: Cluster) -> None:
    """Earlier tests' controllers ran their loop as a kopf daemon on their own test Namespace and left
    bmlb's finalizer there. A cluster has one such Namespace, bmlb-system; kopf would try to remove
    the others' finalizer, which deploy's rights rightly refuse. Remove them as the admin."""
    for n in c.core.list_namespace().items:
        kept = [f for f in n.metadata.finalizers or [] if f != FINALIZER]
        if n.metadata.name != HOME and kept != (n.metadata.finalizers or []):
            with contextlib.suppress(ApiException):
                c.core.patch_namespace(n.metadata.name, {"metadata": {"finalizers": kept or None}})


def _lease(api: Any, name: str) -> Any:
    try:
        return api.read_namespaced_lease(name, HOME)
    except ApiException as e:
        if e.status == 404:
            return None
        raise
