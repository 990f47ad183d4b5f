"""The CRDs teach the API: every field described, printer columns, short names, category."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

CRDS = sorted((Path(__file__).resolve().parents[2] / "crds").glob("*.yaml"))


def _walk(node: dict[str, Any], path: str) -> list[str]:
    missing = []
    for name, sub in (node.get("properties") or {}).items():
        here = f"{path}.{name}"
        if name != "metadata" and not sub.get("description"):
            missing.append(here)
        missing += _walk(sub, here)
    if isinstance(node.get("items"), dict):
        missing += _walk(node["items"], path + "[]")
    return missing


@pytest.mark.parametrize("path", CRDS, ids=[p.stem for p in CRDS])
def test_crd_is_complete(path: Path) -> None:
    crd = yaml.safe_load(path.read_text())
    spec = crd["spec"]
    assert spec["group"] == "bmlb.io"
    assert "bmlb" in spec["names"]["categories"] and spec["names"]["shortNames"]
    (version,) = spec["versions"]
    assert version["name"] == "v1alpha1" and version["subresources"] == {"status": {}}
    assert any(c["name"] == "Ready" for c in version["additionalPrinterColumns"])
    schema = version["schema"]["openAPIV3Schema"]
    assert _walk(schema, spec["names"]["kind"]) == [], "every field needs a description for kubectl explain"
    assert "conditions" in schema["properties"]["status"]["properties"]


def test_natrule_printer_columns() -> None:
    crd = yaml.safe_load((CRDS[0].parent / "natrule.yaml").read_text())
    cols = [c["name"] for c in crd["spec"]["versions"][0]["additionalPrinterColumns"]]
    assert cols[:4] == ["Service", "Public", "VIP", "Ready"] and "Age" in cols
