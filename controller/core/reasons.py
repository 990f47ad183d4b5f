"""Every reason bmlb writes into a status condition: users alert on these words, so their values
never change. `Code`: what is wrong with an object (the Accepted condition's reason, a Problem's
code, `bmlb plan -o json`'s "code"); `Reason`: every other condition reason (sync outcomes,
the firewall's stable error reasons of firewall/errors.py, ECMP checks).

Each member carries a one-line meaning (`.doc`); README's "Condition reasons" table lists them.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Self


class _Documented(StrEnum):
    doc: str

    def __new__(cls, value: str, doc: str = "") -> Self:
        member = str.__new__(cls, value)
        member._value_ = value
        member.doc = doc
        return member


class Code(_Documented):
    """A Problem's code: an error rejects the object (Accepted=False), a warning keeps it."""

    # the object's shape
    InvalidType = "InvalidType", "a field has the wrong type or shape (a list for a map, a number for a string)"
    Invalid = "Invalid", "a Service field fails its schema (the message names the rule)"
    InvalidAddress = "InvalidAddress", "a VIPPool address is neither a CIDR nor a first-last range"
    InvalidIP = "InvalidIP", "a requested address (bmlb.io/ip, spec.public.address) is not an IPv4 or IPv6 address"
    InvalidScheduler = "InvalidScheduler", "bmlb.io/scheduler names no IPVS scheduler"
    InvalidForwarding = "InvalidForwarding", "bmlb.io/forwarding is not nat, dr or tun"
    UnknownAnnotation = "UnknownAnnotation", "a bmlb.io/ annotation bmlb does not know (a typo of a known one)"
    NoPorts = "NoPorts", "a LoadBalancer Service without ports"
    PortRemapUnsupported = "PortRemapUnsupported", "dr or tun forwarding cannot send to another port than the VIP's"
    # pools and addresses
    PoolOverlap = "PoolOverlap", "two VIPPools (or two ranges of one) share addresses"
    PoolNotFound = "PoolNotFound", "bmlb.io/pool or spec.public.pool names no VIPPool"
    PoolPurposeMismatch = "PoolPurposeMismatch", "the named VIPPool has the other purpose (Service vs Public)"
    PoolDeniesNamespace = "PoolDeniesNamespace", "the VIPPool does not admit the object's namespace"
    PoolExhausted = "PoolExhausted", "no free address of that family is left in the pools that fit"
    NoPool = "NoPool", "no VIPPool of that purpose and family admits the object (auto-assign)"
    FamilyMismatch = "FamilyMismatch", "a requested address is of an IP family the Service does not ask for"
    TooManyAddresses = "TooManyAddresses", "more than one address of one IP family requested"
    IPNotInPool = "IPNotInPool", "a requested address lies in no (or not the named) VIPPool of that purpose"
    IPAvoided = "IPAvoided", "a requested address ends in .0 or .255 in a pool with avoidBuggyIPs"
    IPInUse = "IPInUse", "a requested address is held by another owner that may not share it"
    OutOfPool = "OutOfPool", "warning: a kept address is in no VIPPool any more (after a pool edit)"
    # firewall: which one, names, NAT and rules
    FirewallNotFound = "FirewallNotFound", "spec.firewall names no Firewall"
    FirewallAmbiguous = "FirewallAmbiguous", "several Firewalls exist and spec.firewall names none"
    FirewallDeniesNamespace = "FirewallDeniesNamespace", "the chosen Firewall does not admit the object's namespace"
    NoFirewall = "NoFirewall", "warning: no Firewall object exists; rules are planned but synced nowhere"
    ForeignNamespace = "ForeignNamespace", "a NATRule names a Service of another namespace"
    ServiceNotFound = "ServiceNotFound", "no LoadBalancer Service of bmlb's class by that name"
    PortNotFound = "PortNotFound", "a NATRule's Service has no such port/protocol"
    PortMatchesNothing = "PortMatchesNothing", ("a SecurityPolicy rule's port matches no port of any Service it "
                                                "selects: it opens nothing")
    NAT66Unsupported = "NAT66Unsupported", "an IPv6 public address: PAN-OS has no IPv6-to-IPv6 destination NAT"
    NoZone = "NoZone", "the firewall zone of an address is unknown (in no pool with a zone, none given)"
    VIPPending = "VIPPending", "warning: the Service has no VIP of that family yet"
    PublicConflict = "PublicConflict", "the public address:port/protocol is already published by an older NATRule"
    DuplicateRule = "DuplicateRule", "a SecurityPolicy uses one rule name twice"
    NameCollision = "NameCollision", "the object's firewall name is already held by an older object"
    SelectsNothing = "SelectsNothing", "warning: a SecurityPolicy selects no LoadBalancer Service"
    # routed mode and nodes
    RoutedModeOnPanorama = "RoutedModeOnPanorama", "routing.mode routed on a Panorama Firewall: no routes planned"
    TooManyMonitoredRoutes = "TooManyMonitoredRoutes", "more path-monitored routes than the device allows"
    InvalidNodeAddress = "InvalidNodeAddress", "warning: a node address that cannot be a next hop is ignored"
    UnknownNode = "UnknownNode", "warning: an agent Lease for a node that has no Node object is ignored"
    NoCommonNode = "NoCommonNode", "warning: no healthy node can serve every Service sharing a VIP"
    NoHealthyNode = "NoHealthyNode", "warning: no healthy node can serve the VIP; the last routes are kept"


class Reason(_Documented):
    """The reasons of conditions other than a rejected spec."""

    # Accepted / Ready
    Valid = "Valid", "Accepted=True: the spec is valid"
    AcceptedWithWarnings = "AcceptedWithWarnings", "Accepted=True: the spec is used, with warnings (in the message)"
    Ready = "Ready", "Ready=True: accepted and, where a firewall is involved, synced"
    # FirewallSynced, from bmlb
    Pending = "Pending", "FirewallSynced=Unknown: not synced yet"
    Synced = "Synced", "FirewallSynced=True: the object's firewall objects are in place"
    NoFirewall = "NoFirewall", "no Firewall object by that name exists: nothing was synced"
    CredentialsUnavailable = "CredentialsUnavailable", "the Firewall's credentials Secret cannot be read"
    Skipped = "Skipped", "the sync left this object out (a foreign object holds its name, or it refers to one)"
    # FirewallSynced, the firewall package's stable reasons (firewall/errors.py)
    SyncFailed = "SyncFailed", "the sync stopped on an error with no more specific reason"
    InvalidConfiguration = "InvalidConfiguration", "the sync settings, credentials or anchor rule are unusable"
    DuplicateNames = "DuplicateNames", "the desired state names one firewall object twice: nothing was written"
    Unreachable = "Unreachable", "network, TLS handshake, timeout or HTTP 5xx: retried"
    TLSError = "TLSError", "the firewall's certificate did not verify"
    AuthFailed = "AuthFailed", "the firewall refused the credentials"
    NotActive = "NotActive", "the firewall is an HA peer that is not active: nothing was written"
    Locked = "Locked", "another administrator holds a config or commit lock: retried"
    ForeignPendingChanges = "ForeignPendingChanges", "other administrators have uncommitted changes: nothing written"
    CommitInProgress = "CommitInProgress", "another commit ran past bmlb's patience: retried"
    CommitFailed = "CommitFailed", "the firewall's commit failed (naming this object, where the condition is its own)"
    DeviceRefused = "DeviceRefused", "the firewall refused this object; it is set aside, the rest is in sync"
    # ECMPMatches (a Firewall in routed mode)
    Matches = "Matches", "ECMPMatches=True: the virtual router uses routing.ecmp.maxPaths paths"
    Mismatch = "Mismatch", "ECMPMatches=False: the virtual router's ECMP setting differs from maxPaths"
    NoVirtualRouter = "NoVirtualRouter", "ECMPMatches=False: no such virtual router on the firewall"
    Unreadable = "Unreadable", "ECMPMatches=Unknown: the virtual router's settings could not be read"


def table() -> str:
    """The README table of every reason, in declaration order."""
    rows = ["| reason | kind | meaning |", "|---|---|---|"]
    for enum_ in (Code, Reason):
        kind = "problem" if enum_ is Code else "condition"
        rows += [f"| `{m.value}` | {kind} | {m.doc} |" for m in enum_]
    return "\n".join(rows) + "\n"
