"""A compile with a cache hands back the last compile's Report where, and only where, the object's
fields and firewall names are what they were; the oracle is the Report written out by hand."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from controller.core.compile_cache import CompileCache
from controller.core.compiler import Report
from controller.core.problems import ObjectRef
from controller.core.reports import reports_of as _reports

REFS = [ObjectRef(k, "team-a", n) for k in ("Service", "NATRule") for n in ("a", "b", "c")]
FIELDS = st.dictionaries(st.sampled_from(["firewall", "ingress", "public", "selected"]),
                         st.sampled_from(["edge", "core", "1", "10.0.0.1"]), max_size=3)
NAMES = st.lists(st.sampled_from(["r1", "r2", "r3"]), max_size=3, unique=True)
ROUND = st.dictionaries(st.sampled_from(REFS), st.tuples(FIELDS, NAMES), max_size=len(REFS))


def expected(ref: ObjectRef, fields: dict[str, str], names: list[str]) -> Report:
    return Report(ref, tuple(sorted(fields.items())), tuple(sorted(names)))


@settings(max_examples=300, deadline=None)
@given(st.lists(ROUND, min_size=2, max_size=5))
def test_reports_reused_exactly_where_nothing_moved(rounds: list[dict[ObjectRef, tuple[dict, list]]]) -> None:
    cache = CompileCache()
    last: dict[ObjectRef, Report] = {}
    for i, objects in enumerate(rounds):
        fields = {r: tuple(sorted(f.items())) for r, (f, _) in objects.items() if f}
        owned = {r: list(n) for r, (_, n) in objects.items() if n}
        got, changed = _reports(fields, owned, cache)
        refs = sorted(fields.keys() | owned.keys())
        want = [expected(r, dict(fields.get(r, ())), owned.get(r, [])) for r in refs]
        assert list(got) == want
        by_ref = {rep.ref: rep for rep in got}
        moved = {r for r in refs if last.get(r) != by_ref[r]} | (last.keys() - set(refs))
        if i == 0 or not last:
            assert changed is None or changed == moved
        else:
            assert changed == moved
            for r in refs:
                if r not in moved:
                    assert by_ref[r] is last[r]  # the very same Report: statuses compare it by identity
        last = by_ref


def test_a_renamed_rule_is_a_new_report() -> None:
    cache = CompileCache()
    ref = REFS[0]
    _reports({ref: (("firewall", "edge"),)}, {ref: ["r1"]}, cache)
    second, changed = _reports({ref: (("firewall", "edge"),)}, {ref: ["r2"]}, cache)
    assert second[0].firewall_objects == ("r2",) and changed == {ref}
    third, changed = _reports({ref: (("firewall", "edge"),)}, {ref: ["r2", "r1"]}, cache)
    assert third[0].firewall_objects == ("r1", "r2") and changed == {ref}
    fourth, changed = _reports({ref: (("firewall", "core"),)}, {ref: ["r1", "r2"]}, cache)
    assert fourth[0].fields == (("firewall", "core"),) and changed == {ref}
