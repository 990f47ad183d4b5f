"""Typed views of the Kubernetes objects the compiler reads, parsed at the edge with pydantic.

CR specs are parsed strictly (`extra="forbid"`): the API server already pruned unknown fields,
but offline input (`bmlb plan`/`validate`) has not been through it. Core objects (Service,
EndpointSlice, Node) are parsed leniently: only the fields bmlb uses.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

GROUP = "bmlb.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
LB_CLASS = "bmlb.io/ipvs"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"  # on an EndpointSlice: the Service it serves

ANN_POOL = "bmlb.io/pool"
ANN_IP = "bmlb.io/ip"
ANN_SHARED = "bmlb.io/allow-shared-ip"
ANN_SCHEDULER = "bmlb.io/scheduler"
ANN_FORWARDING = "bmlb.io/forwarding"
ANN_PREFIX = "bmlb.io/"
SERVICE_ANNOTATIONS = frozenset({ANN_POOL, ANN_IP, ANN_SHARED, ANN_SCHEDULER, ANN_FORWARDING})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class Meta(_Lenient):
    name: str = ""
    namespace: str = ""
    uid: str = ""
    generation: int = 0
    resource_version: str = Field("", alias="resourceVersion")
    creation_timestamp: str = Field("", alias="creationTimestamp")
    deletion_timestamp: str | None = Field(None, alias="deletionTimestamp")
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


# --- bmlb.io CRDs ---------------------------------------------------------------------------


class VIPPoolSpec(_Strict):
    addresses: list[str]
    zone: str
    purpose: Literal["Service", "Public"] = "Service"
    auto_assign: bool = Field(True, alias="autoAssign")
    avoid_buggy_ips: bool = Field(False, alias="avoidBuggyIPs")
    namespaces: list[str] = Field(default_factory=list)


class Selector(_Strict):
    match_labels: dict[str, str] = Field(default_factory=dict, alias="matchLabels")


class ServiceSelection(_Strict):
    names: list[str] = Field(default_factory=list)
    selector: Selector | None = None


class Source(_Strict):
    zones: list[str]
    addresses: list[str] = Field(default_factory=list)


class PortRef(_Strict):
    port: int | None = None
    name: str | None = None
    protocol: Literal["TCP", "UDP", "SCTP"] = "TCP"


class Log(_Strict):
    start: bool = False
    end: bool = True
    profile: str | None = None


class PolicyRule(_Strict):
    name: str
    from_: Source = Field(alias="from")
    action: Literal["allow", "deny", "drop", "reset-client"] = "allow"
    ports: list[PortRef] = Field(default_factory=list)
    applications: list[str] = Field(default_factory=list)
    log: Log = Field(default_factory=Log)
    disabled: bool = False


class SecurityPolicySpec(_Strict):
    services: ServiceSelection
    rules: list[PolicyRule]
    firewall: str | None = None


_PORT_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")  # a Service port's name is a DNS label


def _service_port(value: object) -> object:
    """A Service port by number or by name, as the CRD checks it: "" would match a Service's
    unnamed port, and true would be port 1. 80.0 is 80, as the API server reads it."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535:
        return value
    if isinstance(value, str) and len(value) <= 63 and _PORT_NAME.match(value):
        return value
    raise PydanticCustomError("service_port", "give a Service port number (1-65535) or port name (a DNS label of "
                              "lowercase letters, digits and '-', at most 63 characters), not {got}",
                              {"got": repr(value)[:70]})


class NatService(_Strict):
    name: str
    port: Annotated[int | str, BeforeValidator(_service_port)]
    namespace: str | None = None
    protocol: Literal["TCP", "UDP", "SCTP"] = "TCP"


class NatPublic(_Strict):
    address: str | None = None
    pool: str | None = None
    port: int | None = None
    zone: str | None = None


class NATRuleSpec(_Strict):
    service: NatService
    public: NatPublic
    from_: Source = Field(alias="from")
    firewall: str | None = None
    disabled: bool = False


class SecretRef(_Strict):
    name: str
    namespace: str


class Placement(_Strict):
    position: Literal["top", "bottom", "before", "after"] = "bottom"
    rule: str | None = None


class CommitPolicy(_Strict):
    debounce_seconds: float = Field(2.0, alias="debounceSeconds")
    commit_foreign_pending: bool = Field(False, alias="commitForeignPending")


class Ecmp(_Strict):
    max_paths: int = Field(2, alias="maxPaths", ge=1, le=4)


class PathMonitorSpec(_Strict):
    enabled: bool = True
    interval_seconds: int = Field(3, alias="intervalSeconds", ge=1, le=60)
    count: int = Field(5, ge=3, le=10)
    hold_time_minutes: int = Field(2, alias="holdTimeMinutes", ge=0, le=1440)
    max_monitored_routes: int = Field(128, alias="maxMonitoredRoutes", ge=1, le=4096)
    source: str | None = Field(None, pattern=r"^[0-9A-Fa-f:.]{2,45}/[0-9]{1,3}$")


class Routing(_Strict):
    mode: Literal["routed", "none"] = "routed"
    virtual_router: str = Field("default", alias="virtualRouter")
    ecmp: Ecmp = Field(default_factory=Ecmp)
    metric: int = 10
    split: Literal[1, 2, 4, 8, 16, 32, 64] = 8
    path_monitor: PathMonitorSpec = Field(default_factory=PathMonitorSpec, alias="pathMonitor")


class FirewallSpec(_Strict):
    host: str
    credentials_secret: SecretRef = Field(alias="credentialsSecret")
    port: int = 443
    namespaces: list[str] = Field(default_factory=list)
    type: Literal["firewall", "panorama"] = "firewall"
    vsys: str = "vsys1"
    device_group: str | None = Field(None, alias="deviceGroup")
    rulebase: Literal["pre", "post"] = "pre"
    ca_bundle: str | None = Field(None, alias="caBundle")
    insecure_skip_tls_verify: bool = Field(False, alias="insecureSkipTLSVerify")
    ownership_tag: str = Field("bmlb-managed", alias="ownershipTag")
    admin: str | None = None
    placement: Placement = Field(default_factory=Placement)
    commit: CommitPolicy = Field(default_factory=CommitPolicy)
    drift: Literal["report", "enforce"] = "enforce"
    resync_seconds: int = Field(300, alias="resyncSeconds")
    routing: Routing = Field(default_factory=Routing)


# --- core objects (lenient) -----------------------------------------------------------------


class ServicePort(_Lenient):
    port: int = Field(ge=1, le=65535)
    name: str = ""
    protocol: Literal["TCP", "UDP", "SCTP"] = "TCP"
    target_port: int | str | None = Field(None, alias="targetPort")


class ClientIPConfig(_Lenient):
    timeout_seconds: int = Field(10800, alias="timeoutSeconds")


class AffinityConfig(_Lenient):
    client_ip: ClientIPConfig = Field(default_factory=ClientIPConfig, alias="clientIP")


class ServiceSpec(_Lenient):
    type: str = "ClusterIP"
    ports: list[ServicePort] = Field(default_factory=list)
    load_balancer_class: str | None = Field(None, alias="loadBalancerClass")
    session_affinity: str = Field("None", alias="sessionAffinity")
    session_affinity_config: AffinityConfig = Field(
        default_factory=AffinityConfig, alias="sessionAffinityConfig"
    )
    external_traffic_policy: str = Field("Cluster", alias="externalTrafficPolicy")
    ip_families: list[str] = Field(default_factory=list, alias="ipFamilies")
    ip_family_policy: str | None = Field(None, alias="ipFamilyPolicy")
    selector: dict[str, str] | None = None


class EndpointConditions(_Lenient):
    ready: bool | None = None
    serving: bool | None = None
    terminating: bool | None = None


class Endpoint(_Lenient):
    addresses: list[str]
    conditions: EndpointConditions = Field(default_factory=EndpointConditions)
    node_name: str | None = Field(None, alias="nodeName")

    @property
    def ready(self) -> bool:
        """Takes new connections: not terminating, and not marked unready (an absent `ready`
        counts as ready, as the EndpointSlice API says consumers should read it)."""
        return not self.conditions.terminating and self.conditions.ready is not False


class EndpointPort(_Lenient):
    port: int | None = None
    name: str | None = ""
    protocol: Literal["TCP", "UDP", "SCTP"] = "TCP"


def service_is_ours(body: Mapping[str, Any]) -> bool:
    """A Service bmlb balances: type LoadBalancer with loadBalancerClass bmlb.io/ipvs."""
    spec = body.get("spec")
    return (isinstance(spec, Mapping) and spec.get("type") == "LoadBalancer"
            and spec.get("loadBalancerClass") == LB_CLASS)
