"""An address's text, remembered (ipvs/model.py `address_text`): always what str() says, whatever
was asked before (same integer, other family; an IPv6 address with and without a scope)."""

from __future__ import annotations

import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from ipvs.model import address_text

addresses = st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6),
                      st.builds(lambda ip, scope: ipaddress.IPv6Address(f"{ip}%{scope}"),
                                st.ip_addresses(v=6), st.sampled_from(["eth0", "1"])))


@given(st.lists(addresses, max_size=20))
def test_the_remembered_text_is_str(seen: list[ipaddress.IPv4Address | ipaddress.IPv6Address]) -> None:
    for ip in seen:
        assert address_text(ip) == str(ip)


def test_one_integer_in_two_families_and_a_scope_are_three_texts() -> None:
    v4, v6 = ipaddress.IPv4Address(1), ipaddress.IPv6Address(1)
    scoped = ipaddress.IPv6Address("::1%eth0")
    assert [address_text(v4), address_text(v6), address_text(scoped)] == ["0.0.0.1", "::1", "::1%eth0"]
