"""Apply a running config to a Linux network namespace (root): interface addresses, routes, and
the nftables table. Idempotent: it reads what the namespace holds and changes only the
difference for addresses and routes; the nftables table is replaced in one transaction.
"""

from __future__ import annotations

import ipaddress
import json
import shutil
import subprocess
from collections.abc import Mapping

from tests.e2e.twin.model import IP, Device
from tests.e2e.twin.nft import TABLE, ruleset
from tests.e2e.twin.parse import load
from tests.e2e.twin.routes import PROTO, addresses, wanted_routes

SYSCTLS = ("net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1")


def _run(cmd: list[str], *, stdin: str | None = None) -> str:
    r = subprocess.run(cmd, input=stdin, capture_output=True, text=True, check=False)
    if r.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stdout}{r.stderr}\n{stdin or ''}")
    return r.stdout


def _state(netns: str) -> tuple[list[dict], list[dict]]:
    """(addresses, our routes) as `ip -j` reports them, in one process."""
    out = _run(["ip", "netns", "exec", netns, "sh", "-ec",
                f"ip -j addr show; echo; ip -j -4 route show proto {PROTO}; echo; ip -j -6 route show proto {PROTO}"])
    parts = out.split("\n\n")
    if len(parts) != 3:
        raise RuntimeError(f"unexpected ip -j output in {netns}: {out!r}")
    addrs, v4, v6 = (json.loads(p.strip() or "[]") for p in parts)
    return addrs, [{**r, "family": 4} for r in v4] + [{**r, "family": 6} for r in v6]


def _route_key(r: dict) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """The prefix of a route as `ip -j route` shows it (a host route without /32, "default")."""
    dst = r["dst"]
    if dst == "default":
        dst = "0.0.0.0/0" if r.get("family") == 4 else "::/0"
    return ipaddress.ip_network(dst, strict=False)


def plan(device: Device, netns_addrs: list[dict], netns_routes: list[dict], interfaces: Mapping[str, str],
         down: frozenset[IP] = frozenset()) -> list[str]:
    """`ip -batch` lines that turn what the namespace holds into what the device wants."""
    lines: list[str] = []
    want_addrs = addresses(device, interfaces)
    have: dict[str, set[str]] = {}
    for link in netns_addrs:
        name = link.get("ifname", "")
        if name in want_addrs:
            have[name] = {f"{a['local']}/{a['prefixlen']}" for a in link.get("addr_info", [])
                          if a.get("scope") == "global"}
    for link, want in want_addrs.items():
        wanted = {str(ipaddress.ip_interface(a)) for a in want}
        current = {str(ipaddress.ip_interface(a)) for a in have.get(link, set())}
        lines += [f"addr del {a} dev {link}" for a in sorted(current - wanted)]
        lines += [f"addr replace {a} dev {link}" + (" nodad" if ":" in a else "") for a in sorted(wanted - current)]
        lines.append(f"link set {link} up")
    want_routes = wanted_routes(device, interfaces, down)
    for r in netns_routes:
        key = _route_key(r)
        if key not in want_routes:
            lines.append(f"route del {'blackhole ' if r.get('type') == 'blackhole' else ''}{key} proto {PROTO}")
    for dest, args in want_routes.items():
        if args == ["blackhole"]:
            lines.append(f"route replace blackhole {dest} proto {PROTO}")
        else:
            lines.append(f"route replace {dest} proto {PROTO} {' '.join(args)}")
    return lines


def apply(running_xml: str, netns: str, interfaces: Mapping[str, str], *,
          down: frozenset[IP] = frozenset(), monitor: bool = False, table: str = TABLE) -> Device:
    """Make namespace `netns` behave like the device `running_xml` describes. `interfaces` maps
    PAN-OS interface names to Linux interface names in the namespace (they must exist); `down`:
    path-monitored destinations that fail; `monitor`: also ping them now (probe) and withdraw
    the routes whose monitors fail. Returns the device it applied."""
    device = load(running_xml)
    addrs, ours = _state(netns)
    lines = plan(device, addrs, ours, interfaces, down)
    # addresses first: routes need their next hops on a connected subnet, probes a source
    links = [a for a in lines if a.startswith(("addr", "link"))]
    _run(["ip", "-n", netns, "-batch", "-"], stdin="\n".join(links) + "\n")
    if monitor:
        down = down | probe(netns, device)
        lines = plan(device, addrs, ours, interfaces, down)
    _run(["ip", "-n", netns, "-batch", "-"], stdin="\n".join(r for r in lines if r.startswith("route")) + "\n")
    script = ruleset(device, interfaces, table=table, down=down)
    _run(["ip", "netns", "exec", netns, "sh", "-ec", f"sysctl -qw {' '.join(SYSCTLS)}; nft -f -"], stdin=script)
    return device


def probe(netns: str, device: Device, *, timeout_s: int = 1) -> frozenset[IP]:
    """Ping every path-monitored destination once, at once, from the namespace: those that do not
    answer within `timeout_s`. PAN-OS declares a destination down after `count` lost pings sent
    every `interval` seconds; callers that want that loop call probe as often as they like."""
    dests = sorted({str(d) for vr in device.routers for r in vr.routes if r.monitor for d in r.monitor.destinations})
    if not dests:
        return frozenset()
    ping = "ping" if shutil.which("ping") else "busybox ping"
    script = " ".join(f"({ping} -c 1 -W {timeout_s} {d} >/dev/null 2>&1 || echo {d}) &" for d in dests) + " wait"
    out = _run(["ip", "netns", "exec", netns, "sh", "-c", script])
    return frozenset(ipaddress.ip_address(x) for x in out.split())
