"""A refusal from the device leaves no garbage cycle behind: pan-os-python keeps the exception it
raises in a local of a frame on that exception's traceback, and every frame holds its caller's,
so a refused call (HA state on a standalone firewall, "job not found", an unlock of no lock: in
every sync) kept its caller's whole stack, a sync's desired state among it, alive until the next
full collection. A controller that freezes its heap after each reconcile then kept them for ever."""

from __future__ import annotations

import gc
import weakref

import pytest

from firewall.device import Device
from firewall.errors import DeviceRefused
from firewall.sim import Simulator
from tests.firewall.sync_fixtures import device_for


class Payload:
    """Stands for a sync's desired state: freed by reference counting alone, or not at all."""


def _refused_calls(dev: Device, held: Payload) -> None:
    assert held is not None
    assert dev.ha_state() is None  # refused by the simulator: standalone
    dev.unlock("shared")  # no lock taken: refused, logged
    assert not dev.newer_job(10_000)  # "job 10001 not found"
    with pytest.raises(DeviceRefused):
        dev.op("<show><no-such-command/></show>")


def test_refused_calls_leave_their_callers_to_reference_counting(panos_sim: Simulator) -> None:
    dev = device_for(panos_sim)
    gc.collect()
    gc.disable()
    try:
        held = Payload()
        ref = weakref.ref(held)
        _refused_calls(dev, held)
        del held
        assert ref() is None, "a cycle through the refused call's traceback still holds its caller's locals"
    finally:
        gc.enable()
