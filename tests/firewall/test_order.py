"""Minimal rule moves around foreign rules and anchors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firewall import order
from firewall.model import Anchor, Position
from firewall.order import Move

TOP, BOTTOM = Anchor(Position.TOP), Anchor(Position.BOTTOM)


def run(current: list[str], ours: list[str], anchor: Anchor) -> list[str]:
    state = list(current)
    for m in order.moves(current, ours, anchor):
        state = order.apply(state, m)
    return state


@pytest.mark.parametrize(("current", "ours", "anchor", "expected"), [
    pytest.param(["F", "a", "b"], ["a", "b"], BOTTOM, (), id="already at the bottom: no move"),
    pytest.param(["a", "F", "b"], ["a", "b"], BOTTOM, (), id="foreign rule in the middle stays"),
    pytest.param(["a", "b", "F"], ["a", "b"], BOTTOM, (Move("a", "bottom"), Move("b", "bottom")),
                 id="bottom: a foreign rule below the block stays outside it, the block moves"),
    pytest.param(["F", "a", "b"], ["a", "b"], TOP, (Move("a", "top"), Move("b", "after", "a")),
                 id="top: a foreign rule above the block stays outside it"),
    pytest.param(["b", "a"], ["a", "b"], TOP, (Move("b", "after", "a"),), id="swap is one move"),
    pytest.param(["X", "a", "b", "Y"], ["a", "b"], Anchor(Position.BEFORE, "Y"), (), id="before: in place"),
    pytest.param(["a", "b", "X", "Y"], ["a", "b"], Anchor(Position.BEFORE, "Y"),
                 (Move("a", "before", "Y"), Move("b", "before", "Y")), id="before: the block moves next to the anchor"),
    pytest.param(["X", "Y", "a", "b"], ["a", "b"], Anchor(Position.AFTER, "X"),
                 (Move("a", "after", "X"), Move("b", "after", "a")), id="after: the block moves next to the anchor"),
    pytest.param(["c", "X", "a", "b"], ["a", "b", "c"], Anchor(Position.AFTER, "X"),
                 (Move("c", "after", "b"),), id="after: a rule above the anchor moves below"),
    pytest.param(["F", "G", "n1", "n2", "n3"], ["n1", "n2", "n3"], TOP,
                 (Move("n1", "top"), Move("n2", "after", "n1"), Move("n3", "after", "n2")),
                 id="misplaced block anchored top: F and G end below the whole block"),
    pytest.param(["a", "b", "c", "F", "deny-all"], ["a", "b", "c"], BOTTOM,
                 (Move("a", "bottom"), Move("b", "after", "a"), Move("c", "bottom")),
                 id="top switched to bottom: every rule of ours below the foreign deny-all"),
])
def test_moves(current: list[str], ours: list[str], anchor: Anchor, expected: tuple[Move, ...]) -> None:
    assert order.moves(current, ours, anchor) == expected
    assert order.satisfied(run(current, ours, anchor), ours, anchor)


def test_new_rules_join_the_block() -> None:
    assert order.moves(["a", "F", "n"], ["a", "n"], TOP, frozenset({"n"})) == (Move("n", "after", "a"),)
    assert order.moves(["F", "a", "n"], ["a", "n"], BOTTOM, frozenset({"n"})) == ()


def test_missing_anchor() -> None:
    with pytest.raises(order.AnchorMissing):
        order.moves(["a"], ["a"], Anchor(Position.BEFORE, "nope"))


@st.composite
def layouts(draw: st.DrawFn) -> tuple[list[str], list[str], Anchor]:
    ours = draw(st.lists(st.sampled_from("abcdefg"), unique=True, min_size=1))
    foreign = draw(st.lists(st.sampled_from("UVWXYZ"), unique=True, min_size=1))
    current = draw(st.permutations(ours + foreign))
    position = draw(st.sampled_from(list(Position)))
    rule = draw(st.sampled_from(foreign)) if position in (Position.BEFORE, Position.AFTER) else None
    return list(current), draw(st.permutations(ours)), Anchor(position, rule)


@given(layouts())
def test_moves_reach_the_anchor_minimally(layout: tuple[list[str], list[str], Anchor]) -> None:
    current, ours, anchor = layout
    found = order.moves(current, ours, anchor)
    final = run(current, ours, anchor)
    assert order.satisfied(final, ours, anchor)
    assert [r for r in final if r not in ours] == [r for r in current if r not in ours]  # foreign order kept
    assert order.moves(final, ours, anchor) == ()
    assert len(found) <= len(ours)
    if order.satisfied(current, ours, anchor):
        assert found == ()
    assert not _outside_moved_in(current, final, ours, anchor)


def _outside_moved_in(current: list[str], final: list[str], ours: list[str], anchor: Anchor) -> list[str]:
    """Foreign rules beyond the block's anchored edge before the moves that are inside it after."""
    def block(order_: list[str]) -> tuple[int, int]:
        at = [i for i, r in enumerate(order_) if r in ours]
        return at[0], at[-1]
    lo, hi = block(current)
    if anchor.position == Position.TOP:
        outside = current[:lo]
    elif anchor.position == Position.BOTTOM:
        outside = current[hi + 1:]
    else:
        return []  # the anchor rule itself decides the side; covered by satisfied()
    lo2, hi2 = block(final)
    return [r for r in outside if lo2 < final.index(r) < hi2]


@pytest.mark.parametrize(("current", "ours", "anchor", "expected"), [
    pytest.param(["F", "deny-all", "n1", "n2", "n3"], ["n1", "n2", "n3"], BOTTOM, (),
                 id="all new, appended in order at the bottom: no move"),
    pytest.param(["F", "deny-all", "n1", "n3", "n2"], ["n1", "n2", "n3"], BOTTOM,
                 (Move("n3", "bottom"),), id="all new, one out of order: one move"),
    pytest.param(["a", "F", "n1"], ["a", "n1"], TOP, (Move("n1", "after", "a"),),
                 id="a new rule below a foreign one still joins the others"),
])
def test_fresh_rules(current: list[str], ours: list[str], anchor: Anchor, expected: tuple[Move, ...]) -> None:
    fresh = frozenset(r for r in current if r.startswith("n"))
    plan = order.moves(current, ours, anchor, fresh)
    assert plan == expected
    state = list(current)
    for m in plan:
        state = order.apply(state, m)
    assert order.satisfied(state, ours, anchor)


@st.composite
def move_sequences(draw: st.DrawFn) -> tuple[list[str], list[Move]]:
    names = draw(st.lists(st.sampled_from("abcdefgXYZ"), unique=True, min_size=1))
    moves = []
    for _ in range(draw(st.integers(0, 8))):
        rule = draw(st.sampled_from(names))
        where = draw(st.sampled_from(["top", "bottom", "before", "after"]))
        others = [n for n in names if n != rule]
        if where in ("before", "after") and not others:
            where = "top"
        moves.append(Move(rule, where, draw(st.sampled_from(others)) if where in ("before", "after") else None))
    return names, moves


@given(move_sequences())
def test_chain_moves_as_the_device_does(case: tuple[list[str], list[Move]]) -> None:
    """The planner's linked rulebase (one move in O(1)) ends where the device's list order
    (`apply`, one copy per move) does, and says "changed" exactly when the order changed."""
    names, moves = case
    chain = order._Chain(names)
    state = list(names)
    for m in moves:
        after = order.apply(state, m)
        assert chain.move(m) == (after != state)
        state = after
        assert chain.names() == state


def test_burst_of_fresh_rules_needs_no_move() -> None:
    """20,000 new rules appended in order onto an empty rulebase: no move (planned in linear
    time: the planner no longer copies the rulebase for every rule it places)."""
    ours = [f"r{i}" for i in range(20_000)]
    assert order.moves(ours, ours, BOTTOM, frozenset(ours)) == ()


@st.composite
def appended(draw: st.DrawFn) -> tuple[list[str], list[str], Anchor, list[str]]:
    """A rulebase after a sync's creates: some of ours just appended at the bottom, in any order."""
    ours = draw(st.lists(st.sampled_from("abcdefg"), unique=True, min_size=1))
    foreign = draw(st.lists(st.sampled_from("UVWXYZ"), unique=True))
    created = draw(st.permutations(ours))[: draw(st.integers(0, len(ours)))]
    before = draw(st.permutations([r for r in ours if r not in created] + foreign))
    position = draw(st.sampled_from(list(Position) if foreign else [Position.TOP, Position.BOTTOM]))
    rule = draw(st.sampled_from(foreign)) if position in (Position.BEFORE, Position.AFTER) else None
    return [*before, *created], draw(st.permutations(ours)), Anchor(position, rule), list(created)


@given(appended())
def test_in_place_only_when_moves_plans_nothing(case: tuple[list[str], list[str], Anchor, list[str]]) -> None:
    """order.in_place, the linear shortcut of a sync that created rules, never hides a move the
    planner itself would make (the planner is the reference)."""
    current, ours, anchor, created = case
    if order.in_place(current, ours, anchor, created):
        assert order.moves(current, ours, anchor, frozenset(created)) == ()


def test_in_place_for_a_burst_below_foreign_rules() -> None:
    """20,000 new rules appended in order below foreign ones, on a rulebase with none of ours yet:
    in place (the shortcut), as the planner finds."""
    ours = [f"r{i}" for i in range(20_000)]
    current = ["F", "deny-all", *ours]
    assert order.in_place(current, ours, BOTTOM, ours)
    assert order.moves(current, ours, BOTTOM, frozenset(ours)) == ()
    assert not order.in_place(["a", "F", "n1"], ["a", "n1"], TOP, ["n1"])
