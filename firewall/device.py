"""The connection to a firewall or Panorama: pan-os-python's device with TLS verified.

pan-os-python never verifies certificates; `_Verified` gives its xapi an SSL context built
from the CA bundle (and we generate keys ourselves, over the same context). Credentials come
from files (a mounted Secret) and never appear in reprs or logs. Every library exception is
mapped to `firewall.errors` here; idempotent requests are retried on transport failures, and
an expired key is renewed once when a username and password are known.
"""

from __future__ import annotations

import http.client
import logging
import re
import ssl
import time
import traceback
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pan.xapi
from panos.base import PanDevice
from panos.firewall import Firewall
from panos.panorama import Panorama

from firewall import multiconfig, stream_get, xpaths
from firewall.errors import (
    AuthFailed,
    CommitInProgress,
    ConfigurationError,
    DeviceRefused,
    FirewallError,
    Locked,
    TLSError,
    Unreachable,
)
from firewall.writes import Write

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Credentials:
    api_key: str | None = field(default=None, repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @classmethod
    def from_files(cls, *, api_key_file: str | Path | None = None, username_file: str | Path | None = None,
                   password_file: str | Path | None = None) -> Credentials:
        def read(p: str | Path | None) -> str | None:
            return Path(p).read_text().strip() or None if p else None

        creds = cls(read(api_key_file), read(username_file), read(password_file))
        if not creds.api_key and not (creds.username and creds.password):
            raise ConfigurationError("credentials need an API key, or a username and a password")
        return creds

    @classmethod
    def from_dir(cls, path: str | Path) -> Credentials:
        """A mounted Secret: files `api-key` (or `apiKey`), or `username` and `password`."""
        d = Path(path)
        key = next((d / n for n in ("api-key", "apiKey", "api_key") if (d / n).is_file()), None)
        user, pw = d / "username", d / "password"
        return cls.from_files(api_key_file=key, username_file=user if user.is_file() else None,
                              password_file=pw if pw.is_file() else None)


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int = 443
    ca_bundle: str | None = None  # PEM file; None: the system trust store
    insecure_skip_tls_verify: bool = False
    panorama: bool = False
    timeout: float = 30.0
    retries: int = 3
    retry_delay: float = 0.2

    def ssl_context(self) -> ssl.SSLContext:
        if self.insecure_skip_tls_verify:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            return ctx
        try:
            return ssl.create_default_context(cafile=self.ca_bundle)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigurationError(f"cannot load CA bundle {self.ca_bundle}: {exc}") from exc


class _Verified:
    """Mixin for pan-os-python devices: every xapi they make carries our SSL context."""

    bmlb_ssl_context: ssl.SSLContext

    def generate_xapi(self) -> Any:
        dev: Any = self
        return PanDevice.XapiWrapper(api_key=dev.api_key, hostname=dev.hostname, port=dev.port,
                                     timeout=dev.timeout, pan_device=dev, ssl_context=self.bmlb_ssl_context)


class VerifiedFirewall(_Verified, Firewall):
    pass


class VerifiedPanorama(_Verified, Panorama):
    pass


_LIBRARY_ERRORS = (pan.xapi.PanXapiError, OSError, http.client.HTTPException, ssl.SSLError)


def _mapped(exc: BaseException) -> FirewallError:
    text = str(exc)
    if isinstance(exc, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in text \
            or "certificate verify failed" in text or "CertificateError" in text:
        return TLSError(f"TLS verification failed: {text}")
    if isinstance(exc, (ConnectionError, TimeoutError, OSError, http.client.HTTPException)):
        return Unreachable(f"{type(exc).__name__}: {text}")
    if "code: 403" in text or text == "Invalid credentials.":
        return AuthFailed("the device refused the credentials (HTTP 403)")
    if text.startswith("URLError") or "timed out" in text or "ParseError" in text \
            or "no content-type" in text or "no handler for content-type" in text:
        return Unreachable(text)
    if "locked by" in text.lower() or "lock is already held" in text.lower() or "lock is currently held" in text:
        holder = re.search(r"locked by (\S+)|held by (\S+)", text)
        return Locked(text, holder and (holder.group(1) or holder.group(2)))
    if "commit/validate is in progress" in text or "commit is in progress" in text.lower():
        return CommitInProgress(text)
    return DeviceRefused(text)


def connect(endpoint: Endpoint, credentials: Credentials) -> Device:
    device = Device(endpoint, credentials)
    device.refresh()
    return device


class Device:
    """One device; not thread-safe (one writer per device)."""

    def __init__(self, endpoint: Endpoint, credentials: Credentials) -> None:
        self.endpoint = endpoint
        self._credentials = credentials
        self.requests = 0
        self.seconds = 0.0  # spent waiting on the device's answers (all requests, retries included)
        self.version: tuple[int, int, int] = (0, 0, 0)
        self.platform = ""
        self.push_pending: set[str] = set()  # device groups whose last push failed
        self.multi_config_ok = True  # False once the device refused multi-config
        self._ctx = endpoint.ssl_context()
        self._key = credentials.api_key
        self.pan: Any = self._make_pan()

    def _make_pan(self) -> Any:
        """A pan-os-python device that never generates keys itself (it would not verify TLS)."""
        cls = VerifiedPanorama if self.endpoint.panorama else VerifiedFirewall
        pan = cls(self.endpoint.host, api_key=self._key or "-", port=self.endpoint.port,
                  timeout=max(1, int(self.endpoint.timeout)))
        pan.bmlb_ssl_context = self._ctx
        return pan

    def __repr__(self) -> str:
        return f"Device({self.endpoint.host}:{self.endpoint.port})"

    @property
    def username(self) -> str | None:
        return self._credentials.username

    # ------------------------------------------------------------------ transport

    def _keygen(self) -> None:
        if not (self._credentials.username and self._credentials.password):
            raise AuthFailed("the API key was refused and no username/password is configured to renew it")
        xapi = pan.xapi.PanXapi(api_username=self._credentials.username, api_password=self._credentials.password,
                                hostname=self.endpoint.host, port=self.endpoint.port,
                                timeout=max(1, int(self.endpoint.timeout)), ssl_context=self._ctx)
        self.requests += 1
        try:
            key = xapi.keygen()
        except _LIBRARY_ERRORS as exc:
            raise _mapped(exc) from None
        self._key = key
        self.pan = self._make_pan()

    def call(self, fn: Callable[[Any], T], *, idempotent: bool = True) -> T:
        """Run fn(xapi), mapping errors; retry transport failures (idempotent only) and renew keys."""
        started = time.monotonic()
        try:
            return self._call(fn, idempotent=idempotent)
        finally:
            self.seconds += time.monotonic() - started

    def _call(self, fn: Callable[[Any], T], *, idempotent: bool) -> T:
        renewed = False
        attempt = 0
        while True:
            if not self._key:
                self._keygen()
                renewed = True
            self.requests += 1
            try:
                return fn(self.pan.xapi)
            except _LIBRARY_ERRORS as exc:
                # pan-os-python keeps the exception it raises in a local of a frame on its own
                # traceback: a cycle that held this call's whole stack (a sync's desired state:
                # 50,000 objects at 10,000 Services) until the next full collection.
                traceback.clear_frames(exc.__traceback__)
                err = _mapped(exc)
            if isinstance(err, AuthFailed) and not renewed and self._credentials.password:
                self._key = None
                continue
            if type(err) is Unreachable and idempotent and attempt < self.endpoint.retries:
                attempt += 1
                log.info("retrying after %s (attempt %d)", err, attempt)
                time.sleep(self.endpoint.retry_delay * 2 ** (attempt - 1))
                continue
            try:
                raise err
            finally:
                err = None  # this frame would otherwise hold its own traceback: a cycle

    def refresh(self) -> None:
        def info(x: Any) -> ET.Element:
            x.op("<show><system><info></info></system></show>")
            return x.element_root

        system = self.call(info).find("result/system")
        if system is None:
            raise DeviceRefused("show system info returned no system")
        parts = re.findall(r"\d+", system.findtext("sw-version") or "0.0.0")[:3]
        self.version = tuple(int(p) for p in [*parts, "0", "0", "0"][:3])  # type: ignore[assignment]
        self.platform = system.findtext("model") or ""
        if (system.findtext("system-mode") == "panorama" or self.platform == "Panorama") != self.endpoint.panorama:
            raise ConfigurationError(f"{self.endpoint.host} is a {self.platform or 'device'}, but the endpoint "
                                     f"says panorama={self.endpoint.panorama}")

    def get(self, xpath: str) -> ET.Element | None:
        """The candidate config at xpath (the `result` element), None when nothing is there."""
        def get(x: Any) -> ET.Element | None:
            x.get(xpath)
            if x.status_code == "7":
                return None
            return x.element_root.find("result")

        return self.call(get)

    def get_each(self, xpath: str, consume: Callable[[Iterator[ET.Element]], T]) -> T:
        """`consume` over the `entry` children of the candidate config's container at xpath,
        parsed as the answer arrives (firewall/stream_get.py; none when nothing is there). A
        retried request hands `consume` a fresh iterator from the first entry. The time `consume`
        spends between entries is bmlb's own, not counted as waiting on the device."""
        own = 0.0

        def each(x: Any) -> T:
            def entries() -> Iterator[ET.Element]:
                nonlocal own
                for entry in stream_get.entries(x, xpath):
                    handed = time.monotonic()
                    yield entry
                    own += time.monotonic() - handed
            return consume(entries())

        try:
            return self.call(each)
        finally:
            self.seconds -= own

    def running(self, xpath: str) -> ET.Element | None:
        """The running config's entry at xpath, None when the running config has none."""
        def show(x: Any) -> ET.Element | None:
            try:
                x.show(xpath)
            except pan.xapi.PanXapiError:
                if x.status_code == "7":  # "No such node"
                    return None
                raise
            result = x.element_root.find("result")
            return None if result is None or not len(result) else result[0]

        return self.call(show)

    def op(self, cmd: str | ET.Element, *, vsys: str | None = None, idempotent: bool = True) -> ET.Element:
        text = cmd if isinstance(cmd, str) else ET.tostring(cmd, encoding="unicode")

        def op(x: Any) -> ET.Element:
            x.op(text, vsys=vsys)
            return x.element_root

        return self.call(op, idempotent=idempotent)

    def write(self, w: Write) -> None:
        body = w.body or None

        def write(x: Any) -> None:
            if w.action == "set":
                x.set(w.xpath, body)
            elif w.action == "edit":
                x.edit(w.xpath, body)
            elif w.action == "delete":
                x.delete(w.xpath)
            else:
                x.move(w.xpath, w.where, w.dst)

        self.call(write, idempotent=w.action in ("edit", "delete"))

    def multi_config(self, writes: Sequence[Write]) -> list[multiconfig.Result]:
        element = multiconfig.request(writes)

        def send(x: Any) -> ET.Element:
            try:
                # `set` with the action overridden: pan-python's ad_hoc() would log the key
                x.set(element=element, extra_qs={"action": "multi-config"})
            except pan.xapi.PanXapiError:
                root = getattr(x, "element_root", None)
                if root is None or root.find("response") is None:
                    raise
            return x.element_root

        return multiconfig.results(self.call(send, idempotent=False), len(writes))

    # ------------------------------------------------------------------ device state

    def ha_state(self) -> str | None:
        """The local HA state ("active", "passive", ...), None when HA is off or unsupported."""
        try:
            root = self.op("<show><high-availability><state></state></high-availability></show>")
        except DeviceRefused:
            return None  # no such command on this device (or the simulator): standalone
        return ha_state(root)

    def pending_admins(self) -> list[str]:
        """Admins with uncommitted changes, from the documented change journal
        (`show config list changes`: entries with owner, xpath, action)."""
        root = self.op("<show><config><list><changes></changes></list></config></show>")
        return sorted({o for e in root.iter("entry") if (o := (e.findtext("owner") or "").strip())})

    def pending_xpaths(self, admin: str) -> list[str]:
        """Where `admin`'s uncommitted changes are, from the documented per-admin change summary
        (`show config list change-summary partial admin NAME`)."""
        cmd = ET.Element("show")
        summary = ET.SubElement(ET.SubElement(ET.SubElement(cmd, "config"), "list"), "change-summary")
        ET.SubElement(ET.SubElement(ET.SubElement(summary, "partial"), "admin"), "member").text = admin
        root = self.op(cmd)
        return [(e.findtext("xpath") or "").strip() for e in root.iter("entry")
                if (e.findtext("owner") or admin).strip() == admin]

    def ecmp_max_path(self, virtual_router: str) -> int | None:
        """How many equal-cost paths the virtual router uses: 1 with ECMP off, else max-path
        (PAN-OS default 2); None when the router is not there. Read only: changing ECMP
        settings restarts the virtual router, so bmlb never writes them."""
        result = self.get(f"{xpaths.ROUTERS}/entry[@name={xpaths.literal(virtual_router)}]")
        entry = result.find("entry") if result is not None else None
        if entry is None:
            return None
        if (entry.findtext("ecmp/enable") or "no").strip() != "yes":
            return 1
        raw = (entry.findtext("ecmp/max-path") or "2").strip()
        return int(raw) if raw.isdigit() else None

    def lock(self, scope: str, comment: str) -> None:
        cmd = ET.Element("request")
        ET.SubElement(ET.SubElement(ET.SubElement(cmd, "config-lock"), "add"), "comment").text = comment
        try:
            self.op(cmd, vsys=scope, idempotent=False)
        except DeviceRefused as exc:
            if "already own" not in str(exc):
                raise Locked(str(exc)) from None
        except Locked:
            raise

    def unlock(self, scope: str) -> None:
        try:
            self.op("<request><config-lock><remove></remove></config-lock></request>", vsys=scope)
        except DeviceRefused as exc:  # released by our commit already, or never taken
            log.debug("unlock: %s", exc)

    def commit(self, *, admin: str, description: str) -> int | None:
        """Enqueue a partial commit of `admin`'s changes; the job id, or None if nothing to commit."""
        cmd = ET.Element("commit")
        ET.SubElement(ET.SubElement(ET.SubElement(cmd, "partial"), "admin"), "member").text = admin
        ET.SubElement(cmd, "description").text = description
        return self._commit(ET.tostring(cmd, encoding="unicode"), None)

    def commit_all(self, *, device_group: str, description: str) -> int | None:
        cmd = ET.Element("commit-all")
        sp = ET.SubElement(cmd, "shared-policy")
        ET.SubElement(ET.SubElement(sp, "device-group"), "entry", {"name": device_group})
        ET.SubElement(sp, "description").text = description
        return self._commit(ET.tostring(cmd, encoding="unicode"), "all")

    def _commit(self, cmd: str, action: str | None) -> int | None:
        def commit(x: Any) -> ET.Element:
            x.commit(cmd=cmd, action=action)
            return x.element_root

        root = self.call(commit, idempotent=False)
        job = root.findtext("result/job")
        return int(job) if job and job.strip().isdigit() else None

    def job(self, job_id: int) -> ET.Element:
        root = self.op(f"<show><jobs><id>{int(job_id)}</id></jobs></show>")
        job = root.find("result/job")
        if job is None:
            raise DeviceRefused(f"job {job_id}: no job in the reply")
        return job

    def last_job(self) -> int:
        """The highest job id the device lists (0: none). Every commit, by anyone, is a job."""
        root = self.op("<show><jobs><all></all></jobs></show>")
        return max((int(t) for j in root.iter("job") if (t := (j.findtext("id") or "").strip()).isdigit()),
                   default=0)

    def newer_job(self, marker: int) -> bool:
        """Is there a job after `marker` (any job: a commit, or one bmlb cannot tell from one)?
        Relies on job ids only growing and on an unknown id being refused with "job N not found"
        (pan-os-python's reading of the API; seen on the simulator only: unverified on a device).
        Any other answer counts as a job: the caller then reads everything."""
        try:
            self.job(marker + 1)
        except DeviceRefused as exc:
            return "not found" not in str(exc)  # any other refusal: assume there is
        return True

    def unfinished_jobs(self, user: str) -> list[int]:
        root = self.op("<show><jobs><all></all></jobs></show>")
        return [int(j.findtext("id") or 0) for j in root.iter("job")
                if j.findtext("user") == user and j.findtext("status") != "FIN"
                and (j.findtext("type") or "").lower().startswith("commit")]


def ha_state(root: ET.Element) -> str | None:
    result = root.find("result")
    if result is None or (result.findtext("enabled") or "no").strip() != "yes":
        return None
    return (result.findtext("group/local-info/state") or "unknown").strip()


def is_active(state: str | None) -> bool:
    return state is None or ("active" in state and "passive" not in state)
