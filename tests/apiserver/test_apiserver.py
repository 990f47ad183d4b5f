"""The test API server is a real one: validation, subresources, watches, discovery, kubectl."""

from __future__ import annotations

import gc
import json
import shutil
import subprocess
import time
from typing import Any

import pytest
import yaml
from kubernetes import client, watch

from controller.cli.kapilite_build import bin_dir
from tests.apiserver.fixtures import install_crds
from tests.apiserver.server import ApiServer

CRD_YAML = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.test.bmlb.io
spec:
  group: test.bmlb.io
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, listKind: WidgetList}
  versions:
    - name: v1
      served: true
      storage: true
      subresources: {status: {}}
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              required: [port]
              x-kubernetes-validations:
                - rule: "self.mode != 'dr' || self.port < 1024"
                  message: direct routing needs a port below 1024
              properties:
                port: {type: integer, minimum: 1, maximum: 65535}
                mode: {type: string, enum: [nat, dr, tun], default: nat}
            status:
              type: object
              properties:
                phase: {type: string}
"""

LB_CLASS = "bmlb.io/ipvs"


def _lb_service(name: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "annotations": {"bmlb.io/scheduler": "wrr"}},
        "spec": {
            "type": "LoadBalancer",
            "loadBalancerClass": LB_CLASS,
            "selector": {"app": name},
            "ports": [{"name": "http", "port": 80, "targetPort": 8080}],
        },
    }


def test_namespace_fixture(kube_api: Any, k8s_namespace: str) -> None:
    ns = client.CoreV1Api(kube_api).read_namespace(k8s_namespace)
    assert ns.status.phase == "Active"
    assert ns.metadata.labels["bmlb.io/test"] == "true"


def test_loadbalancer_service_and_status_subresource(kube_api: Any, k8s_namespace: str) -> None:
    core = client.CoreV1Api(kube_api)
    svc = core.create_namespaced_service(k8s_namespace, _lb_service("web"))
    assert svc.spec.load_balancer_class == LB_CLASS
    assert svc.spec.cluster_ip and svc.spec.ports[0].node_port  # allocated by the server
    assert svc.spec.ports[0].protocol == "TCP"  # defaulted

    status = {"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.10", "ipMode": "VIP"}]}}}
    patched = core.patch_namespaced_service_status("web", k8s_namespace, status)
    assert patched.status.load_balancer.ingress[0].ip == "192.0.2.10"

    # The main endpoint ignores status; /status ignores spec: real subresource separation.
    core.patch_namespaced_service("web", k8s_namespace, {"status": {"loadBalancer": {}},
                                                         "metadata": {"labels": {"x": "y"}}})
    again = core.read_namespaced_service("web", k8s_namespace)
    assert again.status.load_balancer.ingress[0].ip == "192.0.2.10"
    assert again.metadata.labels == {"x": "y"}
    core.patch_namespaced_service_status("web", k8s_namespace, {"spec": {"loadBalancerClass": "other"}})
    assert core.read_namespaced_service("web", k8s_namespace).spec.load_balancer_class == LB_CLASS

    with pytest.raises(client.ApiException) as e:  # core validation: a Service needs ports
        core.create_namespaced_service(k8s_namespace, {"metadata": {"name": "noports"}, "spec": {}})
    assert e.value.status == 422


def test_crd_structural_schema_validation(kube_api: Any, k8s_namespace: str) -> None:
    install_crds(kube_api, [yaml.safe_load(CRD_YAML)])
    custom = client.CustomObjectsApi(kube_api)
    args = ("test.bmlb.io", "v1", k8s_namespace, "widgets")

    ok = custom.create_namespaced_custom_object(
        *args, {"apiVersion": "test.bmlb.io/v1", "kind": "Widget", "metadata": {"name": "w1"}, "spec": {"port": 443}}
    )
    assert ok["spec"]["mode"] == "nat"  # schema default applied by the server
    assert ok["metadata"]["generation"] == 1

    with pytest.raises(client.ApiException) as e:
        custom.create_namespaced_custom_object(
            *args,
            {"apiVersion": "test.bmlb.io/v1", "kind": "Widget", "metadata": {"name": "bad"},
             "spec": {"port": 70000, "mode": "bogus"}},
        )
    assert e.value.status == 422
    body = json.loads(e.value.body)
    fields = {c["field"] for c in body["details"]["causes"]}
    assert {"spec.port", "spec.mode"} <= fields, body
    assert "less than or equal to 65535" in body["message"]

    with pytest.raises(client.ApiException) as e:  # a CEL rule, evaluated by the server
        custom.create_namespaced_custom_object(
            *args,
            {"apiVersion": "test.bmlb.io/v1", "kind": "Widget", "metadata": {"name": "cel"},
             "spec": {"port": 8080, "mode": "dr"}},
        )
    assert e.value.status == 422
    assert "direct routing needs a port below 1024" in json.loads(e.value.body)["message"]

    # The status subresource is separate for custom resources too.
    custom.patch_namespaced_custom_object_status(*args, "w1", {"status": {"phase": "Ready"}})
    w1 = custom.get_namespaced_custom_object(*args, "w1")
    assert w1["status"] == {"phase": "Ready"}
    assert w1["metadata"]["generation"] == 1


def test_watch_yields_events(kube_api: Any, k8s_namespace: str) -> None:
    core = client.CoreV1Api(kube_api)
    rv = core.list_namespaced_config_map(k8s_namespace).metadata.resource_version
    core.create_namespaced_config_map(k8s_namespace, {"metadata": {"name": "c1"}, "data": {"a": "1"}})
    core.patch_namespaced_config_map("c1", k8s_namespace, {"data": {"a": "2"}})
    core.delete_namespaced_config_map("c1", k8s_namespace)

    seen: list[tuple[str, str]] = []
    w = watch.Watch()
    for ev in w.stream(core.list_namespaced_config_map, k8s_namespace, resource_version=rv, timeout_seconds=10):
        seen.append((ev["type"], ev["object"].metadata.name))
        if len(seen) == 3:
            w.stop()
    assert seen == [("ADDED", "c1"), ("MODIFIED", "c1"), ("DELETED", "c1")]


def test_endpointslices_and_leases(kube_api: Any, k8s_namespace: str) -> None:
    disc = client.DiscoveryV1Api(kube_api)
    eps = {
        "metadata": {"name": "web-abc", "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4",
        "endpoints": [
            {"addresses": ["10.1.0.5"], "conditions": {"ready": True}, "nodeName": "node-a"},
            {"addresses": ["10.1.0.6"], "conditions": {"ready": False}, "nodeName": "node-b"},
        ],
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
    }
    disc.create_namespaced_endpoint_slice(k8s_namespace, eps)
    listed = disc.list_namespaced_endpoint_slice(k8s_namespace, label_selector="kubernetes.io/service-name=web")
    assert [s.metadata.name for s in listed.items] == ["web-abc"]
    assert [e.addresses[0] for e in listed.items[0].endpoints] == ["10.1.0.5", "10.1.0.6"]
    with pytest.raises(client.ApiException) as e:
        disc.create_namespaced_endpoint_slice(
            k8s_namespace, {**eps, "metadata": {"name": "bad"}, "endpoints": [{"addresses": ["not-an-ip"]}]}
        )
    assert e.value.status == 422

    coord = client.CoordinationV1Api(kube_api)
    # MicroTime needs 6 fractional digits: the client drops them when the microseconds are 0
    # (isoformat), and the server then answers 400. Keep them non-zero.
    lease = coord.create_namespaced_lease(
        k8s_namespace,
        {"metadata": {"name": "bmlb-leader"},
         "spec": {"holderIdentity": "pod-a", "leaseDurationSeconds": 15,
                  "renewTime": "2026-01-01T00:00:00.123456Z"}},
    )
    assert lease.spec.holder_identity == "pod-a"
    stale = lease.metadata.resource_version
    coord.patch_namespaced_lease("bmlb-leader", k8s_namespace, {"spec": {"holderIdentity": "pod-b"}})
    lease.spec.holder_identity = "pod-c"
    with pytest.raises(client.ApiException) as e:  # optimistic concurrency: a stale resourceVersion
        coord.replace_namespaced_lease("bmlb-leader", k8s_namespace, lease)
    assert e.value.status == 409
    assert lease.metadata.resource_version == stale


def test_kubectl_binary(apiserver: ApiServer, k8s_namespace: str) -> None:
    kubectl = shutil.which("kubectl")
    assert kubectl == str(bin_dir() / "kubectl")  # the fixture put the built one first on PATH
    out = subprocess.run(
        [kubectl, f"--kubeconfig={apiserver.kubeconfig}", "get", "ns", "-o", "name"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout.split()
    assert "namespace/default" in out and f"namespace/{k8s_namespace}" in out

    manifest = yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap",
                               "metadata": {"name": "applied", "namespace": k8s_namespace},
                               "data": {"k": "v"}})
    apiserver.kubectl("apply", "--server-side", "-f", "-", input=manifest)
    got = json.loads(apiserver.kubectl("get", "configmap", "applied", "-n", k8s_namespace, "-o", "json").stdout)
    assert got["data"] == {"k": "v"}


def test_apiserver_restart_keeps_data(apiserver: ApiServer, kube_api: Any, k8s_namespace: str) -> None:
    core = client.CoreV1Api(kube_api)
    core.create_namespaced_config_map(k8s_namespace, {"metadata": {"name": "survivor"}})
    apiserver.stop_apiserver()
    assert not apiserver.is_ready()
    with pytest.raises(Exception):  # noqa: B017 - connection refused, as urllib3 reports it
        core.read_namespaced_config_map("survivor", k8s_namespace, _request_timeout=2)
    apiserver.start_apiserver()
    assert core.read_namespaced_config_map("survivor", k8s_namespace).metadata.name == "survivor"


OPERATOR = '''
import kopf

@kopf.on.create("test.bmlb.io", "v1", "widgets")
def created(spec, patch, **_):
    patch.status["phase"] = f"Seen {spec['port']}"
'''


# kopf's aiohttp session leaves a socket to the server unclosed when KopfRunner stops; it is
# garbage-collected later, and with filterwarnings=error pytest reports that ResourceWarning as an
# error wherever it happens to surface. Collect it here, inside this test, where it is ignored.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_kopf_operator_in_process(
    kubeconfig_env: ApiServer, kube_api: Any, k8s_namespace: str, tmp_path: Any
) -> None:
    """kopf, unmodified and in-process, finds the server through kubeconfig_env."""
    from kopf.testing import KopfRunner

    install_crds(kube_api, [yaml.safe_load(CRD_YAML)])
    custom = client.CustomObjectsApi(kube_api)
    args = ("test.bmlb.io", "v1", k8s_namespace, "widgets")
    (tmp_path / "op.py").write_text(OPERATOR)
    with KopfRunner(["run", "--standalone", "-n", k8s_namespace, str(tmp_path / "op.py")], timeout=60) as runner:
        custom.create_namespaced_custom_object(
            *args, {"apiVersion": "test.bmlb.io/v1", "kind": "Widget", "metadata": {"name": "k1"},
                    "spec": {"port": 53}})
        deadline = time.monotonic() + 20
        while (custom.get_namespaced_custom_object(*args, "k1").get("status") or {}).get("phase") != "Seen 53":
            assert time.monotonic() < deadline, runner.output[-3000:]
            time.sleep(0.1)
    gc.collect()
    assert runner.exit_code == 0, runner.output[-3000:]
    assert runner.exception is None
