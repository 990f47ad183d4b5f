"""A SecurityPolicy's selection (names and a label selector) reads only its own namespace's
Services through the parse's per-namespace grouping (controller/core/services.py, ServiceMap):
it selects exactly what a scan of every Service selects."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from controller.core.parse import parse
from controller.core.security_rules import select_services
from controller.core.services import ServiceMap
from controller.core.snapshot import Snapshot
from tests.controller.estate import policy, service

NAMESPACES = ("a", "b", "c")
labels = st.dictionaries(st.sampled_from(["app", "tier"]), st.sampled_from(["web", "db"]), max_size=2)
services = st.lists(st.tuples(st.sampled_from(NAMESPACES), st.sampled_from(["s1", "s2", "s3", "s4"]), labels),
                    max_size=12)
policies = st.lists(st.tuples(st.sampled_from(NAMESPACES), st.lists(st.sampled_from(["s1", "s2", "s9"]), max_size=3),
                              labels), min_size=1, max_size=5)


@settings(max_examples=200, deadline=None)
@given(services, policies)
def test_a_selection_through_the_grouping_is_the_scan_of_every_service(
        svcs: list[tuple[str, str, dict[str, str]]], pols: list[tuple[str, list[str], dict[str, str]]]) -> None:
    docs = [service(ns, name, (80, 80), labels=lab) for ns, name, lab in svcs]
    for i, (ns, names, lab) in enumerate(pols):
        doc = policy(ns, f"p{i}", names, [{"name": "r", "from": {"zones": ["z"]}}])
        if lab:
            doc["spec"]["services"]["selector"] = {"matchLabels": lab}
        docs.append(doc)
    parsed = parse(Snapshot.of(docs))
    assert isinstance(parsed.services, ServiceMap)
    scanned = dict(parsed.services)  # a plain mapping: every Service looked at
    for pol in parsed.policies:
        assert select_services(pol, parsed.services) == select_services(pol, scanned)
