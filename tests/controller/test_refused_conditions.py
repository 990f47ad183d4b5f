"""Pure: how a sync's set-aside objects and failures reach each object's conditions."""

from __future__ import annotations

from controller.core import conditions
from controller.runtime import fwlink
from firewall import errors
from firewall.diff import Plan
from firewall.sync import ObjectError, SyncReport


def report(*errs: ObjectError) -> SyncReport:
    return SyncReport(Plan(), commit_job=7, errors=errs)


def test_only_the_owner_hears_of_its_refused_object() -> None:
    outcome = fwlink.outcome_of(report(
        ObjectError("security", "bmlb-evil-leak", "bmlb-evil-leak -> source '1.2.3.4/99' is invalid", "commit"),
        ObjectError("route", "default/ip/bmlb-rt-x", "nexthop unreachable")), drift_mode="enforce")
    assert outcome.ok
    mine = conditions.firewall_synced(outcome, ["bmlb-evil-leak"])
    assert (mine.status, mine.reason) == ("False", "DeviceRefused")
    assert "1.2.3.4/99" in mine.message and "bmlb-rt-x" not in mine.message
    route = conditions.firewall_synced(outcome, ["bmlb-rt-x"])  # routes are known by their device name
    assert route.status == "False" and "nexthop" in route.message
    other = conditions.firewall_synced(outcome, ["bmlb-shop-web"])
    assert (other.status, other.reason) == ("True", "Synced")
    assert "evil" not in other.message and "1.2.3.4" not in other.message
    assert "bmlb-evil-leak" in outcome.detail  # the Firewall's own status names it


def test_a_refused_delete_keeps_its_name() -> None:
    outcome = fwlink.outcome_of(report(ObjectError("address", "bmlb-a", "in use", "write", deleting=True)),
                                drift_mode="enforce")
    assert outcome.kept == frozenset({"bmlb-a"})


def test_device_words_of_a_failed_sync_stay_on_the_firewall() -> None:
    err = errors.CommitFailed("commit job 3 failed: bmlb-other-ns-rule -> x is invalid", objects=[], lines=[])
    outcome = fwlink.failure("edge", err)
    assert outcome.reason == "CommitFailed" and "other-ns" not in outcome.message
    assert "other-ns" in outcome.detail
    cond = conditions.firewall_synced(outcome, ["bmlb-mine"])
    assert cond.reason == "CommitFailed" and "other-ns" not in cond.message
    unreachable = fwlink.failure("edge", errors.Unreachable("ConnectionRefusedError: refused"))
    assert unreachable.reason == "Unreachable" and "refused" in unreachable.message


def test_reasons_are_stable_words() -> None:
    assert {e.reason for e in (errors.Unreachable("x"), errors.TLSError("x"), errors.AuthFailed("x"),
                               errors.DeviceRefused("x"), errors.ConfigurationError("x"),
                               errors.DuplicateNames([("security", "a")]))} == {
        "Unreachable", "TLSError", "AuthFailed", "DeviceRefused", "InvalidConfiguration", "DuplicateNames"}
