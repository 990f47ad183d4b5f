"""The firewall package's exceptions: one small hierarchy, raised only by the shell.

    FirewallError                   anything that stopped a sync
    ├── ConfigurationError          bad SyncConfig / credentials / anchor (permanent)
    │   └── DuplicateNames          the desired set holds two objects of one kind with one name
    ├── Unreachable                 network, TLS handshake, timeouts, HTTP 5xx (transient)
    │   └── TLSError                the certificate did not verify (permanent until fixed)
    ├── AuthFailed                  bad credentials or an expired key we cannot renew
    ├── NotActive                   an HA peer that is not active: nothing was written
    ├── Locked                      another admin holds a config or commit lock (transient)
    ├── ForeignPendingChanges       other admins have uncommitted changes (nothing written)
    ├── CommitInProgress            another commit kept running past our patience (transient)
    ├── CommitFailed                the commit job failed; `objects` names ours that it blamed
    └── DeviceRefused               the device answered an error we did not expect

Library exceptions (pan.xapi, panos.errors, ssl, socket) never leave `firewall.device`.
Each class has a stable `reason` (a CamelCase word for status conditions and metrics) that
does not change when a class is renamed or subclassed.
"""

from __future__ import annotations


class FirewallError(Exception):
    transient = False
    reason = "SyncFailed"


class ConfigurationError(FirewallError):
    reason = "InvalidConfiguration"


class DuplicateNames(ConfigurationError):
    reason = "DuplicateNames"

    def __init__(self, duplicates: list[tuple[str, str]]) -> None:
        listed = ", ".join(f"{kind} {name}" for kind, name in duplicates)
        super().__init__(f"the desired state names more than one object {listed}: refusing to sync "
                         "(two owners would share one firewall object)")
        self.duplicates = duplicates


class Unreachable(FirewallError):
    transient = True
    reason = "Unreachable"


class TLSError(Unreachable):
    transient = False
    reason = "TLSError"


class AuthFailed(FirewallError):
    reason = "AuthFailed"


class NotActive(FirewallError):
    transient = True
    reason = "NotActive"

    def __init__(self, state: str) -> None:
        super().__init__(f"this HA peer is {state}, not active: nothing written")
        self.state = state


class Locked(FirewallError):
    transient = True
    reason = "Locked"

    def __init__(self, message: str, holder: str | None = None) -> None:
        super().__init__(message)
        self.holder = holder


class ForeignPendingChanges(FirewallError):
    transient = True
    reason = "ForeignPendingChanges"

    def __init__(self, admins: list[str]) -> None:
        super().__init__(
            f"administrators {', '.join(admins)} have uncommitted changes; refusing to write and commit "
            "(set commit_foreign_pending to proceed with a partial commit of our own changes)")
        self.admins = admins


class CommitInProgress(FirewallError):
    transient = True
    reason = "CommitInProgress"


class CommitFailed(FirewallError):
    reason = "CommitFailed"

    def __init__(self, message: str, *, objects: list[str], lines: list[str], job: int | None = None) -> None:
        super().__init__(message)
        self.objects = objects
        self.lines = lines
        self.job = job
        self.quarantine: dict[str, object] = {}  # sync.Refused by "kind/name": objects held so far


class DeviceRefused(FirewallError):
    reason = "DeviceRefused"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code
