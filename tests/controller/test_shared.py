"""One copy of equal small values (controller/core/shared.py): equal text is shared, and a value
that is equal to another without being the same (1 == True) is never swapped for it."""

from __future__ import annotations

from controller.core import shared


def test_shared_strings_are_one_copy_and_never_conflate_other_values() -> None:
    a, b = tuple(["untrust", "dmz"]), tuple(["untrust", "dmz"])
    assert a is not b and shared.strings(a) is shared.strings(b) == a
    one, true = (1,), (True,)
    assert shared.strings(one) is one and shared.strings(true) is true  # 1 == True: never swapped
    assert type(shared.protocol_port("TCP", True)[1]) is bool and type(shared.protocol_port("TCP", 1)[1]) is int


def test_shared_sets_of_names_are_one_copy() -> None:
    a, b = frozenset(["team-a"]), frozenset(["team-a"])
    assert a is not b and shared.names(a) is shared.names(b) == a
    mixed = frozenset([1, "1"])
    assert shared.names(mixed) is mixed  # type: ignore[arg-type]


def test_shared_port_sets_keep_bools_apart() -> None:
    a, b = frozenset({("TCP", 443)}), frozenset({("TCP", 443)})
    assert a is not b and shared.ports(a) is shared.ports(b) == a
    odd = frozenset({("TCP", True)})
    assert shared.ports(frozenset({("TCP", 1)})) is not odd and shared.ports(odd) is odd
