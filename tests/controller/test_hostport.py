""""host:port" as bmlb writes it into status and reads it back."""

from __future__ import annotations

import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from controller.core import hostport

ips = st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6))


@given(ips, st.integers(1, 65535))
def test_the_host_read_back_is_the_address_written(ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
                                                   port: int) -> None:
    text = hostport.join(ip, port)
    assert ipaddress.ip_address(hostport.host(text)) == ip
    assert text.endswith(f":{port}") and text.count("[") == (ip.version == 6)


def test_the_written_forms() -> None:
    assert hostport.join(ipaddress.ip_address("203.0.113.5"), 443) == "203.0.113.5:443"
    assert hostport.join(ipaddress.ip_address("2001:db8::5"), 443) == "[2001:db8::5]:443"
    assert hostport.host(None) == "" and hostport.host("") == "" and hostport.host(7) == ""
