"""`bmlb validate` on examples/: the estate passes, each mistake fails with its field path."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from controller.cli import main

ROOT = Path(__file__).resolve().parents[2]
INVALID = sorted((ROOT / "examples" / "invalid").glob("*.yaml"))


def _expectation(path: Path) -> tuple[bool, str]:
    first = path.read_bytes().split(b"\n")[0].decode()  # some files are deliberately not UTF-8
    assert first.startswith("# expect: "), f"{path.name} must start with '# expect: ...'"
    want = first.removeprefix("# expect: ")
    if want.startswith("warning "):
        return True, want.removeprefix("warning ")
    return False, want


def test_example_estate_is_valid() -> None:
    result = CliRunner().invoke(main, ["validate", "--strict", "-f", str(ROOT / "examples")])
    assert result.exit_code == 0, result.output
    assert "0 errors, 0 warnings" in result.output


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_each_mistake_is_named(path: Path) -> None:
    warning_only, want = _expectation(path)
    result = CliRunner().invoke(main, ["validate", "-f", str(path)])
    lines = result.output.splitlines()
    hits = [ln for ln in lines if want + ":" in ln]
    assert hits, f"expected a finding for {want!r}, got:\n{result.output}"
    assert all(ln.startswith(f"{path}:") for ln in hits), "every finding names its file and document"
    if warning_only:
        assert result.exit_code == 0 and "warning:" in hits[0]
        strict = CliRunner().invoke(main, ["validate", "--strict", "-f", str(path)])
        assert strict.exit_code == 1
    else:
        assert result.exit_code == 1, result.output
        assert "warning:" not in hits[0]


def test_invalid_examples_cover_every_kind_of_mistake() -> None:
    names = {p.stem for p in INVALID}
    for needed in ("pool-malformed-cidr", "natrule-port-out-of-range", "policy-unknown-protocol", "pools-overlap",
                   "natrule-foreign-namespace", "natrule-service-lacks-port", "natrules-same-public",
                   "service-ip-outside-pools", "service-ip-taken", "policy-rule-name-quote", "policy-zone-xml",
                   "policy-address-ampersand", "natrule-name-with-space", "policy-rule-name-too-long",
                   "policy-selects-nothing", "policy-port-wrong-protocol"):
        assert needed in names


def test_plan_renders_every_output() -> None:
    for out in ("text", "json", "yaml", "panos-set"):
        result = CliRunner().invoke(main, ["plan", "-f", str(ROOT / "examples"), "-o", out])
        assert result.exit_code == 0, result.output
        assert "bmlb-nat_shop_web-https" in result.output


def test_one_bad_object_does_not_stop_the_others(tmp_path: Path) -> None:
    good = (ROOT / "examples").glob("*.yaml")
    bad = ROOT / "examples" / "invalid" / "natrule-port-out-of-range.yaml"
    target = tmp_path / "mixed.yaml"
    target.write_text("\n---\n".join(p.read_text() for p in good))
    bad_copy = tmp_path / "bad.yaml"
    bad_copy.write_text(bad.read_text().replace("name: web,", "name: web-x,").replace(
        "name: public}", "name: public-x}").replace("name: internal}", "name: internal-x}"))
    result = CliRunner().invoke(main, ["plan", "-f", str(target), "-f", str(bad_copy)])
    assert "bmlb-nat_shop_web-https" in result.output
    assert result.exit_code == 1
