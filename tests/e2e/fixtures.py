"""Hand-written PAN-OS running configs for the twin's tests, in the device's XML layout."""

from __future__ import annotations

VSYS_INTERFACES = ("ethernet1/1", "ethernet1/2", "ethernet1/3", "ethernet1/4", "ethernet1/5")
ADDRESSES = {
    "ethernet1/1": "203.0.113.2/24",  # untrust
    "ethernet1/2": "10.0.0.1/24",  # trust
    "ethernet1/3": "192.168.50.1/24",  # dmz
    "ethernet1/4": "10.96.0.1/16",  # k8s
    "ethernet1/5": "172.16.0.1/24",  # in no zone
}
ZONES = {"untrust": "ethernet1/1", "trust": "ethernet1/2", "dmz": "ethernet1/3", "k8s": "ethernet1/4"}


def members(*values: str) -> str:
    return "".join(f"<member>{v}</member>" for v in values)


def security(name: str, *, frm: tuple[str, ...] = ("any",), to: tuple[str, ...] = ("any",),
             source: tuple[str, ...] = ("any",), destination: tuple[str, ...] = ("any",),
             service: tuple[str, ...] = ("any",), application: tuple[str, ...] = ("any",), action: str = "allow",
             extra: str = "") -> str:
    return (f'<entry name="{name}"><from>{members(*frm)}</from><to>{members(*to)}</to>'
            f"<source>{members(*source)}</source><destination>{members(*destination)}</destination>"
            f"<application>{members(*application)}</application><service>{members(*service)}</service>"
            f"<action>{action}</action>{extra}</entry>")


def nat(name: str, *, frm: tuple[str, ...] = ("any",), to: str = "any", source: tuple[str, ...] = ("any",),
        destination: tuple[str, ...] = ("any",), service: str = "any", translated: str | None = None,
        port: int | None = None, extra: str = "") -> str:
    dt = ""
    if translated is not None:
        dt = f"<destination-translation><translated-address>{translated}</translated-address>"
        dt += f"<translated-port>{port}</translated-port>" if port is not None else ""
        dt += "</destination-translation>"
    return (f'<entry name="{name}"><from>{members(*frm)}</from><to>{members(to)}</to>'
            f"<to-interface>any</to-interface><source>{members(*source)}</source>"
            f"<destination>{members(*destination)}</destination><service>{service}</service>{dt}{extra}</entry>")


def route(name: str, destination: str, nexthop: str | None = None, *, metric: int | None = None,
          admin_dist: int | None = None, interface: str | None = None, discard: bool = False,
          monitor: tuple[str, ...] = (), failure: str = "any") -> str:
    nh = "<nexthop><discard/></nexthop>" if discard else (
        f"<nexthop><ip-address>{nexthop}</ip-address></nexthop>" if nexthop else "")
    pm = ""
    if monitor:
        dests = "".join(f'<entry name="m{i}"><enable>yes</enable><destination>{d}</destination>'
                        f"<interval>3</interval><count>5</count></entry>" for i, d in enumerate(monitor))
        pm = (f"<path-monitor><enable>yes</enable><failure-condition>{failure}</failure-condition>"
              f"<monitor-destinations>{dests}</monitor-destinations></path-monitor>")
    return (f'<entry name="{name}"><destination>{destination}</destination>{nh}'
            + (f"<interface>{interface}</interface>" if interface else "")
            + (f"<metric>{metric}</metric>" if metric is not None else "")
            + (f"<admin-dist>{admin_dist}</admin-dist>" if admin_dist is not None else "")
            + f"{pm}</entry>")


def config(*, rules: str = "", nat_rules: str = "", objects: str = "", shared: str = "", routes: str = "",
           ecmp: str = "", defaults: str = "") -> str:
    """A firewall with untrust/trust/dmz/k8s zones (one interface each) and ethernet1/5 in no zone.
    `objects`/`shared`: address, address-group, service, service-group elements."""
    ifaces = "".join(f'<entry name="{i}"><layer3><ip><entry name="{a}"/></ip></layer3></entry>'
                     for i, a in ADDRESSES.items())
    zones = "".join(f'<entry name="{z}"><network><layer3>{members(i)}</layer3></network></entry>'
                    for z, i in ZONES.items())
    return f"""<config version="10.2.0">
  <shared>{shared}</shared>
  <devices><entry name="localhost.localdomain">
    <network>
      <interface><ethernet>{ifaces}</ethernet></interface>
      <virtual-router><entry name="default">
        <interface>{members(*VSYS_INTERFACES)}</interface>{ecmp}
        <routing-table><ip><static-route>{routes}</static-route></ip></routing-table>
      </entry></virtual-router>
    </network>
    <vsys><entry name="vsys1">
      <zone>{zones}</zone>
      {objects}
      <rulebase>
        <security><rules>{rules}</rules></security>
        <nat><rules>{nat_rules}</rules></nat>
        {defaults}
      </rulebase>
    </entry></vsys>
  </entry></devices>
</config>"""


ECMP_ON = "<ecmp><enable>yes</enable><max-path>{n}</max-path></ecmp>"


def default_rules(actions: dict[str, str]) -> str:
    """Overrides of the predefined intrazone-default / interzone-default rules."""
    entries = "".join(f'<entry name="{n}"><action>{a}</action></entry>' for n, a in actions.items())
    return f"<default-security-rules><rules>{entries}</rules></default-security-rules>"
