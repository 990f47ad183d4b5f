"""`bmlb controller`: the kopf operator. List/watch informers (controller/runtime/informer.py) feed the
index; the reconcile loop keeps bmlb's finalizers (controller/runtime/finalizers.py); kopf keeps peering
and webhooks. The reconcile loop runs as a daemon on one singleton object, so kopf peering pauses
it on standby replicas."""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections.abc import Callable
from typing import Any

import kopf
from kopf._cogs.clients import errors as kopf_errors  # the watch errors kopf does not retry

from controller.core import kinds, specs
from controller.core.snapshot import lease_node
from controller.runtime import c_heap
from controller.runtime.finalizers import FINALIZER
from controller.runtime.fwlink import FirewallLinks
from controller.runtime.index import ClusterIndex
from controller.runtime.informer import Informer, Watched, start_all
from controller.runtime.kube import Kube
from controller.runtime.metrics import Metrics
from controller.runtime.reconciler import Reconciler

log = logging.getLogger("bmlb.operator")
WATCHED = [(k.kind, k.group, k.version, k.plural) for k in kinds.ALL]


def _event_handler(index: ClusterIndex, listed: set[str]) -> Callable[[str, str, dict[str, Any]], None]:
    """Informer events into the index; each kind whose (re)listing is complete goes into `listed`."""

    def on_event(kind: str, type_: str, obj: dict[str, Any]) -> None:
        if type_ == "SYNCED":  # a (re)listing is complete: what it did not hold is gone
            index.retain(kind, set(obj["keys"]))
            listed.add(kind)
            return
        if kind == "Lease" and lease_node((obj.get("metadata") or {}).get("name")) is None:
            return  # other Leases in the lease namespace renew often and mean nothing to bmlb
        if kind == "Service" and not specs.service_is_ours(obj):
            index.delete(kind, obj, stray=True)  # a Service that left bmlb's class (or never was in it)
        elif type_ == "DELETED":
            index.delete(kind, obj)
        else:
            index.upsert(kind, obj)

    return on_event


def build(*, kube: Kube, home_namespace: str, metrics: Metrics, debounce: float | None = None,
          startup_grace: float = 0.0,
          resync: float | None = None, insecure_ok: bool = False,
          webhook: bool = False, lease_namespace: str | None = None) -> tuple[kopf.OperatorRegistry, Reconciler]:
    registry = kopf.OperatorRegistry()
    lease_namespace = lease_namespace or home_namespace
    index = ClusterIndex(lease_namespace=lease_namespace)
    if webhook:
        from controller.runtime.webhook import register_webhooks

        register_webhooks(registry, index)
    links = FirewallLinks(kube, metrics=metrics, allow_insecure=insecure_ok, resync=resync)
    reconciler = Reconciler(index=index, kube=kube, sync_firewall=links.sync, metrics=metrics)
    if debounce is not None:
        reconciler.default_debounce = debounce
    if resync is not None:
        reconciler.default_resync = resync

    # Only agent Leases in the lease namespace are trusted: only those are watched.
    watched = [Watched(kind, group, version, plural, lease_namespace if kind == "Lease" else None)
               for kind, group, version, plural in WATCHED]
    informers: list[Informer] = []
    listed: set[str] = set()  # kinds whose first listing is in the index
    on_event = _event_handler(index, listed)

    @kopf.on.startup(registry=registry)
    async def start_informers(**_: Any) -> None:
        if not informers:
            informers.extend(start_all(kube.api.clone(), watched, on_event,
                                       asyncio.get_running_loop()))

    @kopf.on.cleanup(registry=registry)
    async def stop_informers(**_: Any) -> None:
        for informer in informers:
            informer.stop()
        informers.clear()

    def singleton(name: str, **_: Any) -> bool:
        return name == home_namespace

    @kopf.daemon("", "v1", "namespaces", registry=registry, when=singleton, cancellation_timeout=5.0)
    async def reconcile_loop(stopped: kopf.DaemonStopped, **_: Any) -> None:
        # A replica that starts alone may not have seen its peers' records yet: give kopf peering
        # time to pause this daemon before it writes anything.
        if startup_grace and await stopped.wait(startup_grace):
            return
        # Never compile a partial listing: the firewall would lose the rules of objects not yet seen.
        while len(listed) < len(watched):
            if await stopped.wait(0.1):
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
        insecure_ok: bool = False, webhook_port: int | None = None, lease_namespace: str | None = None,
        peering_lifetime: int = 60) -> None:
    c_heap.tune()
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
            settings.peering.lifetime = peering_lifetime
        if webhook_port is not None:
            from controller.runtime.webhook import server

            settings.admission.server = server(webhook_port)

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        if kubeconfig:
            os.environ["KUBECONFIG"] = kubeconfig  # read by kopf at call time, unlike the kubernetes client
            return kopf.login_with_kubeconfig(**kwargs)
        return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)

    def main() -> None:
        asyncio.run(_supervise(lambda stop: kopf.operator(
            registry=registry, clusterwide=True, standalone=peering is None,
            peering_name=peering, liveness_endpoint=health, stop_flag=stop,
        )))

    if profile := os.environ.get("BMLB_PROFILE"):  # a cProfile dump of the event loop's thread, at exit
        import cProfile

        cProfile.runctx("main()", globals(), {"main": main}, profile)
    else:
        main()


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
