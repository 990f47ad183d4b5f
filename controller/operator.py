"""`bmlb controller`: the kopf operator. Watches feed the index; the reconcile loop runs as a
daemon on one singleton object, so kopf peering pauses it on standby replicas."""

from __future__ import annotations

import asyncio
import logging
import os
import random
from typing import Any

import kopf
from kopf._cogs.clients import errors as kopf_errors  # the watch errors kopf does not retry

from controller import specs
from controller.fwlink import FirewallLinks
from controller.index import ClusterIndex
from controller.kube import Kube
from controller.metrics import Metrics
from controller.reconciler import Reconciler
from controller.snapshot import LEASE_PREFIX, ref_of

log = logging.getLogger("bmlb.operator")
FINALIZER = "bmlb.io/firewall-cleanup"
WATCHED = [
    ("Service", "", "v1", "services"),
    ("EndpointSlice", "discovery.k8s.io", "v1", "endpointslices"),
    ("Node", "", "v1", "nodes"),
    ("VIPPool", specs.GROUP, specs.VERSION, "vippools"),
    ("SecurityPolicy", specs.GROUP, specs.VERSION, "securitypolicies"),
    ("NATRule", specs.GROUP, specs.VERSION, "natrules"),
    ("Firewall", specs.GROUP, specs.VERSION, "firewalls"),
    ("Lease", "coordination.k8s.io", "v1", "leases"),
]


def build(*, kube: Kube, home_namespace: str, metrics: Metrics, debounce: float | None = None,
          startup_grace: float = 0.0,
          resync: float | None = None, delete_timeout: float = 30.0, insecure_ok: bool = False,
          webhook: bool = False, lease_namespace: str | None = None) -> tuple[kopf.OperatorRegistry, Reconciler]:
    registry = kopf.OperatorRegistry()
    lease_namespace = lease_namespace or home_namespace
    index = ClusterIndex(lease_namespace=lease_namespace)
    if webhook:
        from controller.webhook import register_webhooks

        register_webhooks(registry, index)
    links = FirewallLinks(kube, metrics=metrics, allow_insecure=insecure_ok, resync=resync)
    reconciler = Reconciler(index=index, kube=kube, sync_firewall=links.sync, metrics=metrics)
    if debounce is not None:
        reconciler.default_debounce = debounce
    if resync is not None:
        reconciler.default_resync = resync

    for kind, group, version, plural in WATCHED:
        def on_event(event: dict[str, Any], body: kopf.Body, _kind: str = kind, **_: Any) -> None:
            obj = dict(body)
            if _kind == "Lease" and (
                    not str((obj.get("metadata") or {}).get("name", "")).startswith(LEASE_PREFIX)
                    or (obj.get("metadata") or {}).get("namespace") != lease_namespace):
                return  # only agent Leases in the lease namespace are trusted
            if _kind == "Service" and not specs.service_is_ours(obj):
                index.delete(_kind, {**obj, "kind": _kind})  # a Service that left bmlb's class
                return
            if event.get("type") == "DELETED":
                index.delete(_kind, obj)
            else:
                index.upsert(_kind, obj)

        kopf.on.event(group, version, plural, registry=registry)(on_event)

    def is_ours(body: kopf.Body, **_: Any) -> bool:
        return specs.service_is_ours(dict(body))

    async def on_delete(body: kopf.Body, kind: str = "", **_: Any) -> None:
        obj = dict(body)
        ref = ref_of({**obj, "kind": obj.get("kind") or kind})
        if await reconciler.wait_released(ref, delete_timeout):
            return
        outcome = "; ".join(f"{n}: {o.message}" for n, o in reconciler.outcomes.items() if not o.ok)
        raise kopf.TemporaryError(f"waiting for the firewall to drop {ref}'s objects ({outcome or 'pending'})",
                                  delay=10)

    kopf.on.delete("", "v1", "services", registry=registry, when=is_ours)(on_delete)
    kopf.on.delete(specs.GROUP, specs.VERSION, "natrules", registry=registry)(on_delete)
    kopf.on.delete(specs.GROUP, specs.VERSION, "securitypolicies", registry=registry)(on_delete)

    def singleton(name: str, **_: Any) -> bool:
        return name == home_namespace

    @kopf.daemon("", "v1", "namespaces", registry=registry, when=singleton, cancellation_timeout=5.0)
    async def reconcile_loop(stopped: kopf.DaemonStopped, **_: Any) -> None:
        # A replica that starts alone may not have seen its peers' records yet: give kopf peering
        # time to pause this daemon before it writes anything.
        if startup_grace and await stopped.wait(startup_grace):
            return
        log.info("leading: reconcile loop started")
        await reconciler.run(lambda: bool(stopped))
        log.info("reconcile loop stopped")

    @kopf.on.probe(id="reconciles", registry=registry)
    def probe_reconciles(**_: Any) -> int:
        return reconciler.reconciles

    return registry, reconciler


def run(*, kubeconfig: str | None, home_namespace: str, metrics_port: int | None, health: str | None,
        peering: str | None, priority: int | None, debounce: float | None, resync: float | None,
        insecure_ok: bool = False, webhook_port: int | None = None, lease_namespace: str | None = None) -> None:
    kube = Kube.from_config(kubeconfig)
    metrics = Metrics()
    if metrics_port:
        metrics.serve(metrics_port)
    registry, _ = build(kube=kube, home_namespace=home_namespace, metrics=metrics, debounce=debounce,
                        resync=resync, insecure_ok=insecure_ok, webhook=webhook_port is not None,
                        startup_grace=5.0 if peering else 0.0, lease_namespace=lease_namespace)

    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.persistence.finalizer = FINALIZER
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="bmlb.io")
        settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix="bmlb.io", key="last-handled")
        settings.posting.level = logging.WARNING
        settings.watching.server_timeout = 300
        settings.networking.request_timeout = 30
        if peering:
            settings.peering.name = peering
            settings.peering.priority = priority if priority is not None else random.randint(1, 2**31 - 1)
            settings.peering.stealth = False
        if webhook_port is not None:
            from controller.webhook import server

            settings.admission.server = server(webhook_port)

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        if kubeconfig:
            os.environ["KUBECONFIG"] = kubeconfig  # read by kopf at call time, unlike the kubernetes client
            return kopf.login_with_kubeconfig(**kwargs)
        return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)

    asyncio.run(_supervise(lambda stop: kopf.operator(
        registry=registry, clusterwide=True, standalone=peering is None,
        peering_name=peering, liveness_endpoint=health, stop_flag=stop,
    )))


async def _supervise(start: Any) -> None:
    """Run the operator; restart it in-process when one of its watch streams dies.

    kopf retries a watch on most errors but lets a 404 kill the stream for good: after an API
    server restart a watch can reconnect before the CRDs are served again, and that kind would
    never be watched again. The dead task surfaces in the loop's exception handler."""
    loop = asyncio.get_running_loop()
    while True:
        stop = asyncio.Event()
        died: list[BaseException] = []

        def handler(lp: asyncio.AbstractEventLoop, ctx: dict[str, Any], stop: asyncio.Event = stop,
                    died: list[BaseException] = died) -> None:
            exc = ctx.get("exception")
            if isinstance(exc, kopf_errors.APIError):
                died.append(exc)
                stop.set()
            lp.default_exception_handler(ctx)

        loop.set_exception_handler(handler)
        await start(stop)
        if not died:
            return
        log.error("a watch stream died (%s); restarting the operator", died[0])
        await asyncio.sleep(2.0)


__all__ = ["FINALIZER", "build", "run"]
