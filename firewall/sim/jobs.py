"""Asynchronous jobs (commits, commit-alls): a FIFO worker and the `show jobs` XML."""

from __future__ import annotations

import itertools
import queue
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field

# The work a job does when its time is up: returns (ok, details lines).
Work = Callable[["Job"], tuple[bool, list[str]]]


def timestamp() -> str:
    return time.strftime("%Y/%m/%d %H:%M:%S")


@dataclass(slots=True)
class Job:
    id: int
    user: str
    type: str
    work: Work
    description: str = ""
    tenq: str = field(default_factory=timestamp)
    tfin: str = ""
    status: str = "ACT"
    result: str = "PEND"
    details: list[str] = field(default_factory=list)
    devices: list[tuple[str, str]] = field(default_factory=list)  # (serial, name), commit-all only
    started: float = 0.0
    duration: float = 0.0

    def progress(self) -> int:
        if self.status == "FIN":
            return 100
        if not self.started or self.duration <= 0:
            return 0
        return min(99, int(100 * (time.monotonic() - self.started) / self.duration))

    def element(self) -> ET.Element:
        job = ET.Element("job")
        for tag, text in (
            ("tenq", self.tenq),
            ("tdeq", self.tenq),
            ("id", str(self.id)),
            ("user", self.user),
            ("type", self.type),
            ("status", self.status),
            ("queued", "NO" if self.started else "YES"),
            ("stoppable", "no"),
            ("result", self.result),
            ("tfin", self.tfin or "Still Active"),
            ("description", self.description),
            ("positionInQ", "0"),
            ("progress", str(self.progress())),
        ):
            ET.SubElement(job, tag).text = text or None
        details = ET.SubElement(job, "details")
        for line in self.details:
            ET.SubElement(details, "line").text = line
        ET.SubElement(job, "warnings")
        if self.devices:
            devices = ET.SubElement(job, "devices")
            for serial, name in self.devices:
                entry = ET.SubElement(devices, "entry")
                for tag, text in (
                    ("serial-no", serial),
                    ("devicename", name),
                    ("result", self.result),
                    ("status", {"OK": "commit succeeded", "FAIL": "commit failed"}.get(self.result, "")),
                    ("tstart", self.tenq),
                    ("tfin", self.tfin),
                ):
                    ET.SubElement(entry, tag).text = text or None
                ET.SubElement(ET.SubElement(entry, "details"), "msg")
        return job


class JobQueue:
    """Runs jobs one at a time, each taking `seconds` (read when the job starts)."""

    def __init__(self, seconds: Callable[[], float]) -> None:
        self._seconds = seconds
        self._ids = itertools.count(1)
        self._jobs: dict[int, Job] = {}
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="panos-sim-jobs", daemon=True)
        self._thread.start()

    def submit(self, *, user: str, type: str, work: Work, description: str = "",
               devices: list[tuple[str, str]] | None = None) -> Job:
        with self._lock:
            job = Job(id=next(self._ids), user=user, type=type, work=work, description=description,
                      devices=list(devices or []))
            self._jobs[job.id] = job
        self._queue.put(job)
        return job

    def get(self, job_id: int) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def all(self) -> list[Job]:
        with self._lock:
            return sorted(self._jobs.values(), key=lambda j: j.id)

    def busy(self) -> bool:
        return any(j.status != "FIN" for j in self.all())

    def wait_idle(self, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while self.busy():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def stop(self) -> None:
        self._stop.set()
        self._queue.put(None)
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            job = self._queue.get()
            if job is None:
                return
            job.duration = self._seconds()
            job.started = time.monotonic()
            if self._stop.wait(job.duration):
                return
            try:
                ok, lines = job.work(job)
            except Exception as exc:  # a bug in the simulator must not kill the worker
                ok, lines = False, [f"simulator error: {exc!r}"]
            job.details = lines
            job.result = "OK" if ok else "FAIL"
            job.tfin = timestamp()
            job.status = "FIN"
