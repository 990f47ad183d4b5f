"""A PAN-OS XML API simulator over HTTPS on loopback, for tests and demos.

Unmodified pan-os-python / pan-python talk to it. See server.py for the HTTP surface and
the `Simulator` handle, faults.py for fault injection, ops.py for operational commands.
"""

from firewall.sim.defaults import SystemInfo
from firewall.sim.server import Simulator, main

__all__ = ["Simulator", "SystemInfo", "main"]
