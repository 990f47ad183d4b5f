"""EndpointSlices read once into typed values (the parse stage): the route stage (which nodes hold
a Service's local endpoints) and the data-plane stage (each Service's real servers) read these,
never the raw bodies."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from controller.core.snapshot import Body
from controller.core.specs import SERVICE_NAME_LABEL, Endpoint, EndpointPort

_FAMILIES = {"IPv4": 4, "IPv6": 6}


@dataclass(frozen=True, slots=True)
class Slice:
    namespace: str
    service: str  # its kubernetes.io/service-name label
    family: int | None  # 4 or 6 from addressType; None when it names neither
    ports: tuple[EndpointPort, ...] | None  # None: a port is malformed
    endpoints: tuple[Endpoint | None, ...] | None  # None: not a list; an entry None: that endpoint is malformed

    @property
    def whole(self) -> bool:
        """Every port and endpoint is well-formed (the data plane uses only such slices)."""
        return self.ports is not None and self.endpoints is not None and all(e is not None for e in self.endpoints)


def _endpoint(raw: object) -> Endpoint | None:
    try:
        return Endpoint.model_validate(raw)
    except ValueError:
        return None


def _ports(raw: object) -> tuple[EndpointPort, ...] | None:
    if not raw:
        return ()
    if not isinstance(raw, list):
        return None
    try:
        return tuple(EndpointPort.model_validate(p) for p in raw)
    except ValueError:
        return None


def parse_slices(bodies: Iterable[Body]) -> tuple[Slice, ...]:
    """The slices that name their Service, typed; the others (no service-name label) left out."""
    out: list[Slice] = []
    for body in bodies:
        meta = body.get("metadata") if isinstance(body, Mapping) else None
        labels = meta.get("labels") if isinstance(meta, Mapping) else None
        svc = labels.get(SERVICE_NAME_LABEL) if isinstance(labels, Mapping) else None
        if not isinstance(svc, str) or not svc or not isinstance(meta, Mapping):
            continue
        raw = body.get("endpoints")
        endpoints = tuple(_endpoint(e) for e in raw) if isinstance(raw, list) else None if raw else ()
        out.append(Slice(str(meta.get("namespace") or ""), svc, _FAMILIES.get(str(body.get("addressType"))),
                         _ports(body.get("ports")), endpoints))
    return tuple(out)
