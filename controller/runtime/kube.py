"""The thin layer over the Kubernetes API the controller and agent write through.

Calls are synchronous (urllib3); callers run them in a thread (asyncio.to_thread). API errors do
not leave this module: callers get KubeError.
"""

from __future__ import annotations

import base64
import logging
import uuid
from typing import Any
from urllib.parse import quote

import urllib3

from controller.core import kinds, specs
from controller.core.problems import ObjectRef
from controller.runtime.clock import now
from controller.runtime.kubeapi import MERGE, ApiError, KubeAPI, connect

log = logging.getLogger("bmlb.kube")
PLURAL = kinds.PLURAL
COMPONENT = "bmlb-controller"


class KubeError(Exception):
    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


def object_path(ref: ObjectRef) -> str:
    """The API path of a Service or one of bmlb's custom resources."""
    name = quote(ref.name, safe="")
    if ref.kind == "Service":
        return f"/api/v1/namespaces/{quote(ref.namespace, safe='')}/services/{name}"
    base = f"/apis/{specs.GROUP}/{specs.VERSION}"
    if not kinds.BY_NAME[ref.kind].namespaced:
        return f"{base}/{PLURAL[ref.kind]}/{name}"
    return f"{base}/namespaces/{quote(ref.namespace, safe='')}/{PLURAL[ref.kind]}/{name}"


class Kube:
    def __init__(self, api: KubeAPI) -> None:
        self.api = api

    @classmethod
    def from_config(cls, kubeconfig: str | None = None) -> Kube:
        return cls(connect(kubeconfig, pool_size=32))  # status writes run in parallel

    def patch_status(self, ref: ObjectRef, status: dict[str, Any]) -> None:
        # The answer (the whole object) is not decoded: thousands of statuses change at once.
        try:
            self.api.send("PATCH", object_path(ref) + "/status", body={"status": status}, content_type=MERGE)
        except ApiError as err:
            raise KubeError(f"patch status of {ref}: {err.status} {err.reason}", err.status) from None

    def patch_finalizers(self, ref: ObjectRef, finalizers: tuple[str, ...], resource_version: str) -> None:
        """Set the object's finalizers, only if it is still at `resource_version` (else 409)."""
        meta: dict[str, Any] = {"finalizers": list(finalizers) or None}
        if resource_version:
            meta["resourceVersion"] = resource_version
        try:
            self.api.send("PATCH", object_path(ref), body={"metadata": meta}, content_type=MERGE)
        except ApiError as err:
            raise KubeError(f"patch finalizers of {ref}: {err.status} {err.reason}", err.status) from None

    def post_event(self, ref: ObjectRef, *, uid: str, type_: str, reason: str, message: str) -> None:
        ns = ref.namespace or "default"
        api_version = kinds.BY_NAME[ref.kind].api_version if ref.kind in kinds.BY_NAME else specs.API_VERSION
        stamp = now()
        involved = {"kind": ref.kind, "name": ref.name, "apiVersion": api_version}
        if ref.namespace:
            involved["namespace"] = ref.namespace
        if uid:
            involved["uid"] = uid
        event = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{ref.name}.{uuid.uuid4().hex[:12]}", "namespace": ns},
            "involvedObject": involved, "reason": reason[:128], "message": message[:1024], "type": type_,
            "count": 1, "firstTimestamp": stamp, "lastTimestamp": stamp,
            "source": {"component": COMPONENT}, "reportingComponent": COMPONENT,
        }
        try:
            self.api.send("POST", f"/api/v1/namespaces/{quote(ns, safe='')}/events", body=event)
        except ApiError as err:
            log.warning("cannot post event for %s: %s %s", ref, err.status, err.reason)

    def read_secret(self, namespace: str, name: str) -> dict[str, str]:
        try:
            secret = self.api.call("GET", f"/api/v1/namespaces/{quote(namespace, safe='')}/secrets/"
                                          f"{quote(name, safe='')}")
        except ApiError as err:
            raise KubeError(f"Secret {namespace}/{name}: {err.status} {err.reason}", err.status) from None
        except urllib3.exceptions.HTTPError as err:
            raise KubeError(f"Secret {namespace}/{name}: {type(err).__name__}: {err}") from None
        data = secret.get("data") if isinstance(secret.get("data"), dict) else {}
        try:
            out = {str(k): base64.b64decode(str(v)).decode() for k, v in data.items()}
        except ValueError:  # binascii.Error and UnicodeDecodeError both are
            raise KubeError(f"Secret {namespace}/{name}: a data value is not base64-encoded UTF-8 text") from None
        string_data = secret.get("stringData")
        if isinstance(string_data, dict):
            out.update({str(k): str(v) for k, v in string_data.items()})
        return out
