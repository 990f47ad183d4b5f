"""The kernel settings each forwarding mode needs, as a pure function of the table.

All modes (any service):
  net.ipv4.vs.expire_nodest_conn=1        drop connections of a deleted real server at once
  net.ipv4.vs.expire_quiescent_template=1 persistence templates of a weight-0 (draining)
                                          server expire, so ClientIP affinity cannot pin new
                                          connections to it
NAT (masquerading): replies come back through this node and are forwarded
  net.ipv4.ip_forward=1                   (net.ipv6.conf.all.forwarding=1 for IPv6 VIPs)
  net.ipv4.vs.conntrack=1                 keep netfilter conntrack entries for IPVS
                                          connections, so SNAT/masquerade rules apply
DR (direct routing): every node binds the VIPs on the dummy link; only the router in front
(a route to the VIP) must decide which node gets the traffic, so nodes must not answer ARP
for VIPs nor use them as ARP source addresses:
  net.ipv4.conf.all.arp_ignore=1          answer ARP only for addresses of the incoming link
  net.ipv4.conf.all.arp_announce=2        use the best local address as ARP source

Settings are only ever raised to these values, never reverted: other software may rely on
them.
"""

from __future__ import annotations

from ipvs.model import Forwarding, Table


def required(table: Table) -> dict[str, str]:
    if not table.services:
        return {}
    out = {"net.ipv4.vs.expire_nodest_conn": "1", "net.ipv4.vs.expire_quiescent_template": "1"}
    nat = [s for s in table.services if any(r.forwarding is Forwarding.NAT for r in s.real_servers)]
    if nat:
        out["net.ipv4.ip_forward"] = "1"
        out["net.ipv4.vs.conntrack"] = "1"
        if any(s.address.version == 6 for s in nat):
            out["net.ipv6.conf.all.forwarding"] = "1"
    if any(r.forwarding is Forwarding.DR for s in table.services for r in s.real_servers):
        out["net.ipv4.conf.all.arp_ignore"] = "1"
        out["net.ipv4.conf.all.arp_announce"] = "2"
    return dict(sorted(out.items()))
