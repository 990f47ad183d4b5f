"""A test-side oracle: what traffic the firewall must pass and translate, from the manifests alone.

Written from the CRDs' documented meaning and PAN-OS semantics, never from bmlb's compiler:
  NATRule     destination NAT: from `from.zones` (sources `from.addresses` or any), to the zone of
              the public address (the Public pool holding it), destination public address,
              service protocol/public port; translated to the Service's VIP (its recorded ingress)
              and the Service port.
  SecurityPolicy rule, per selected Service and port: PAN-OS matches the PRE-NAT destination and
              the POST-NAT zone. From a zone a NATRule publishes the port from: to the VIP pool's
              zone, destination the public address:public port. From any other zone: to the VIP
              pool's zone, destination the VIP:port. `any` zones: both.
Both sides are expanded into flows (tuples of single values: zone, zone, source, destination
address value, protocol/port, action / translation), so rules are compared by what they do,
not by their names or how members are grouped. Device flows come from the running XML, with
address and service object names resolved to their values.
"""

from __future__ import annotations

import ipaddress
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

GROUP, VERSION = "bmlb.io", "v1alpha1"
VSYS = "devices/entry/vsys/entry[@name='vsys1']"

SecFlow = tuple[str, str, str, str, str, str]  # from, to, source, destination value, proto/port, action
NatFlow = tuple[str, str, str, str, str, str, str]  # from, to, source, destination, proto/port, to addr, to port


@dataclass(frozen=True)
class Expected:
    security: frozenset[SecFlow]
    nat: frozenset[NatFlow]


def _host(value: str) -> str:
    """An address value as one host: "10.0.0.5/32" -> "10.0.0.5"; other values unchanged."""
    if value.endswith("/32") or value.endswith("/128"):
        return value.rsplit("/", 1)[0]
    return value


def _in(ip: str, ranges: Iterable[str]) -> bool:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    for r in ranges:
        if "-" in r:
            lo, hi = (ipaddress.ip_address(x.strip()) for x in r.split("-", 1))
            if lo.version == addr.version and lo <= addr <= hi:  # type: ignore[operator]
                return True
        elif addr in ipaddress.ip_network(r, strict=False):
            return True
    return False


def _split_hostport(text: str) -> tuple[str, int] | None:
    if not text:
        return None
    host, _, port = text.rpartition(":")
    try:
        return host.strip("[]"), int(port)
    except ValueError:
        return None


def _svc_port(svc: dict[str, Any], want: int | str | None, protocol: str | None = None) -> dict[str, Any] | None:
    for p in svc["spec"].get("ports") or []:
        proto = p.get("protocol", "TCP")
        if protocol and proto != protocol:
            continue
        if want is None or p.get("port") == want or p.get("name") == want:
            return p
    return None


def _selected(pol: dict[str, Any], services: dict[tuple[str, str], dict[str, Any]]) -> list[dict[str, Any]]:
    ns = pol["metadata"]["namespace"]
    spec = pol["spec"].get("services") or {}
    names = set(spec.get("names") or [])
    labels = (spec.get("selector") or {}).get("matchLabels") or {}
    out = []
    for (svc_ns, name), svc in sorted(services.items()):
        if svc_ns != ns:
            continue
        svc_labels = svc["metadata"].get("labels") or {}
        if name in names or (labels and all(svc_labels.get(k) == v for k, v in labels.items())):
            out.append(svc)
    return out


def expected_flows(services: list[dict[str, Any]], pools: list[dict[str, Any]], nats: list[dict[str, Any]],
                   policies: list[dict[str, Any]]) -> Expected:
    """Flows of Services, NATRules and SecurityPolicies as the API server returns them."""
    by_name = {(s["metadata"]["namespace"], s["metadata"]["name"]): s for s in services
               if s["spec"].get("type") == "LoadBalancer"}

    def home_zone(svc: dict[str, Any]) -> str | None:
        """README: a pool edit never re-IPs; an address left outside every pool is kept, in the zone
        of the pool the Service would draw from (its bmlb.io/pool, else the first auto-assign
        Service pool, by name, that admits its namespace)."""
        wanted = ((svc["metadata"].get("annotations") or {}).get("bmlb.io/pool"))
        ns = svc["metadata"]["namespace"]
        for pool in sorted(pools, key=lambda p: p["metadata"]["name"]):
            spec = pool["spec"]
            if spec.get("purpose", "Service") != "Service":
                continue
            if wanted is not None and pool["metadata"]["name"] == wanted:
                return spec["zone"]
            if wanted is None and spec.get("autoAssign", True) and ns in (spec.get("namespaces") or [ns]):
                return spec["zone"]
        return None

    def vip_of(svc: dict[str, Any]) -> tuple[str, str] | None:
        ips = [i.get("ip") for i in ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []]
        for ip in ips:
            for pool in pools:
                if pool["spec"].get("purpose", "Service") == "Service" and _in(ip, pool["spec"]["addresses"]):
                    return ip, pool["spec"]["zone"]
        for ip in ips:
            if not any(_in(ip, p["spec"]["addresses"]) for p in pools) and (zone := home_zone(svc)):
                return ip, zone
        return None

    def public_zone(ip: str) -> str | None:
        return next((p["spec"]["zone"] for p in pools
                     if p["spec"].get("purpose") == "Public" and _in(ip, p["spec"]["addresses"])), None)

    nat_flows: set[NatFlow] = set()
    # (service, protocol, port) -> [(zones, public ip, public port)]
    published: dict[tuple[str, str, str, int], list[tuple[frozenset[str], str, int]]] = {}
    for n in nats:
        if n["metadata"].get("deletionTimestamp"):
            continue
        spec = n["spec"]
        ns = n["metadata"]["namespace"]
        svc = by_name.get((ns, spec["service"]["name"]))
        if svc is None or (vip := vip_of(svc)) is None:
            continue
        port = _svc_port(svc, spec["service"]["port"], spec["service"].get("protocol"))
        if port is None:
            continue
        proto = port.get("protocol", "TCP").lower()
        public = spec["public"]
        recorded = _split_hostport((n.get("status") or {}).get("public", ""))
        pub_ip = public.get("address") or (recorded[0] if recorded else None)
        pub_port = int(public.get("port") or port["port"])
        if not pub_ip or (zone := public_zone(pub_ip)) is None:
            continue
        zones = frozenset(spec["from"]["zones"])
        published.setdefault((ns, svc["metadata"]["name"], proto, port["port"]), []).append(
            (zones, pub_ip, pub_port))
        if spec.get("disabled"):
            continue
        for z in zones:
            for src in spec["from"].get("addresses") or ["any"]:
                nat_flows.add((z, zone, _host(src), pub_ip, f"{proto}/{pub_port}", vip[0], str(port["port"])))

    sec: set[SecFlow] = set()
    for pol in policies:
        if pol["metadata"].get("deletionTimestamp"):
            continue
        for rule in pol["spec"].get("rules") or []:
            if rule.get("disabled"):
                continue
            zones = set((rule.get("from") or {}).get("zones") or [])
            sources = [_host(a) for a in (rule.get("from") or {}).get("addresses") or ["any"]]
            action = rule.get("action", "allow")
            for svc in _selected(pol, by_name):
                vip = vip_of(svc)
                if vip is None:
                    continue
                if rule.get("ports"):
                    ports = [p for rp in rule["ports"]
                             if (p := _svc_port(svc, rp.get("port", rp.get("name")), rp.get("protocol"))) is not None]
                else:
                    ports = list(svc["spec"].get("ports") or [])
                for p in ports:
                    proto = p.get("protocol", "TCP").lower()
                    pubs = published.get((pol["metadata"]["namespace"], svc["metadata"]["name"], proto, p["port"]), [])
                    nat_zones = {z for zs, _, _ in pubs for z in zs}
                    direct = {"any"} if "any" in zones else zones - nat_zones
                    for z in direct:
                        for src in sources:
                            sec.add((z, vip[1], src, vip[0], f"{proto}/{p['port']}", action))
                    for zs, ip, pport in pubs:
                        for z in (zs if "any" in zones else zs & zones):
                            for src in sources:
                                sec.add((z, vip[1], src, ip, f"{proto}/{pport}", action))
    return Expected(frozenset(sec), frozenset(nat_flows))


def cluster_flows(cluster: Any) -> Expected:
    """expected_flows over what the test API server holds now (every namespace)."""
    api = cluster.api
    services = [api.sanitize_for_serialization(s) for s in cluster.core.list_service_for_all_namespaces().items]

    def crs(plural: str) -> list[dict[str, Any]]:
        return cluster.custom.list_cluster_custom_object(GROUP, VERSION, plural)["items"]

    return expected_flows(services, crs("vippools"), crs("natrules"), crs("securitypolicies"))


# ---------------------------------------------------------------------------- the device side


def _members(e: ET.Element, path: str) -> list[str]:
    return [(m.text or "").strip() for m in e.findall(f"{path}/member")]


def _owned(e: ET.Element, tag: str) -> bool:
    return tag in _members(e, "tag")


def device_flows(running_xml: str, ownership_tag: str) -> Expected:
    """The flows bmlb's rules (those carrying the ownership tag, enabled) pass and translate."""
    vsys = ET.fromstring(running_xml).find(VSYS)
    assert vsys is not None
    addresses = {e.get("name", ""): _host(e.findtext("ip-netmask") or e.findtext("ip-range") or "")
                 for e in vsys.findall("address/entry")}
    services: dict[str, list[str]] = {}
    for e in vsys.findall("service/entry"):
        for proto in ("tcp", "udp", "sctp"):
            ports = e.findtext(f"protocol/{proto}/port")
            if ports:
                services[e.get("name", "")] = [f"{proto}/{p.strip()}" for p in ports.split(",")]

    def addr(v: str) -> str:
        return addresses.get(v, _host(v))

    def svc(v: str) -> list[str]:
        return services.get(v, [v])

    sec: set[SecFlow] = set()
    for r in vsys.findall("rulebase/security/rules/entry"):
        if not _owned(r, ownership_tag) or (r.findtext("disabled") or "no") == "yes":
            continue
        for f in _members(r, "from"):
            for t in _members(r, "to"):
                for s in _members(r, "source"):
                    for d in _members(r, "destination"):
                        for sv in _members(r, "service"):
                            for port in svc(sv):
                                sec.add((f, t, addr(s), addr(d), port, r.findtext("action") or ""))
    nat: set[NatFlow] = set()
    for r in vsys.findall("rulebase/nat/rules/entry"):
        if not _owned(r, ownership_tag) or (r.findtext("disabled") or "no") == "yes":
            continue
        to_addr = addr(r.findtext("destination-translation/translated-address") or "")
        for f in _members(r, "from"):
            for t in _members(r, "to"):
                for s in _members(r, "source"):
                    for d in _members(r, "destination"):
                        for port in svc(r.findtext("service") or "any"):
                            to_port = r.findtext("destination-translation/translated-port") or port.split("/")[-1]
                            nat.add((f, t, addr(s), addr(d), port, to_addr, to_port))
    return Expected(frozenset(sec), frozenset(nat))


def unreferenced_owned(running_xml: str, ownership_tag: str) -> list[str]:
    """bmlb's address and service objects that none of bmlb's rules refer to (left behind)."""
    vsys = ET.fromstring(running_xml).find(VSYS)
    assert vsys is not None
    used: set[str] = set()
    for r in [*vsys.findall("rulebase/security/rules/entry"), *vsys.findall("rulebase/nat/rules/entry")]:
        if _owned(r, ownership_tag):
            for path in ("source", "destination", "service"):
                used.update(_members(r, path))
            used.update(x for x in (r.findtext("service"), r.findtext("destination-translation/translated-address"))
                        if x)
    return [f"{kind} {e.get('name')}" for kind in ("address", "service") for e in vsys.findall(f"{kind}/entry")
            if _owned(e, ownership_tag) and e.get("name") not in used]


def compare(want: Expected, have: Expected) -> Iterator[tuple[str, str]]:
    """("lost" | "stale", what) for every flow missing from the device or there unwanted."""
    for kind, w, h in (("security", want.security, have.security), ("nat", want.nat, have.nat)):
        for flow in sorted(w - h):
            yield "lost", f"{kind} flow {flow}"
        for flow in sorted(h - w):
            yield "stale", f"{kind} flow {flow}"
