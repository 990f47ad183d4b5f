"""A PAN-OS XML API simulator over HTTPS on loopback, for tests and demos.

Unmodified pan-os-python / pan-python talk to it. See server.py for the HTTP surface and
the `Simulator` handle, faults.py for fault injection, ops.py for operational commands.
"""

from firewall.sim.defaults import SHARED_XPATH, VSYS1_XPATH, SystemInfo, device_group_xpath
from firewall.sim.server import Simulator, main

__all__ = ["SHARED_XPATH", "VSYS1_XPATH", "Simulator", "SystemInfo", "device_group_xpath", "main"]
