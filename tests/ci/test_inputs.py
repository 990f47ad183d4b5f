"""How CI pipelines feed manifests to bmlb: `-f -` (standard input, as from `helm template`), several
`-f`, `-k DIR` (`kubectl kustomize`), with file and line numbers right for multi-document input,
and the exit codes: 0 ok, 1 findings, 2 could not run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from controller.cli import main
from controller.cli.localcluster import ROOT
from controller.core.manifests import parse

KUBECTL_DIR = "/var/cache/bmlb/bin"

POOL = """\
apiVersion: bmlb.io/v1alpha1
kind: VIPPool
metadata:
  name: vips
spec:
  addresses: [10.80.0.0/28]
  zone: k8s
"""

# What `helm template` prints: comments naming each template, documents of other kinds, one bad NATRule.
HELM_OUTPUT = f"""\
---
# Source: shop/templates/pool.yaml
{POOL}---
# Source: shop/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
---
# Source: shop/templates/nat.yaml
apiVersion: bmlb.io/v1alpha1
kind: NATRule
metadata:
  name: web
  namespace: shop
spec:
  service: {{name: web, port: 443}}
  public: {{address: 198.51.100.7}}
  from: {{zones: [untrust]}}
"""
NAT_LINE = HELM_OUTPUT.splitlines().index("kind: NATRule")  # 0-based index of the line after apiVersion


def validate(*args: str, stdin: bytes | str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["validate", *args], input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_stdin_multi_document_file_and_line_numbers() -> None:
    code, out, err = validate("-f", "-", "-o", "json", stdin=HELM_OUTPUT)
    assert code == 1, out + err
    findings = json.loads(out)["findings"]
    assert findings and {f["file"] for f in findings} == {"stdin"}
    assert {f["document"] for f in findings} == {2}  # 0: pool, 1: Deployment, 2: NATRule
    # The document starts at its apiVersion line (1-based): the line before `kind: NATRule`.
    assert {f["line"] for f in findings} == {NAT_LINE}
    assert HELM_OUTPUT.splitlines()[NAT_LINE - 1] == "apiVersion: bmlb.io/v1alpha1"
    assert "spec.public.address" in {f["path"] for f in findings}
    code, out, _ = validate("-f", "-", stdin=HELM_OUTPUT)
    assert code == 1 and "stdin:2: NATRule shop/web: spec.public.address: 198.51.100.7" in out


def test_stdin_clean_render_passes_and_empty_render_fails() -> None:
    assert validate("-f", "-", stdin=POOL)[0] == 0
    code, out, _ = validate("-f", "-", stdin="# helm rendered nothing\n")
    assert code == 1 and "no Kubernetes objects" in out


def test_stdin_keeps_the_loader_strict() -> None:
    code, out, _ = validate("-f", "-", "-o", "json", stdin=POOL + "---\na: 1\nb: 2\na: 3\n")
    assert code == 1
    (f,) = json.loads(out)["findings"]
    assert (f["file"], f["document"], f["line"]) == ("stdin", 1, 11) and "duplicate key 'a'" in f["message"]
    code, out, _ = validate("-f", "-", stdin=b"\x89PNG\r\n\x1a\n\x00\x00")
    assert code == 1 and "stdin:0: (document): (root): binary data" in out


def test_several_files_and_stdin_together(tmp_path: Path) -> None:
    (tmp_path / "pool.yaml").write_text(POOL)
    nat = HELM_OUTPUT.split("---\n")[-1]
    (tmp_path / "nat.yaml").write_text("# a comment first\n\n" + nat)
    code, out, _ = validate("-f", str(tmp_path / "pool.yaml"), "-f", "-", "-f", str(tmp_path / "nat.yaml"),
                            "-o", "json", stdin=POOL.replace("vips", "more").replace("10.80.", "10.81."))
    assert code == 1
    findings = json.loads(out)["findings"]
    assert {(f["file"], f["document"], f["line"]) for f in findings} == {(str(tmp_path / "nat.yaml"), 0, 4)}


def test_document_lines_for_lists_and_separators() -> None:
    text = "---\n# c\napiVersion: v1\nkind: List\nitems:\n- kind: A\n  x: 1\n-   kind: B\n---\n\n---\nkind: C\n"
    docs, errors = parse(text, "s")
    assert not errors
    assert [(d.index, d.line, d.body["kind"]) for d in docs] == [(0, 6, "A"), (0, 8, "B"), (2, 12, "C")]


def _path_with(*dirs: str) -> dict[str, str]:
    return {**os.environ, "PATH": os.pathsep.join(dirs)}


def _kustomization(tmp_path: Path) -> Path:
    base = tmp_path / "base"
    base.mkdir()
    (base / "pool.yaml").write_text(POOL)
    (base / "nat.yaml").write_text(HELM_OUTPUT.split("---\n")[-1])
    (base / "kustomization.yaml").write_text("resources: [pool.yaml, nat.yaml]\n")
    return base


def bmlb(*args: str, env: dict[str, str] | None = None, stdin: str | None = None
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "controller.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          env=env, input=stdin, timeout=120)


@pytest.mark.skipif(not Path(KUBECTL_DIR, "kubectl").exists(), reason="kubectl is cached by tests/setup.sh")
def test_kustomize_renders_with_kubectl(tmp_path: Path) -> None:
    base = _kustomization(tmp_path)
    env = _path_with(KUBECTL_DIR, "/usr/bin", "/bin")
    done = bmlb("validate", "-k", str(base), "-o", "json", env=env)
    assert done.returncode == 1, done.stderr
    findings = json.loads(done.stdout)["findings"]
    assert {f["file"] for f in findings} == {f"kustomize:{base}"}
    assert "2 objects" in done.stderr
    (base / "nat.yaml").unlink()
    (base / "kustomization.yaml").write_text("resources: [pool.yaml]\n")
    assert bmlb("validate", "-k", str(base), env=env).returncode == 0


def test_kustomize_without_kubectl_is_one_clear_line_and_exit_2(tmp_path: Path) -> None:
    base = _kustomization(tmp_path)
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    env = {**_path_with(str(empty)), "PYTHONPATH": str(ROOT)}
    done = bmlb("validate", "-k", str(base), env=env)
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "kubectl is not on PATH" in lines[0] and str(base) in lines[0], done.stderr


@pytest.mark.skipif(not Path(KUBECTL_DIR, "kubectl").exists(), reason="kubectl is cached by tests/setup.sh")
def test_kustomization_that_does_not_build_is_exit_2(tmp_path: Path) -> None:
    base = _kustomization(tmp_path)
    (base / "kustomization.yaml").write_text("resources: [missing.yaml]\n")
    done = bmlb("validate", "-k", str(base), env=_path_with(KUBECTL_DIR, "/usr/bin", "/bin"))
    assert done.returncode == 2 and "kubectl kustomize failed" in done.stderr


def test_could_not_run_is_exit_2(tmp_path: Path) -> None:
    assert validate("-f", str(tmp_path / "missing.yaml"))[0] == 2
    assert validate()[0] == 2  # nothing to read
    assert validate("-f", "-", "-o", "xml", stdin=POOL)[0] == 2


def test_plan_and_audit_read_stdin() -> None:
    done = bmlb("plan", "-f", "-", "-o", "json", stdin=POOL)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["problems"] == []
    # audit reads the manifests from stdin, then stops at the missing Firewall (exit 2), not at '-'.
    done = bmlb("audit", "-f", "-", stdin=POOL)
    assert done.returncode == 2 and "no Firewall object found" in done.stderr, done.stderr


@pytest.mark.skipif(not Path(KUBECTL_DIR, "kubectl").exists(), reason="kubectl is cached by tests/setup.sh")
def test_plan_and_audit_read_kustomizations(tmp_path: Path) -> None:
    base = _kustomization(tmp_path)
    (base / "nat.yaml").unlink()
    (base / "kustomization.yaml").write_text("resources: [pool.yaml]\n")
    env = _path_with(KUBECTL_DIR, "/usr/bin", "/bin")
    done = bmlb("plan", "-k", str(base), "-o", "json", env=env)
    assert done.returncode == 0, done.stderr
    done = bmlb("audit", "-k", str(base), env=env)
    assert done.returncode == 2 and "no Firewall object found" in done.stderr, done.stderr
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    done = bmlb("audit", "-k", str(base), env={**_path_with(str(empty)), "PYTHONPATH": str(ROOT)})
    assert done.returncode == 2 and "kubectl is not on PATH" in done.stderr
