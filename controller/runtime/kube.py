"""The thin layer over the Kubernetes API the controller and agent write through.

The kubernetes client is synchronous; callers run these in a thread (asyncio.to_thread).
Kubernetes exceptions do not leave this module: callers get KubeError.
"""

from __future__ import annotations

import base64
import logging
import uuid
from typing import Any

import kubernetes
from kubernetes.client.rest import ApiException

from controller.core import kinds, specs
from controller.core.problems import ObjectRef
from controller.runtime.clock import now

log = logging.getLogger("bmlb.kube")
MERGE = "application/merge-patch+json"
PLURAL = kinds.PLURAL
COMPONENT = "bmlb-controller"


class KubeError(Exception):
    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class Kube:
    def __init__(self, api: kubernetes.client.ApiClient) -> None:
        self.api = api
        self.core = kubernetes.client.CoreV1Api(api)
        self.custom = kubernetes.client.CustomObjectsApi(api)
        self.coordination = kubernetes.client.CoordinationV1Api(api)

    @classmethod
    def from_config(cls, kubeconfig: str | None = None) -> Kube:
        cfg = kubernetes.client.Configuration()
        cfg.connection_pool_maxsize = 32  # status writes run in parallel
        if kubeconfig:
            kubernetes.config.load_kube_config(config_file=kubeconfig, client_configuration=cfg)
        else:
            try:
                kubernetes.config.load_incluster_config(client_configuration=cfg)
            except kubernetes.config.ConfigException:
                kubernetes.config.load_kube_config(client_configuration=cfg)
        return cls(kubernetes.client.ApiClient(cfg))

    def patch_status(self, ref: ObjectRef, status: dict[str, Any]) -> None:
        body = {"status": status}
        # The answer (the whole object) is not read: decoding it into client models cost more CPU
        # than the write itself when thousands of statuses change at once.
        raw = {"_content_type": MERGE, "_preload_content": False}
        try:
            if ref.kind == "Service":
                resp = self.core.patch_namespaced_service_status(ref.name, ref.namespace, body, **raw)
            elif not kinds.BY_NAME[ref.kind].namespaced:
                resp = self.custom.patch_cluster_custom_object_status(specs.GROUP, specs.VERSION, PLURAL[ref.kind],
                                                                      ref.name, body, **raw)
            else:
                resp = self.custom.patch_namespaced_custom_object_status(specs.GROUP, specs.VERSION, ref.namespace,
                                                                         PLURAL[ref.kind], ref.name, body, **raw)
            resp.read()  # drained, so the pooled connection can be reused
            resp.release_conn()
        except ApiException as err:
            raise KubeError(f"patch status of {ref}: {err.status} {err.reason}", err.status) from None

    def patch_finalizers(self, ref: ObjectRef, finalizers: tuple[str, ...], resource_version: str) -> None:
        """Set the object's finalizers, only if it is still at `resource_version` (else 409)."""
        meta: dict[str, Any] = {"finalizers": list(finalizers) or None}
        if resource_version:
            meta["resourceVersion"] = resource_version
        body = {"metadata": meta}
        raw = {"_content_type": MERGE, "_preload_content": False}
        try:
            if ref.kind == "Service":
                resp = self.core.patch_namespaced_service(ref.name, ref.namespace, body, **raw)
            else:
                resp = self.custom.patch_namespaced_custom_object(specs.GROUP, specs.VERSION, ref.namespace,
                                                                  PLURAL[ref.kind], ref.name, body, **raw)
            resp.read()
            resp.release_conn()
        except ApiException as err:
            raise KubeError(f"patch finalizers of {ref}: {err.status} {err.reason}", err.status) from None

    def post_event(self, ref: ObjectRef, *, uid: str, type_: str, reason: str, message: str) -> None:
        ns = ref.namespace or "default"
        api_version = kinds.BY_NAME[ref.kind].api_version if ref.kind in kinds.BY_NAME else specs.API_VERSION
        stamp = now()
        event = kubernetes.client.CoreV1Event(
            metadata=kubernetes.client.V1ObjectMeta(name=f"{ref.name}.{uuid.uuid4().hex[:12]}", namespace=ns),
            involved_object=kubernetes.client.V1ObjectReference(
                kind=ref.kind, namespace=ref.namespace or None, name=ref.name, uid=uid or None,
                api_version=api_version),
            reason=reason[:128], message=message[:1024], type=type_, count=1,
            first_timestamp=stamp, last_timestamp=stamp,
            source=kubernetes.client.V1EventSource(component=COMPONENT), reporting_component=COMPONENT,
        )
        try:
            resp = self.core.create_namespaced_event(ns, event, _preload_content=False)
            resp.read()
            resp.release_conn()
        except ApiException as err:
            log.warning("cannot post event for %s: %s %s", ref, err.status, err.reason)

    def read_secret(self, namespace: str, name: str) -> dict[str, str]:
        try:
            secret = self.core.read_namespaced_secret(name, namespace)
        except ApiException as err:
            raise KubeError(f"Secret {namespace}/{name}: {err.status} {err.reason}", err.status) from None
        data = {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}
        data.update(secret.string_data or {})
        return data
