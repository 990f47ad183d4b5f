"""Fault injection, from Python and over the /sim/ admin endpoints."""

from __future__ import annotations

import json
import re
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import pytest
from panos.errors import PanURLError
from panos.firewall import Firewall
from panos.objects import AddressObject

from firewall.sim import VSYS1_XPATH, Simulator
from firewall.sim.tree import ConfigError


def _http(sim: Simulator, method: str, path: str, data: Any = None) -> Any:
    body = None if data is None else json.dumps(data).encode()
    req = urllib.request.Request(sim.url + path, data=body, method=method)
    context = ssl.create_default_context(cafile=sim.ca_file)  # the simulator's CA verifies
    with urllib.request.urlopen(req, context=context, timeout=5) as resp:
        raw = resp.read()
        return json.loads(raw) if resp.headers["Content-Type"] == "application/json" else raw.decode()


def test_latency(panos_firewall: Firewall, panos_sim: Simulator) -> None:
    panos_sim.faults.add("latency", seconds=0.3, times=2)
    start = time.monotonic()
    panos_firewall.refresh_system_info()
    panos_firewall.refresh_system_info()
    assert time.monotonic() - start >= 0.55
    start = time.monotonic()
    panos_firewall.refresh_system_info()
    assert time.monotonic() - start < 0.3


def test_connection_reset(panos_firewall: Firewall, panos_sim: Simulator) -> None:
    panos_sim.faults.add("reset")
    with pytest.raises(ConnectionError):  # pan-python lets http.client's error through
        panos_firewall.refresh_system_info()
    panos_firewall.refresh_system_info()


def test_timeout_hangs_past_the_client_timeout(panos_firewall: Firewall, panos_sim: Simulator) -> None:
    panos_firewall.timeout = 1
    panos_firewall.update_connection_method()
    panos_sim.faults.add("timeout", seconds=3)
    with pytest.raises(TimeoutError):
        panos_firewall.refresh_system_info()


def test_http_5xx_n_times(panos_firewall: Firewall, panos_sim: Simulator) -> None:
    panos_sim.faults.add("http_error", status=502, times=2)
    for _ in range(2):
        with pytest.raises(PanURLError, match="502"):
            panos_firewall.refresh_system_info()
    panos_firewall.refresh_system_info()
    assert panos_sim.stats_snapshot()["faults"] == 2


def test_fault_limited_to_request_kind(panos_firewall: Firewall, panos_sim: Simulator) -> None:
    panos_sim.faults.add("http_error", status=503, times=None, only=["commit"])
    panos_firewall.add(AddressObject("a1", "10.0.0.1")).create()
    with pytest.raises(PanURLError, match="503"):
        panos_firewall.commit()
    with pytest.raises(PanURLError, match="503"):
        panos_firewall.commit()
    panos_sim.faults.clear()
    assert panos_firewall.commit(sync=True)["success"]


def test_key_expiry_until_keygen(panos_firewall: Firewall, panos_sim: Simulator) -> None:
    old_key = panos_sim.api_key()
    panos_sim.faults.add("expire_keys")
    with pytest.raises(PanURLError, match="403"):
        panos_firewall.refresh_system_info()
    fresh = Firewall(panos_sim.host, "admin", "admin", port=panos_sim.port)
    fresh.refresh_system_info()
    assert fresh.api_key != old_key
    assert set(fresh.api_key) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789=")
    with pytest.raises(PanURLError, match="403"):
        Firewall(panos_sim.host, "admin", "wrong", port=panos_sim.port).refresh_system_info()


def test_admin_endpoints(panos_firewall: Firewall, panos_sim: Simulator) -> None:
    _http(panos_sim, "POST", "/sim/faults", [{"kind": "http_error", "status": 500, "times": 1}])
    assert [f["kind"] for f in _http(panos_sim, "GET", "/sim/faults")] == ["http_error"]
    with pytest.raises(PanURLError, match="500"):
        panos_firewall.refresh_system_info()
    assert _http(panos_sim, "GET", "/sim/faults") == []

    _http(panos_sim, "POST", "/sim/faults", {"kind": "config_lock", "admin": "alice"})
    assert panos_firewall.check_config_locks() is True
    _http(panos_sim, "DELETE", "/sim/faults")
    assert panos_firewall.check_config_locks() is False

    panos_firewall.add(AddressObject("a1", "10.0.0.1")).create()
    stats = _http(panos_sim, "GET", "/sim/stats")
    assert stats["requests"]["config.set"] == 1 and stats["writes"] == 1
    assert _http(panos_sim, "DELETE", "/sim/stats")["requests"] == {}

    assert "set address a1 ip-netmask 10.0.0.1" in _http(panos_sim, "GET", "/sim/config?which=candidate&format=set")
    assert _http(panos_sim, "GET", "/sim/config").startswith("<config")
    created = _http(panos_sim, "POST", "/sim/admins", {"name": "svc-bmlb", "password": "pw"})
    assert created["key"] == panos_sim.api_key("svc-bmlb")
    with pytest.raises(urllib.error.HTTPError):
        _http(panos_sim, "POST", "/sim/faults", {"kind": "meteor"})


def test_multi_config(panos_sim: Simulator) -> None:
    from firewall.sim import VSYS1_XPATH

    addr = f"{VSYS1_XPATH}/address"

    def multi(element: str, **extra: str) -> str:
        form = {"type": "config", "action": "multi-config", "element": element, **extra}
        data = (urllib.parse.urlencode(form) + "&key=" + panos_sim.api_key()).encode()
        context = ssl.create_default_context(cafile=panos_sim.ca_file)
        with urllib.request.urlopen(panos_sim.url + "/api/", data=data, context=context, timeout=5) as resp:
            return resp.read().decode()

    ok = multi(
        "<multi-configure-request>"
        f"<set id='1' xpath=\"{addr}\"><entry name='m1'><ip-netmask>10.0.0.1</ip-netmask></entry></set>"
        f"<set id='2' xpath=\"{addr}\"><entry name='m2'><ip-netmask>10.0.0.2</ip-netmask></entry></set>"
        f"<rename id='3' xpath=\"{addr}/entry[@name='m2']\" newname='m3'/>"
        "</multi-configure-request>"
    )
    assert ok.startswith('<response status="success" code="20"><response id="1" status="success"')
    assert 'id="3"' in ok and "m3" in panos_sim.candidate_xml()

    bad = multi(
        "<multi-configure-request>"
        f"<delete id='a' xpath=\"{addr}/entry[@name='m1']\"/>"
        f"<move id='b' xpath=\"{addr}/entry[@name='m3']\" where='top'/>"
        "</multi-configure-request>",
        **{"strict-transactional": "yes"},
    )
    assert 'status="error" code="14"' in bad and '<response id="b" status="error" code="14">' in bad
    assert "m1" in panos_sim.candidate_xml()  # strict: the delete was undone
    assert panos_sim.stats_snapshot()["requests"]["config.multi-config"] == 2



def test_refusals_match_entries_by_their_xml(panos_sim: Simulator) -> None:
    """refuse_write refuses the matching entry alone (also inside a multi-config batch, counted
    once); refuse_commit fails commits naming the matching entry."""
    admin = panos_sim.as_admin("admin")
    entry = "<entry name='bad-one'><ip-netmask>10.66.0.1/32</ip-netmask></entry>"
    panos_sim.faults.add("refuse_write", pattern=re.escape("10.66.0.1/32"), times=1)
    with pytest.raises(ConfigError, match="bad-one"):
        admin.set(f"{VSYS1_XPATH}/address", entry)
    assert panos_sim.faults.active() == []  # used up
    admin.set(f"{VSYS1_XPATH}/address", entry)
    panos_sim.faults.add("refuse_commit", pattern="bad-one")
    job = admin.commit()
    assert job is not None and job.result == "FAIL" and any("bad-one" in line for line in job.details)
    assert "bad-one" not in panos_sim.running_xml() and "bad-one" in panos_sim.candidate_xml()


def test_jobs_and_commit_time_endpoints(panos_firewall: Firewall, panos_sim: Simulator) -> None:
    """A bench with the simulator in another process sets the commit time and waits for jobs over HTTP."""
    assert _http(panos_sim, "POST", "/sim/commit-time", {"seconds": 1.0}) == {"seconds": 1.0}
    assert panos_sim.device.commit_seconds == 1.0
    panos_firewall.add(AddressObject("a1", "192.0.2.1")).create()
    panos_firewall.commit(sync=False)
    assert _http(panos_sim, "GET", "/sim/jobs") == {"idle": False, "busy": 1}
    assert _http(panos_sim, "GET", "/sim/jobs?wait=10") == {"idle": True, "busy": 0}
    with pytest.raises(urllib.error.HTTPError, match="400"):
        _http(panos_sim, "POST", "/sim/commit-time", {"seconds": -1})
