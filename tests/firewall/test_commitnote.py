"""firewall/commitnote.py: a commit's description names what changed and whose objects."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from firewall.commitnote import LIMIT, describe
from firewall.diff import Op, OpType
from firewall.elements import Kind
from firewall.model import Owner

NAT = Owner("NATRule", "shop", "web-https", "u1", 4)
POL = Owner("SecurityPolicy", "shop", "frontend", "u2", 2)


def test_groups_per_owner_and_change() -> None:
    ops = [Op(OpType.CREATE, Kind.TAG, "bmlb-managed"), Op(OpType.CREATE, Kind.ADDRESS, "bmlb-203.0.113.16"),
           Op(OpType.CREATE, Kind.NAT, "bmlb-nat_shop_web-https"), Op(OpType.UPDATE, Kind.SECURITY, "r1"),
           Op(OpType.MOVE, Kind.SECURITY, "r2"), Op(OpType.DELETE, Kind.SECURITY, "old")]
    owners = {(Kind.ADDRESS, "bmlb-203.0.113.16"): NAT, (Kind.NAT, "bmlb-nat_shop_web-https"): NAT,
              (Kind.SECURITY, "r1"): POL, (Kind.SECURITY, "r2"): POL}
    assert describe(ops, owners) == ("bmlb: +NATRule shop/web-https gen 4, ~SecurityPolicy shop/frontend gen 2, "
                                     "+tag bmlb-managed, -security old")
    assert describe([], {}) == "bmlb: pending changes"
    assert describe(ops[:1], {}, prefix="nightly").startswith("nightly: +tag")


@given(st.integers(1, 400), st.integers(0, 3))
def test_cut_to_the_device_limit_saying_how_many_were_left_out(n: int, cluster_scoped: int) -> None:
    owners = {(Kind.SECURITY, f"r{i}"): Owner("SecurityPolicy", "" if cluster_scoped else f"ns{i}", f"policy-{i}",
                                              "u", i) for i in range(n)}
    text = describe([Op(OpType.CREATE, Kind.SECURITY, f"r{i}") for i in range(n)], owners)
    assert len(text) <= LIMIT and text.startswith("bmlb: +SecurityPolicy")
    shown = text.count("+SecurityPolicy")
    assert shown == n or text.endswith(f" (+{n - shown} more)")
