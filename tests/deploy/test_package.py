"""What the installed package carries and imports: its CRDs and templates as package data, and
nothing from tests/ (the wheel test in tests/deploy/wheel.sh checks an installed wheel)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from controller.core import resources

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("controller", "firewall", "ipvs")


def _imports(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out.add(node.module)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "import_module" and node.args:
            arg = node.args[0]
            out.add(arg.value if isinstance(arg, ast.Constant) else "<dynamic>")
    return out


@pytest.mark.parametrize("package", PACKAGES)
def test_the_package_never_imports_tests(package: str) -> None:
    for f in sorted((ROOT / package).rglob("*.py")):
        bad = {m for m in _imports(f) if m == "tests" or m.startswith("tests.") or m == "<dynamic>"}
        assert not bad, f"{f.relative_to(ROOT)} imports {bad}"
        assert "sys.path.insert" not in f.read_text(), f"{f.relative_to(ROOT)} edits sys.path"


def test_packaged_crds_and_templates_are_the_top_level_ones() -> None:
    assert resources.crd_texts() == {f.name: f.read_text() for f in sorted((ROOT / "crds").glob("*.yaml"))}
    data = ROOT / "controller" / "data"
    for top in ("crds", "templates"):
        for f in sorted((ROOT / top).rglob("*")):
            if f.is_file():
                assert (data / top / f.relative_to(ROOT / top)).read_bytes() == f.read_bytes(), f


def test_a_missing_resource_is_an_error_not_an_empty_result(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resources, "DATA", "no-such-folder")
    with pytest.raises(resources.ResourceError, match="reinstall bmlb"):
        resources.crd_texts()
    with pytest.raises(resources.ResourceError, match="reinstall bmlb"):
        resources.template_loader("deploy")
