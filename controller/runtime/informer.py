"""List/watch informers: each watched kind is listed once, then watched, and every event goes
into the ClusterIndex. One thread per kind reads raw JSON lines (no client model decoding);
events reach the index on the event loop's thread.

They replace kopf's per-object event handlers for the index: kopf spawned a worker per object
and judged every event of thousands of objects. Reconnects resume from the last resourceVersion;
an expired one (410 Gone) lists again and drops what the new listing no longer holds.

Events wait for the loop in one queue per informer that holds the latest event of each object
(as client-go's informers key their queue by object): while a compile keeps the loop busy, a
burst's ADDED, finalizer and status events of one object are one body waiting, not three, and
the loop is woken once per batch, not once per event. The index is level-triggered (it keeps the
latest body), so skipping an object's intermediate states changes nothing it holds.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from controller.runtime.kubeapi import ApiError, KubeAPI
from controller.runtime.lean_bodies import DROPPED_ANNOTATIONS

log = logging.getLogger("bmlb.informer")

# handler(kind, type, object): type is ADDED, MODIFIED or DELETED, or SYNCED once a (re)listing
# has been handed over, with object {"keys": ["namespace/name", ...]}: everything that listing held.
Handler = Callable[[str, str, dict[str, Any]], None]


@dataclass(frozen=True)
class Watched:
    kind: str
    group: str
    version: str
    plural: str
    namespace: str | None = None  # None: all namespaces

    @property
    def path(self) -> str:
        base = f"/api/{self.version}" if not self.group else f"/apis/{self.group}/{self.version}"
        return f"{base}/namespaces/{self.namespace}/{self.plural}" if self.namespace else f"{base}/{self.plural}"


class Gone(Exception):
    """The resourceVersion a watch resumes from is too old: list again."""


class Informer:
    """Feed `handler(kind, type, object)` (called on `loop`) from a list then watch of `what`."""

    def __init__(self, api: KubeAPI, what: Watched, handler: Handler,
                 loop: asyncio.AbstractEventLoop, *, page: int = 500, timeout: int = 300) -> None:
        self.api, self.what, self.handler, self.loop = api, what, handler, loop
        self.page, self.timeout = page, timeout
        self.synced = threading.Event()
        self._stop = threading.Event()
        # The events the loop has not taken yet: the latest per object, in the order of their latest
        # event; a listing's SYNCED has a key of its own, after the objects it listed.
        self._pending: dict[object, tuple[str, dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._listings = 0
        self._thread = threading.Thread(target=self._run, name=f"informer-{what.plural}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _emit(self, type_: str, obj: dict[str, Any]) -> None:
        if self._stop.is_set():
            return
        key: object
        if type_ == "SYNCED":
            self._listings += 1
            key = self._listings
        else:
            key = _key(obj)
        event = (type_, _trimmed(obj))
        with self._lock:
            wake = not self._pending
            self._pending.pop(key, None)  # an older event of the same object: the latest goes last
            self._pending[key] = event
        if wake:
            self.loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        """On the loop: hand over everything waiting, oldest first."""
        with self._lock:
            pending, self._pending = self._pending, {}
        for type_, obj in pending.values():
            try:
                self.handler(self.what.kind, type_, obj)
            except Exception:  # one object the index cannot take must not cost the others theirs
                log.exception("%s: %s event of %s not taken", self.what.plural, type_, _key(obj))

    def _run(self) -> None:
        backoff = 1.0
        rv: str | None = None
        while not self._stop.is_set():
            try:
                if rv is None:
                    rv = self._list()
                    self.synced.set()
                rv = self._watch(rv)
                backoff = 1.0
            except Gone:
                rv = None
            except Exception as err:  # the API server restarting, a CRD not served yet, a dropped stream
                log.warning("%s: watch failed (%s); retrying in %.0fs", self.what.plural, err, backoff)
                self._stop.wait(backoff)
                backoff = min(30.0, backoff * 2)
                if isinstance(err, ApiError) and err.status == 404:
                    rv = None  # the kind came back (CRDs re-served): its objects may have changed

    def _stream(self, params: list[tuple[str, Any]]) -> Any:
        """The raw urllib3 response of a watch (its body read as it comes)."""
        return self.api.request("GET", self.what.path, query=params, timeout=(10, self.timeout + 30))

    def _list(self) -> str:
        seen: list[str] = []
        page: dict[str, Any] = {}
        for page in self.api.pages(self.what.path, limit=self.page):
            for item in page.get("items") or []:
                item.setdefault("kind", self.what.kind)
                seen.append(_key(item))
                self._emit("ADDED", item)
        self._emit("SYNCED", {"keys": seen})
        return str((page.get("metadata") or {}).get("resourceVersion") or "")

    def _watch(self, rv: str) -> str:
        params = [("watch", "true"), ("allowWatchBookmarks", "true"), ("timeoutSeconds", self.timeout)]
        if rv:
            params.append(("resourceVersion", rv))
        resp = self._stream(params)
        try:
            for line in _lines(resp):
                if self._stop.is_set():
                    break
                event = json.loads(line)
                type_, obj = event.get("type"), event.get("object") or {}
                if type_ == "ERROR":
                    if obj.get("code") == 410:
                        raise Gone()
                    raise RuntimeError(f"watch error: {obj.get('message')}")
                new_rv = (obj.get("metadata") or {}).get("resourceVersion")
                if new_rv:
                    rv = str(new_rv)
                if type_ in ("ADDED", "MODIFIED", "DELETED"):
                    obj.setdefault("kind", self.what.kind)
                    self._emit(type_, obj)
        finally:
            resp.release_conn()
        return rv


def _trimmed(obj: dict[str, Any]) -> dict[str, Any]:
    """The object without what bmlb never reads and an object's every write makes longer (its
    managedFields, kubectl's last applied copy): events wait in the loop's queue while a compile
    runs, thousands of them in a burst (the index keeps less still: lean_bodies.META)."""
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        meta.pop("managedFields", None)
        ann = meta.get("annotations")
        if isinstance(ann, dict):
            for key in DROPPED_ANNOTATIONS:
                ann.pop(key, None)
    return obj


def _key(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace') or ''}/{meta.get('name') or ''}"


def _lines(resp: Any) -> Iterator[bytes]:
    buf = b""
    for chunk in resp.stream(65536, decode_content=True):
        buf += chunk
        while (i := buf.find(b"\n")) >= 0:
            line, buf = buf[:i], buf[i + 1:]
            if line.strip():
                yield line
    if buf.strip():
        yield buf


def start_all(kube_api: KubeAPI, watched: list[Watched], handler: Handler,
              loop: asyncio.AbstractEventLoop) -> list[Informer]:
    informers = [Informer(kube_api, w, handler, loop) for w in watched]
    for inf in informers:
        inf.start()
    return informers


def wait_synced(informers: list[Informer], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    return all(inf.synced.wait(max(0.0, deadline - time.monotonic())) for inf in informers)


__all__ = ["Informer", "Watched", "start_all", "wait_synced"]
