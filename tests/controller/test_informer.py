"""The list/watch informer against the real API server: a paged listing, then every change."""

from __future__ import annotations

import asyncio
from typing import Any

from controller.cli.localcluster import Cluster
from controller.runtime.informer import Informer, Watched
from controller.runtime.kubeapi import connect
from tests.controller.estate import service


async def _until(events: list[tuple[str, str, dict[str, Any]]], pred: Any, timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not pred(events):
        assert asyncio.get_running_loop().time() < deadline, [(k, t, (o.get("metadata") or o)) for k, t, o in events]
        await asyncio.sleep(0.05)


def _names(events: list[tuple[str, str, dict[str, Any]]], type_: str) -> list[str]:
    return [o["metadata"]["name"] for _, t, o in events if t == type_]


def test_lists_in_pages_then_follows_changes(cluster: Cluster, ns: str) -> None:
    for i in range(5):
        cluster.apply(service(ns, f"s{i}", (80, 80)))

    async def scenario() -> None:
        events: list[tuple[str, str, dict[str, Any]]] = []
        # Pages of 2: the listing needs three requests, each continuing the last.
        informer = Informer(connect(str(cluster.kubeconfig)), Watched("Service", "", "v1", "services", ns),
                            lambda k, t, o: events.append((k, t, o)), asyncio.get_running_loop(), page=2, timeout=5)
        informer.start()
        try:
            await _until(events, lambda ev: any(t == "SYNCED" for _, t, _ in ev))
            assert sorted(_names(events, "ADDED")) == [f"s{i}" for i in range(5)]
            (synced,) = [o for _, t, o in events if t == "SYNCED"]
            assert sorted(synced["keys"]) == sorted(f"{ns}/s{i}" for i in range(5))
            assert all(k == "Service" and o.get("kind") == "Service" for k, t, o in events if t == "ADDED")
            # What bmlb never reads is not passed on (the server sends managedFields with every object).
            assert not any("managedFields" in o["metadata"] for _, t, o in events if t == "ADDED")
            assert all(o["metadata"]["namespace"] == ns and o["metadata"].get("uid") for _, t, o in events
                       if t == "ADDED")
            events.clear()
            cluster.apply(service(ns, "late", (80, 80)))
            cluster.core.patch_namespaced_service("s0", ns, {"metadata": {"labels": {"x": "y"}}})
            cluster.delete("Service", "s1", ns)
            await _until(events, lambda ev: "s1" in _names(ev, "DELETED"))
            assert "late" in _names(events, "ADDED")
            assert any(o["metadata"]["name"] == "s0" and o["metadata"].get("labels") == {"x": "y"}
                       for _, t, o in events if t == "MODIFIED")
            # The server ends each watch after `timeout` s: the informer resumes where it was,
            # without listing again (no second SYNCED) and without missing a change.
            events.clear()
            await asyncio.sleep(6)
            cluster.delete("Service", "s2", ns)
            await _until(events, lambda ev: "s2" in _names(ev, "DELETED"))
            assert not any(t == "SYNCED" for _, t, _ in events)
        finally:
            informer.stop()

    asyncio.run(scenario())
