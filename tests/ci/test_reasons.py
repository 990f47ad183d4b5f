"""Condition reasons are an API users alert on: every one comes from controller/core/reasons.py, keeps
its value, has a meaning, and is listed in docs/reasons.md."""

from __future__ import annotations

import ast
from pathlib import Path

from controller.core.reasons import Code, Reason, table
from firewall import errors

ROOT = Path(__file__).resolve().parents[2]

# The values as users alert on them today: a change here is a breaking change of the API.
PROBLEM_CODES = {
    "InvalidType", "Invalid", "InvalidAddress", "InvalidIP", "InvalidScheduler", "InvalidForwarding",
    "UnknownAnnotation", "NoPorts", "PortRemapUnsupported", "PoolOverlap", "PoolNotFound", "PoolPurposeMismatch",
    "PoolDeniesNamespace", "PoolExhausted", "NoPool", "FamilyMismatch", "TooManyAddresses", "IPNotInPool",
    "IPAvoided", "IPInUse", "OutOfPool", "FirewallNotFound", "FirewallAmbiguous", "FirewallDeniesNamespace",
    "NoFirewall", "ForeignNamespace", "ServiceNotFound", "PortNotFound", "PortMatchesNothing", "NAT66Unsupported",
    "NoZone", "VIPPending", "PublicConflict", "DuplicateRule", "NameCollision", "SelectsNothing",
    "RoutedModeOnPanorama", "TooManyMonitoredRoutes", "InvalidNodeAddress", "UnknownNode", "NoCommonNode",
    "NoHealthyNode",
}
CONDITION_REASONS = {
    "Valid", "AcceptedWithWarnings", "Ready", "Pending", "Synced", "NoFirewall", "CredentialsUnavailable",
    "Skipped", "SyncFailed", "InvalidConfiguration", "DuplicateNames", "Unreachable", "TLSError", "AuthFailed",
    "NotActive", "Locked", "ForeignPendingChanges", "CommitInProgress", "CommitFailed", "DeviceRefused",
    "Matches", "Mismatch", "NoVirtualRouter", "Unreadable",
}
# Where a reason is passed (the call, and the index of its reason argument).
REASON_ARGUMENT = {"Problem": 2, "warn": 2, "problem": 2, "bad": 1, "Condition": 2, "FirewallOutcome": 1}


def test_the_values_do_not_change() -> None:
    assert {m.value for m in Code} == PROBLEM_CODES
    assert {m.value for m in Reason} == CONDITION_REASONS
    for m in (*Code, *Reason):
        assert m.name == m.value and str(m) == m.value and f"{m}" == m.value
        assert m.doc and "\n" not in m.doc and "|" not in m.doc, m


def test_every_firewall_error_reason_is_a_documented_reason() -> None:
    def subclasses(cls: type) -> list[type]:
        return [cls, *(s for sub in cls.__subclasses__() for s in subclasses(sub))]

    found = {cls.reason for cls in subclasses(errors.FirewallError)}
    assert len(found) >= 12
    assert found <= CONDITION_REASONS


def test_no_reason_is_a_free_string_in_the_controller() -> None:
    free = []
    paths = sorted((ROOT / "controller").rglob("*.py"))
    assert len(paths) > 40  # every layer: core, runtime and cli
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
            at = REASON_ARGUMENT.get(name)
            if at is not None and len(node.args) > at:
                arg = node.args[at]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    free.append(f"{path.relative_to(ROOT)}:{node.lineno}: {arg.value!r}")
    assert not free, "use controller.core.reasons.Code / Reason:\n" + "\n".join(free)


def test_the_docs_list_every_reason() -> None:
    text = (ROOT / "docs" / "reasons.md").read_text()
    assert table() in text
    for m in (*Code, *Reason):
        assert f"| `{m.value}` |" in text
