"""Network and NAT validation the simulator applies at write and at commit, like PAN-OS:

- static routes: the next hop's family matches the routing table (ip / ipv6);
- path monitoring on static routes: `enable` yes|no, `failure-condition` any|all, `hold-time`
  0-1440 (minutes), each monitor destination an IP address of the route's family, `interval`
  1-60 (seconds), `count` 3-10; and at most `monitored_route_limit` routes with path monitoring
  enabled on the device (model dependent on PAN-OS, "order of 128"; the simulator's default 128);
- virtual router ECMP: `max-path` 2-4; `ecmp_settings` lets the device count the virtual-router
  restarts a commit that changes ECMP settings causes on PAN-OS;
- NAT: a destination translation to an IPv6 address (NAT66) is refused: PAN-OS translates IPv6
  only as NPTv6 or NAT64;
- Panorama: network configuration lives in templates
  (`template/entry[@name=T]/config/devices/entry/network`), never directly under the Panorama's
  own `devices/entry/network`.

Unverified (no public document or client code confirms them; the ranges come from the PAN-OS
web interface's field help): the exact error texts, whether a monitor destination without
`source` is accepted (the simulator accepts it), and the device-wide monitored-route limit.
"""

from __future__ import annotations

import ipaddress
import xml.etree.ElementTree as ET
from collections.abc import Iterator

from firewall.sim.refs import Problem

DEFAULT_MONITORED_ROUTE_LIMIT = 128


def _bad(owner: str, field: str, value: str, detail: str) -> Problem:
    return Problem(owner, field, value, detail)


def _ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def _int_in(owner: str, field: str, raw: str | None, lo: int, hi: int) -> Iterator[Problem]:
    if raw is None:
        return
    if not raw.strip().isdigit() or not lo <= int(raw) <= hi:
        yield _bad(owner, field, raw, f"is not in range {lo}-{hi}")


def _routers(config: ET.Element) -> Iterator[ET.Element]:
    """Every virtual router: a firewall's, and those in Panorama templates."""
    yield from config.iterfind(".//network/virtual-router/entry")


def monitored_routes(config: ET.Element) -> int:
    return sum(1 for vr in _routers(config) for fam in ("ip", "ipv6")
               for r in vr.iterfind(f"routing-table/{fam}/static-route/entry")
               if (r.findtext("path-monitor/enable") or "no").strip() == "yes")


def _route(vr: str, family: str, route: ET.Element) -> Iterator[Problem]:
    owner = f"virtual-router {vr} static-route {route.get('name', '')}"
    want = 4 if family == "ip" else 6
    for tag in ("ip-address", "ipv6-address"):
        hop = route.findtext(f"nexthop/{tag}")
        if hop is not None and ((ip := _ip(hop)) is None or ip.version != want):
            yield _bad(owner, f"nexthop {tag}", hop, f"is not an IPv{want} address")
    pm = route.find("path-monitor")
    if pm is None:
        return
    if (pm.findtext("enable") or "no").strip() not in ("yes", "no"):
        yield _bad(owner, "path-monitor enable", pm.findtext("enable") or "", "is not yes or no")
    fc = pm.findtext("failure-condition")
    if fc is not None and fc.strip() not in ("any", "all"):
        yield _bad(owner, "path-monitor failure-condition", fc, "is not any or all")
    yield from _int_in(owner, "path-monitor hold-time", pm.findtext("hold-time"), 0, 1440)
    for d in pm.iterfind("monitor-destinations/entry"):
        where = f"path-monitor monitor-destinations {d.get('name', '')}"
        dest = d.findtext("destination")
        if dest is None or (ip := _ip(dest)) is None or ip.version != want:
            yield _bad(owner, f"{where} destination", dest or "", f"is not an IPv{want} address")
        yield from _int_in(owner, f"{where} interval", d.findtext("interval"), 1, 60)
        yield from _int_in(owner, f"{where} count", d.findtext("count"), 3, 10)


def _ecmp(vr: str, router: ET.Element) -> Iterator[Problem]:
    yield from _int_in(f"virtual-router {vr}", "ecmp max-path", router.findtext("ecmp/max-path"), 2, 4)


def _nat66(config: ET.Element) -> Iterator[Problem]:
    for scope in (*config.iterfind("devices/entry/vsys/entry"), *config.iterfind("devices/entry/device-group/entry")):
        values = {e.get("name", ""): (e.findtext("ip-netmask") or "") for e in scope.iterfind("address/entry")}
        values.update({e.get("name", ""): (e.findtext("ip-netmask") or "")
                       for e in config.iterfind("shared/address/entry")})
        for rulebase in ("rulebase", "pre-rulebase", "post-rulebase"):
            for rule in scope.iterfind(f"{rulebase}/nat/rules/entry"):
                for node in rule.iterfind("destination-translation/translated-address"):
                    raw = (node.text or "").strip()
                    value = values.get(raw, raw).split("/")[0]
                    if (ip := _ip(value)) is not None and ip.version == 6:
                        yield _bad(rule.get("name", ""), "destination-translation translated-address", raw,
                                   "is IPv6: NAT66 is not supported (use NPTv6 or NAT64)")


def problems(tree: ET.Element, *, monitored_route_limit: int = DEFAULT_MONITORED_ROUTE_LIMIT) -> frozenset[Problem]:
    config = tree.find("config")
    if config is None:
        return frozenset()
    found: set[Problem] = set()
    for router in _routers(config):
        vr = router.get("name", "")
        found.update(_ecmp(vr, router))
        for family in ("ip", "ipv6"):
            for route in router.iterfind(f"routing-table/{family}/static-route/entry"):
                found.update(_route(vr, family, route))
    monitored = monitored_routes(config)
    if monitored > monitored_route_limit:
        found.add(_bad("virtual-router", "static-route path-monitor", str(monitored),
                       f"monitored static routes exceed the device limit of {monitored_route_limit}"))
    found.update(_nat66(config))
    if config.find("devices/entry/device-group") is not None:  # a Panorama
        for dev in config.iterfind("devices/entry"):
            if dev.find("network") is not None:
                found.add(_bad("devices", "network", dev.get("name", ""),
                               "is not valid on Panorama: network config lives in templates"))
    return frozenset(found)


def ecmp_settings(tree: ET.Element) -> dict[str, str]:
    """Each virtual router's ECMP settings, as text (compared across a commit)."""
    config = tree.find("config")
    if config is None:
        return {}
    out = {}
    for router in _routers(config):
        ecmp = router.find("ecmp")
        out[router.get("name", "")] = "" if ecmp is None else ET.tostring(ecmp, encoding="unicode")
    return out
