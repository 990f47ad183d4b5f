"""One ObjectRef per object for the whole process (controller/core/problems.py `interned`): equal
refs are the same object, and refs nobody holds do not pile up."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from controller.core import problems
from controller.core.problems import ObjectRef, interned
from controller.core.snapshot import ref_of

names = st.text(alphabet="ab-.0", max_size=4)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["Service", "NATRule"]), names, names), min_size=1, max_size=20))
def test_equal_refs_are_one_object_and_unequal_ones_stay_apart(triples: list[tuple[str, str, str]]) -> None:
    made = [interned(ObjectRef(*t)) for t in triples]
    for t, a in zip(triples, made, strict=True):
        assert a == ObjectRef(*t) and tuple(a) == t
        again = ref_of({"kind": t[0], "metadata": {"namespace": t[1], "name": t[2]}})
        assert again is a
    for a in made:
        for b in made:
            assert (a is b) == (a == b)


def test_refs_nobody_holds_are_let_go_and_held_ones_stay_the_same() -> None:
    held = [interned(ObjectRef("NATRule", "team-a", f"held-{i}")) for i in range(100)]
    for round_ in range(5):
        for i in range(20_000):  # a tenant creating and deleting objects under ever new names
            interned(ObjectRef("NATRule", "team-b", f"gone-{round_}-{i}"))
    assert len(problems._known) <= 2 * problems._MIN_SWEEP + 2 * len(held) + 1
    for i, ref in enumerate(held):
        assert interned(ObjectRef("NATRule", "team-a", f"held-{i}")) is ref
