"""A PAN-OS firewall twin: a running config (XML) -> what the device does with packets, as a pure
evaluator and as nftables + routes in a Linux network namespace. Independent of controller/ and
firewall/: it reads the XML itself, from PAN-OS documentation (see each module's docstring).

    device = load(running_xml)
    evaluate(device, Packet("untrust", "198.51.100.7", "203.0.113.16", "tcp", 443)) -> Verdict
    ruleset(device, {"ethernet1/1": "fw-untrust", ...}) -> str (nft -f script)
    routes(device, interfaces) -> [["ip", "route", "replace", ...], ...]
    apply(running_xml, "bmlb-fw", interfaces)   # root: addresses, routes, nftables in the netns
"""

from tests.e2e.twin.apply import apply, probe
from tests.e2e.twin.evaluate import Packet, Verdict, evaluate
from tests.e2e.twin.fib import NextHop
from tests.e2e.twin.model import Action, Device
from tests.e2e.twin.nft import ruleset
from tests.e2e.twin.parse import load
from tests.e2e.twin.routes import addresses, routes

__all__ = ["Action", "Device", "NextHop", "Packet", "Verdict", "addresses", "apply", "evaluate", "load", "probe",
           "routes", "ruleset"]
