"""Hypothesis strategies for bmlb's API objects: mostly valid, often nasty.

Every strategy draws a spec that a user could `kubectl apply`: usually well-formed, with strings
full of XML/XPath metacharacters, unicode, spaces and lengths at and past the schema's limits,
ports at their bounds, fields of the wrong type or missing, and combinations the CEL rules refuse.
Names are left to the caller (it needs them unique); `nasty_name` gives names to try.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

API = "bmlb.io/v1alpha1"
METACHARS = ["'", '"', "<", ">", "&", "/", "]", "[", "@", " ", "\\", "*", "|", "=", "\n", "\t", "\x00"]
UNICODE = ["ü", "名前", "\u202e", "\u200b", "🔥", "ǅ"]

_safe_alpha = st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789")
_dns_label = st.from_regex(r"[a-z]([-a-z0-9]{0,20}[a-z0-9])?", fullmatch=True)


def nasty_text(max_size: int = 40) -> st.SearchStrategy[str]:
    """Short strings built of metacharacters, unicode and plain letters."""
    atom = st.one_of(st.sampled_from(METACHARS), st.sampled_from(UNICODE), _safe_alpha,
                     st.characters(codec="utf-8", exclude_categories=["Cs"]))
    return st.lists(atom, min_size=0, max_size=max_size).map("".join)


def long_text(n: int) -> st.SearchStrategy[str]:
    """Strings around a length limit `n`: n-1, n, n+1 and far over."""
    return st.sampled_from([n - 1, n, n + 1, 4 * n]).flatmap(
        lambda k: st.sampled_from(["a", "Z", "<", "&", "ü"]).map(lambda c: ("x" + c * k)[:k]))


def sometimes(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any], one_in: int = 25) -> st.SearchStrategy[Any]:
    """`good`, except one draw in `one_in` that is `bad`."""
    # Hypothesis favours the bounds of a range: the rare case sits in its middle.
    return st.integers(1, one_in).flatmap(lambda k: bad if k == (one_in + 1) // 2 else good)


def rarely(draw: Any, one_in: int) -> bool:
    return bool(draw(st.integers(1, one_in)) == (one_in + 1) // 2)


def text_field(good: st.SearchStrategy[Any], limit: int, one_in: int = 25) -> st.SearchStrategy[Any]:
    """Mostly a good value; sometimes nasty, at the length limit, or of the wrong type."""
    return sometimes(good, st.one_of(
        nasty_text(), nasty_text(), long_text(limit),
        st.integers(-5, 70000), st.booleans(), st.none(), st.lists(_safe_alpha, max_size=2),
    ), one_in)


def nasty_name() -> st.SearchStrategy[str]:
    return st.one_of(nasty_text(20).filter(bool), long_text(253), st.sampled_from(["UPPER", "-lead", "trail-"]))


zone_good = st.one_of(st.sampled_from(["trust", "untrust", "dmz", "k8s", "Zone A", "a.b_c-d", "z" * 31]),
                      st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._ -]{0,30}", fullmatch=True))
zone = text_field(zone_good, 31)

ipv4 = st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t)))
ipv6 = st.integers(0, 2**16 - 1).map(lambda n: f"2001:db8:{n:x}::1")
cidr_good = st.one_of(
    st.tuples(ipv4, st.integers(0, 33)).map(lambda t: f"{t[0]}/{t[1]}"),
    ipv4, ipv4, ipv6,
    st.tuples(ipv6, st.integers(0, 129)).map(lambda t: f"{t[0]}/{t[1]}"),
    st.sampled_from(["0.0.0.0/0", "::/0", "256.1.1.1", "1.2.3.4/", "1::2::3", "10.0.0.1/32"]),
)
address = text_field(cidr_good, 50, 15)
port_number = sometimes(st.one_of(st.sampled_from([1, 65535, 80, 443]), st.integers(1, 65535)),
                        st.sampled_from([0, -1, 65536, 2**31]))
port_any = sometimes(st.one_of(st.sampled_from([80, 443, 80, 443, 1, 65535, "http", "https"]), port_number),
                     st.one_of(st.sampled_from(["p80", "", "nope", "<x>"]), nasty_text(16),
                               st.floats(allow_nan=False, allow_infinity=False), st.none()), 8)
protocol = sometimes(st.sampled_from(["TCP", "UDP", "SCTP"]), st.sampled_from(["tcp", "ICMP", ""]))


def maybe(d: dict[str, Any], key: str, value: st.SearchStrategy[Any], draw: Any, p: float = 0.5) -> None:
    if draw(st.floats(0, 1)) < p:
        d[key] = draw(value)


@st.composite
def rule(draw: Any, index: int) -> dict[str, Any]:
    r: dict[str, Any] = {"name": draw(text_field(st.sampled_from([f"r{index}", "inet", "office", "a" * 31]), 31))}
    frm: dict[str, Any] = {}
    if not rarely(draw, 20):
        frm["zones"] = draw(sometimes(st.lists(zone, min_size=1, max_size=3), st.one_of(
            st.just([]), zone, st.lists(zone_good, min_size=17, max_size=17)), 15))
    maybe(frm, "addresses", st.lists(address, max_size=4), draw)
    if not rarely(draw, 20):
        r["from"] = frm
    maybe(r, "action", sometimes(st.sampled_from(["allow", "deny", "drop", "reset-client"]),
                                 st.sampled_from(["ALLOW", "permit", ""])), draw)
    port_item = sometimes(
        st.one_of(st.fixed_dictionaries({"port": port_number}, optional={"protocol": protocol}),
                  st.fixed_dictionaries({"name": text_field(st.sampled_from(["http", "https", "p443"]), 15)})),
        st.fixed_dictionaries({}, optional={"port": port_number, "name": st.just("http"), "protocol": protocol}), 10)
    maybe(r, "ports", st.lists(port_item, max_size=3), draw, 0.4)
    maybe(r, "applications", st.lists(text_field(st.sampled_from(["ssl", "web-browsing", "dns"]), 31), max_size=3),
          draw, 0.3)
    maybe(r, "log", st.fixed_dictionaries({}, optional={"profile": text_field(st.just("default"), 63)}), draw, 0.2)
    maybe(r, "disabled", sometimes(st.booleans(), st.just("yes"), 5), draw, 0.1)
    return r


def service_names(targets: list[str]) -> st.SearchStrategy[str]:
    return text_field(st.one_of(st.sampled_from(targets), st.sampled_from(targets), _dns_label), 63)


@st.composite
def security_policy(draw: Any, targets: tuple[str, ...] = ("web", "api")) -> dict[str, Any]:
    sel: dict[str, Any] = {}
    maybe(sel, "names", st.lists(service_names(list(targets)), max_size=3), draw, 0.8)
    maybe(sel, "selector", sometimes(
        st.fixed_dictionaries({"matchLabels": st.dictionaries(st.sampled_from(["app", "tier", "x/y"]),
                                                              text_field(st.sampled_from(["web", "db"]), 63),
                                                              min_size=1, max_size=2)}),
        st.sampled_from([{}, {"matchLabels": {}}]), 8), draw, 0.3)
    n = draw(sometimes(st.integers(1, 3), st.just(0), 20))
    spec: dict[str, Any] = {"services": sel, "rules": [draw(rule(i)) for i in range(n)]}
    if n and rarely(draw, 15):
        spec["rules"].append(dict(spec["rules"][0]))  # a duplicate list-map key
    maybe(spec, "firewall", text_field(st.just("edge"), 63), draw, 0.1)
    if rarely(draw, 30):
        del spec[draw(st.sampled_from(["services", "rules"]))]
    return {"apiVersion": API, "kind": "SecurityPolicy", "spec": spec}


@st.composite
def nat_rule(draw: Any, targets: tuple[str, ...] = ("web", "api"), public_pool: str = "pub",
             namespaces: tuple[str, ...] = ("other",)) -> dict[str, Any]:
    svc: dict[str, Any] = {"name": draw(service_names(list(targets))), "port": draw(port_any)}
    maybe(svc, "namespace", text_field(st.sampled_from(list(namespaces)), 63), draw, 0.15)
    maybe(svc, "protocol", protocol, draw, 0.3)
    public: dict[str, Any] = {}
    choice = draw(st.integers(0, 19))
    if choice % 2 == 0:
        public["pool"] = draw(text_field(st.sampled_from([public_pool, "no-such-pool"]), 63))
    elif choice != 9:
        public["address"] = draw(text_field(st.one_of(
            st.integers(0, 15).map(lambda i: f"198.51.100.{i}"), ipv6, ipv4), 45))
    else:  # both or neither: the CEL rule's case
        if draw(st.booleans()):
            public.update(pool=public_pool, address="198.51.100.1")
    maybe(public, "port", port_number, draw, 0.4)
    maybe(public, "zone", zone, draw, 0.3)
    spec: dict[str, Any] = {"service": svc, "public": public,
                            "from": {"zones": draw(sometimes(st.lists(zone, min_size=1, max_size=3), st.just([])))}}
    maybe(spec["from"], "addresses", st.lists(address, max_size=3), draw, 0.3)
    maybe(spec, "firewall", text_field(st.just("edge"), 63), draw, 0.1)
    maybe(spec, "disabled", st.booleans(), draw, 0.1)
    if rarely(draw, 30):
        del spec[draw(st.sampled_from(["service", "public", "from"]))]
    return {"apiVersion": API, "kind": "NATRule", "spec": spec}


pool_range = st.one_of(
    st.tuples(st.integers(0, 255), st.integers(0, 255), st.integers(24, 32)).map(
        lambda t: f"10.200.{t[0]}.{t[1]}/{t[2]}"),
    st.tuples(st.integers(0, 255), st.integers(1, 200), st.integers(0, 60)).map(
        lambda t: f"10.201.{t[0]}.{t[1]}-10.201.{t[0]}.{t[1] + t[2]}"),
    st.integers(0, 2**16 - 1).map(lambda n: f"2001:db8:f:{n:x}::/120"),
    st.sampled_from(["10.202.0.9-10.202.0.1", "10.202.0.0/8", "10.202.0.0/33", "2001:db8::/129", "::/0",
                     "10.202.0.0-2001:db8::1", "0.0.0.0/0"]),
)


@st.composite
def vip_pool(draw: Any, namespaces: tuple[str, ...] = ("default",)) -> dict[str, Any]:
    spec: dict[str, Any] = {"addresses": draw(sometimes(st.lists(text_field(pool_range, 90), min_size=1, max_size=3),
                                                        st.just([]))),
                            "zone": draw(zone)}
    maybe(spec, "purpose", sometimes(st.sampled_from(["Service", "Public"]), st.just("public")), draw)
    maybe(spec, "autoAssign", sometimes(st.booleans(), st.just("true")), draw)
    maybe(spec, "avoidBuggyIPs", st.booleans(), draw, 0.2)
    maybe(spec, "namespaces", st.lists(text_field(st.sampled_from(list(namespaces)), 63), max_size=3), draw)
    if rarely(draw, 30):
        del spec[draw(st.sampled_from(["addresses", "zone"]))]
    return {"apiVersion": API, "kind": "VIPPool", "spec": spec}


def any_object(targets: tuple[str, ...] = ("web", "api"), public_pool: str = "pub",
               namespaces: tuple[str, ...] = ("default",)) -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(security_policy(targets), nat_rule(targets, public_pool, namespaces), vip_pool(namespaces))


@st.composite
def lb_service(draw: Any, name: str, namespace: str) -> dict[str, Any]:
    """A LoadBalancer Service of bmlb's class with nasty annotations (for the pure compiler test)."""
    annotations: dict[str, str] = {}
    for key, good in (("bmlb.io/ip", st.one_of(ipv4.map(lambda ip: "10.200.0." + ip.split(".")[-1]),
                                               st.just("10.200.0.1,2001:db8:f:1::1"))),
                      ("bmlb.io/pool", st.sampled_from(["pub", "p0", "p1"])),
                      ("bmlb.io/scheduler", st.sampled_from(["rr", "wlc", "bogus"])),
                      ("bmlb.io/forwarding", st.sampled_from(["nat", "dr", "tun", "x"])),
                      ("bmlb.io/allow-shared-ip", st.sampled_from(["k", "<&>"]))):
        if rarely(draw, 4):
            annotations[key] = draw(st.one_of(good, nasty_text(20)))
    ports = draw(st.lists(st.tuples(st.one_of(st.sampled_from([80, 443]), st.integers(1, 65535)),
                                    st.sampled_from(["TCP", "UDP"])), min_size=1, max_size=3, unique_by=lambda p: p))
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{namespace}-{name}",
                         "annotations": annotations, "labels": {"app": draw(st.sampled_from(["web", "db"]))}},
            "spec": {"type": "LoadBalancer", "loadBalancerClass": "bmlb.io/ipvs",
                     "ports": [{"name": f"p{p}", "port": p, "targetPort": p, "protocol": proto}
                               for p, proto in ports]}}
