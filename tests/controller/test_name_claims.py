"""One owner per firewall name (controller/core/name_claims.py): the claims as a plain grouping of
every rule's name and owner decides them (the oracle below), whatever Owner objects carry them."""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from controller.core.name_claims import unique_names
from controller.core.problems import ObjectRef, Problem
from firewall.model import Owner

REFS = [ObjectRef("SecurityPolicy", ns, n) for ns in ("a", "b") for n in ("p", "q")]


def oracle(entries: list[Any], created: dict[ObjectRef, str], owned: dict[ObjectRef, list[str]],
           problems: list[Problem]) -> list[Any]:
    claims: dict[str, set[ObjectRef]] = defaultdict(set)
    for _, rule in entries:
        claims[rule.name].add(ObjectRef(rule.owner.kind, rule.owner.namespace, rule.owner.name))
    losers = set()
    for name, refs in claims.items():
        for ref in sorted(refs, key=lambda r: (created.get(r, ""), r))[1:]:
            losers.add((name, ref))
            problems.append(Problem(ref, "metadata.name", "NameCollision", name))  # type: ignore[arg-type]
            owned[ref] = [n for n in owned.get(ref, []) if n != name]
    return [(k, r) for k, r in entries
            if (r.name, ObjectRef(r.owner.kind, r.owner.namespace, r.owner.name)) not in losers]


# A rule: its name, its owner's ref, and which of two Owner objects of that ref carries it (an
# object's rules share one; another generation of it is another).
rules = st.lists(st.tuples(st.sampled_from(["r1", "r2", "r3"]), st.sampled_from(REFS), st.booleans()), max_size=12)


@settings(max_examples=300, deadline=None)
@given(rules, st.dictionaries(st.sampled_from(REFS), st.sampled_from(["2026-01-01", "2026-01-02"])))
def test_the_oldest_claimant_keeps_each_name(picked: list[tuple[str, ObjectRef, bool]],
                                             created: dict[ObjectRef, str]) -> None:
    owners = {(ref, g): Owner(ref.kind, ref.namespace, ref.name, f"uid-{ref.name}", int(g)) for ref in REFS
              for g in (False, True)}
    entries = [((i,), SimpleNamespace(name=name, owner=owners[(ref, g)])) for i, (name, ref, g) in enumerate(picked)]
    owned = {ref: [n for n, r, _ in picked if r == ref] for ref in REFS}
    want_owned, want_problems = {k: list(v) for k, v in owned.items()}, []
    want = oracle(entries, created, want_owned, want_problems)
    got_problems: list[Problem] = []
    got = unique_names(entries, created, owned, got_problems)
    assert got == want
    assert owned == want_owned
    assert [(p.ref, p.message.split("'")[1]) for p in got_problems] == [(p.ref, p.message) for p in want_problems]
