"""The deploy manifests, rendered from templates/deploy/*.yaml.j2 (`bmlb deploy render`).

`render(values)` returns (file name, YAML text) pairs; deploy/base/ (the kustomize base the
overlays in deploy/overlays/ build on) holds the rendering of DEFAULTS, with a kustomization.yaml
that `write` adds. The bmlb.io CRDs are copied from crds/ at render time, so deploy/ never
drifts from them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import jinja2

from controller.core.resources import crd_texts, templates

SUFFIX = ".j2"
KUSTOMIZATION = "kustomization.yaml"

# The sysctls the agent raises for NAT-mode services (see ipvs/sysctls.py). The agent's own
# container cannot write /proc/sys; the DaemonSet's privileged init step sets these. Add
# net.ipv4.conf.all.arp_ignore=1 and net.ipv4.conf.all.arp_announce=2 for direct routing, and
# net.ipv6.conf.all.forwarding=1 for IPv6 NAT.
SYSCTLS = {
    "net.ipv4.ip_forward": "1",
    "net.ipv4.vs.conntrack": "1",
    "net.ipv4.vs.expire_nodest_conn": "1",
    "net.ipv4.vs.expire_quiescent_template": "1",
}

DEFAULTS: dict[str, Any] = {
    "namespace": "bmlb-system",
    "image": "bmlb:0.1.0",
    "image_pull_policy": "IfNotPresent",
    "replicas": 2,
    "peering": "bmlb",
    # NAME (in `namespace`) or NAMESPACE/NAME; the first one is the sample Firewall's.
    "firewall_secrets": ["firewall-credentials"],
    "health_port": 8080,
    "metrics_port": 9090,
    # The agent runs in the host network: a port unlikely to be taken on a node.
    "agent_health_port": 9801,
    "sysctls": SYSCTLS,
    "samples": True,
}

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_IMAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@-]*$")
_SYSCTL = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_-]+)+$")


def environment() -> jinja2.Environment:
    return templates("deploy", keep_trailing_newline=True)


def bmlb_crds() -> str:
    """The CRDs of crds/, verbatim, as one multi-document YAML text."""
    texts = []
    for text in crd_texts().values():
        text = text.strip()
        texts.append(text.removeprefix("---").lstrip("\n"))
    return "\n---\n".join(texts)


def _secret_refs(secrets: Iterable[str], namespace: str) -> list[tuple[str, str]]:
    refs: list[tuple[str, str]] = []
    for raw in secrets:
        ns, _, name = raw.rpartition("/")
        ns = ns or namespace
        if not _DNS_LABEL.match(ns) or not _DNS_SUBDOMAIN.match(name):
            raise ValueError(f"firewall secret {raw!r}: expected NAME or NAMESPACE/NAME (DNS names)")
        if (ns, name) not in refs:
            refs.append((ns, name))
    if not refs:
        raise ValueError("at least one firewall credentials Secret is needed")
    return refs


def _check(values: Mapping[str, Any]) -> None:
    if not _DNS_LABEL.match(values["namespace"]):
        raise ValueError(f"namespace {values['namespace']!r} is not a DNS label")
    if not _DNS_SUBDOMAIN.match(values["peering"]):
        raise ValueError(f"peering {values['peering']!r} is not a DNS name")
    if not _IMAGE.match(values["image"]):
        raise ValueError(f"image {values['image']!r} is not an image reference")
    if values["image_pull_policy"] not in ("Always", "IfNotPresent", "Never"):
        raise ValueError(f"image_pull_policy {values['image_pull_policy']!r}")
    for key in ("replicas", "health_port", "metrics_port", "agent_health_port"):
        if not isinstance(values[key], int) or values[key] < (1 if key == "replicas" else 1024) or values[key] > 65535:
            raise ValueError(f"{key} {values[key]!r} is out of range")
    for name, value in values["sysctls"].items():
        if not _SYSCTL.match(name) or not re.fullmatch(r"[0-9]+", str(value)):
            raise ValueError(f"sysctl {name}={value!r}: expected a dotted name and a number")


def render(values: Mapping[str, Any] | None = None) -> list[tuple[str, str]]:
    """Render every template with DEFAULTS overridden by `values`: [(file name, YAML text)]."""
    unknown = set(values or {}) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown values: {', '.join(sorted(unknown))}")
    merged = {**DEFAULTS, **(values or {})}
    _check(merged)
    secrets = _secret_refs(merged["firewall_secrets"], merged["namespace"])
    by_namespace: dict[str, list[str]] = {}
    for ns, name in secrets:
        by_namespace.setdefault(ns, []).append(name)
    context = {
        **merged,
        "firewall_secrets": list(by_namespace.items()),
        "sample_secret_namespace": secrets[0][0],
        "sample_secret_name": secrets[0][1],
        "bmlb_crds": bmlb_crds(),
    }
    env = environment()
    out: list[tuple[str, str]] = []
    for template in sorted(env.list_templates(filter_func=lambda n: n.endswith(".yaml" + SUFFIX))):
        name = template.removesuffix(SUFFIX)
        if name.startswith("30-samples") and not merged["samples"]:
            continue
        text = env.get_template(template).render(context)
        out.append((name, text.rstrip("\n") + "\n"))
    return out


def kustomization(names: Iterable[str]) -> str:
    """The kustomization.yaml that makes a folder of rendered files a kustomize base."""
    lines = ["# Written by `bmlb deploy render -o FOLDER`: the rendered files as a kustomize base.",
             "apiVersion: kustomize.config.k8s.io/v1beta1", "kind: Kustomization", "resources:"]
    return "\n".join([*lines, *(f"  - {n}" for n in names)]) + "\n"


def write(rendered: Iterable[tuple[str, str]], folder: Path) -> list[Path]:
    """One file per template in `folder`, plus its kustomization.yaml."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in rendered:
        path = folder / name
        path.write_text(text)
        paths.append(path)
    (folder / KUSTOMIZATION).write_text(kustomization(p.name for p in paths))
    return [*paths, folder / KUSTOMIZATION]


def as_stream(rendered: Iterable[tuple[str, str]]) -> str:
    """One multi-document YAML text, for `kubectl apply -f -`."""
    return "".join(f"---\n# Source: {name}\n{text}" for name, text in rendered)


__all__ = ["DEFAULTS", "KUSTOMIZATION", "SYSCTLS", "as_stream", "bmlb_crds", "kustomization", "render", "write"]
