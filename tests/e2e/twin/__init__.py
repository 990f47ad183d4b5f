"""A PAN-OS firewall twin: a running config (XML) -> what the device does with packets, as a pure
evaluator and as nftables + routes in a Linux network namespace. Independent of controller/ and
firewall/: it reads the XML itself (xml.etree), from PAN-OS documentation cited in each module.

    device = load(running_xml)                       # parse.py -> model.Device (vsys1)
    v = evaluate(device, Packet("untrust", "198.51.100.7", "203.0.113.16", "tcp", 443),
                 down=frozenset())                   # evaluate.py -> Verdict
    v.action (Action), v.rule (security or default rule), v.nat_rule, v.translated_dst,
    v.translated_port, v.translated_src, v.egress_zone (post-NAT), v.nat_zone (pre-NAT),
    v.next_hops (NextHop(interface, via)), v.reason (why dropped before policy), v.passes
    ruleset(device, {"ethernet1/1": "fw-u", ...}) -> str       # nft.py: an `nft -f` script
    routes(device, interfaces, down) -> [["ip", "route", "replace", ...], ...]   # routes.py
    addresses(device, interfaces) -> {linux_if: ["203.0.113.2/24", "203.0.113.16/32", ...]}
    apply(running_xml, netns, interfaces, *, down=frozenset(), monitor=False) -> Device  # root
    probe(netns, device) -> frozenset of path-monitored destinations that do not answer a ping

`interfaces` maps PAN-OS interface names to Linux interface names inside the twin's namespace;
apply gives each mapped interface exactly the config's addresses (plus destination/source NAT
addresses on its subnets, so it answers ARP for them): other global addresses on them go.
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
