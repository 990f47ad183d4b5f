"""Fixtures for tests against the PAN-OS XML API simulator (firewall.sim).

Every fixture starts a fresh simulator on 127.0.0.1, an ephemeral port, HTTPS with a private
CA, and stops it afterwards. Commits take `PANOS_SIM_COMMIT_SECONDS` (0.05 s) in tests.

Fixtures
  panos_sim -> firewall.sim.Simulator            a firewall (vsys1, single-vsys, PAN-OS 10.2.4)
  panos_sim_factory(**kwargs) -> Simulator       more simulators; kwargs as Simulator(...):
      users={"admin": "admin"}, panorama=False, system=SystemInfo(...), config_xml=None,
      commit_seconds=0.05, state_file=None, cert_dir=None
  panos_firewall -> panos.firewall.Firewall      connected to panos_sim as "admin"
      (api_key set, timeout 10 s; pan-os-python does not verify TLS; the CA is panos_sim.ca_file)
  panos_panorama_sim -> Simulator                a Panorama (device group "k8s", serial 007951000000001)
  panos_panorama -> panos.panorama.Panorama      connected to panos_panorama_sim as "admin"

Simulator handle (see firewall/sim/server.py)
  sim.host, sim.port, sim.url ("https://127.0.0.1:PORT"), sim.ca_file (PEM path)
  sim.api_key(user="admin") -> str; sim.users -> {name: password}
  sim.add_admin(name, password=None) -> AdminSession; sim.as_admin(name) -> AdminSession
      session.set(xpath, element) / edit(xpath, element) / delete(xpath) / move(xpath, where, dst=None)
      / rename(xpath, newname) / lock_config(scope="shared") / unlock_config() / lock_commit()
      / unlock_commit() / commit(partial=False, wait=True)
      element: an XML string ("<entry name='x'>..</entry>"), an Element, or a list of them.
      Writes go to the candidate as that admin (a pending change until committed) and are checked
      like API writes (names, references; raises firewall.sim.tree.ConfigError).
  sim.stats_snapshot() -> {"requests": {"config.set": n, "op": n, "commit": n, "keygen": n,
      ..., "total": n}, "config": n, "writes": n, "commits": n, "faults": n};  sim.reset_stats()
  sim.faults.add(kind, times=1, only=(), seconds=.., status=.., lines=(..), admin="alice",
      scope="shared", xpath="");  sim.faults.clear();  sim.faults.active()
      kinds: latency, reset, timeout, http_error, commit_in_progress, commit_fail, refuse_write(pattern),
             refuse_commit(pattern),
             expire_keys, config_lock, commit_lock, pending_changes   (see firewall/sim/faults.py)
  sim.running_xml(), sim.candidate_xml() -> str (<config> document)
  sim.set_commands(which="running"|"candidate") -> list[str]
  sim.pending_admins() -> list[str];  sim.wait_for_jobs(timeout=30) -> bool
  sim.device: the firewall.sim.device.Device (running/candidate trees, locks, jobs) for assertions
  XPaths: firewall.sim.VSYS1_XPATH, SHARED_XPATH, device_group_xpath("k8s")
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from panos.firewall import Firewall
from panos.panorama import Panorama

from firewall.sim import Simulator

PANOS_SIM_COMMIT_SECONDS = 0.05


@pytest.fixture
def panos_sim_factory() -> Iterator[Callable[..., Simulator]]:
    started: list[Simulator] = []

    def start(**kwargs: Any) -> Simulator:
        kwargs.setdefault("commit_seconds", PANOS_SIM_COMMIT_SECONDS)
        sim = Simulator.start(**kwargs)
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()


@pytest.fixture
def panos_sim(panos_sim_factory: Callable[..., Simulator]) -> Simulator:
    return panos_sim_factory()


@pytest.fixture
def panos_firewall(panos_sim: Simulator) -> Firewall:
    fw = Firewall(panos_sim.host, api_key=panos_sim.api_key("admin"), port=panos_sim.port, timeout=10)
    fw.refresh_system_info()
    return fw


@pytest.fixture
def panos_panorama_sim(panos_sim_factory: Callable[..., Simulator]) -> Simulator:
    return panos_sim_factory(panorama=True)


@pytest.fixture
def panos_panorama(panos_panorama_sim: Simulator) -> Panorama:
    pano = Panorama(panos_panorama_sim.host, api_key=panos_panorama_sim.api_key("admin"),
                    port=panos_panorama_sim.port, timeout=10)
    pano.refresh_system_info()
    return pano
