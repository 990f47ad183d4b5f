"""The kinds bmlb reads: one table of group, version, plural, scope and Snapshot field.

Every watch, list, status write, offline identity check and snapshot slot derives from this
table; tests check it against the CRD files and the Snapshot's fields.
"""

from __future__ import annotations

from dataclasses import dataclass

from controller.core.specs import GROUP, VERSION


@dataclass(frozen=True, slots=True)
class Kind:
    kind: str
    group: str  # "" for the core API group
    version: str
    plural: str
    namespaced: bool
    field: str  # the Snapshot attribute holding objects of this kind

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def ours(self) -> bool:
        """A bmlb.io custom resource (as opposed to a built-in kind bmlb reads)."""
        return self.group == GROUP


SERVICE = Kind("Service", "", "v1", "services", True, "services")
ENDPOINT_SLICE = Kind("EndpointSlice", "discovery.k8s.io", "v1", "endpointslices", True, "endpoint_slices")
NODE = Kind("Node", "", "v1", "nodes", False, "nodes")
VIPPOOL = Kind("VIPPool", GROUP, VERSION, "vippools", False, "pools")
SECURITY_POLICY = Kind("SecurityPolicy", GROUP, VERSION, "securitypolicies", True, "policies")
NAT_RULE = Kind("NATRule", GROUP, VERSION, "natrules", True, "nat_rules")
FIREWALL = Kind("Firewall", GROUP, VERSION, "firewalls", False, "firewalls")
LEASE = Kind("Lease", "coordination.k8s.io", "v1", "leases", True, "leases")

#: In Snapshot order.
ALL: tuple[Kind, ...] = (SERVICE, ENDPOINT_SLICE, NODE, VIPPOOL, SECURITY_POLICY, NAT_RULE, FIREWALL, LEASE)
BY_NAME: dict[str, Kind] = {k.kind: k for k in ALL}
NAMES: tuple[str, ...] = tuple(k.kind for k in ALL)
#: kind name -> Snapshot field
FIELD: dict[str, str] = {k.kind: k.field for k in ALL}
#: bmlb's own custom resources
CUSTOM: tuple[Kind, ...] = tuple(k for k in ALL if k.ours)
#: kind name -> plural, for bmlb's own custom resources
PLURAL: dict[str, str] = {k.kind: k.plural for k in CUSTOM}
#: the built-in kinds bmlb reads, by name
BUILTIN: dict[str, Kind] = {k.kind: k for k in ALL if not k.ours}
#: the kinds the node agent watches (what one node's IPVS table depends on)
AGENT: tuple[Kind, ...] = (SERVICE, ENDPOINT_SLICE, NODE, VIPPOOL)
