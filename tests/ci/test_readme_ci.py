"""README "For CI pipelines": every command line of its shell block, its GitHub Actions and GitLab CI
snippets, and the pre-commit hook (.pre-commit-hooks.yaml with the README's args) runs on a
workspace laid out as they expect (manifests/, chart/, overlays/prod, running-config.xml), and
exits as the README says. The commands are read from README.md, so a README edit that breaks one
fails here.

helm is not installed on this machine: where it is missing, `helm template shop ./chart` is
replaced by a reading of the chart's templates in helm's own output layout (`---` and `# Source:`
before each document); the chart has no template directives, so helm would print the same.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from controller.cli.changes import sync_config
from controller.cli.localcluster import ROOT
from controller.cli.manifest_files import load
from controller.core.compiler import compile
from controller.core.snapshot import Snapshot
from firewall import sync
from firewall.device import Credentials, Endpoint, connect
from firewall.sim import Simulator

SECTION = re.compile(r"^## For CI pipelines\n(.*?)^## ", re.S | re.M)
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)
KUBECTL_DIRS = ["/var/cache/bmlb/bin", "/usr/local/bin", "/usr/bin"]
HELM = "helm template shop ./chart"


def blocks() -> list[tuple[str, str]]:
    m = SECTION.search((ROOT / "README.md").read_text())
    assert m, "README has no 'For CI pipelines' section"
    return BLOCK.findall(m.group(1))


def shell_commands() -> list[str]:
    (sh,) = [body for lang, body in blocks() if lang == "sh"]
    return [line.split("  #")[0].strip() for line in sh.splitlines() if line.strip()]


def github_commands() -> list[str]:
    (wf,) = [yaml.safe_load(body) for lang, body in blocks() if lang == "yaml" and "runs-on:" in body]
    steps = [s for job in wf["jobs"].values() for s in job["steps"]]
    return [s["run"] for s in steps if "run" in s and not s["run"].startswith("pip install")]


def gitlab_commands() -> list[str]:
    (ci,) = [yaml.safe_load(body) for lang, body in blocks() if lang == "yaml" and "script:" in body]
    return [line for job in ci.values() if isinstance(job, dict) for line in job.get("script", [])]


def precommit_command() -> list[str]:
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    (config,) = [yaml.safe_load(body) for lang, body in blocks() if lang == "yaml" and "repos:" in body]
    (used,) = [h for r in config["repos"] for h in r["hooks"] if h["id"] == hook["id"]]
    assert hook["pass_filenames"] is False and hook["language"] == "python"
    return [*shlex.split(hook["entry"]), *used.get("args", [])]


def _helm_output(chart: Path) -> str:
    out = []
    for f in sorted((chart / "templates").glob("*.yaml")):
        out.append(f"---\n# Source: shop/templates/{f.name}\n{f.read_text()}")
    return "".join(out)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ws = tmp_path_factory.mktemp("repo")
    examples = sorted((ROOT / "examples").glob("*.yaml"))
    (ws / "manifests").mkdir()
    (ws / "chart" / "templates").mkdir(parents=True)
    (ws / "chart" / "Chart.yaml").write_text("apiVersion: v2\nname: shop\nversion: 0.1.0\n")
    (ws / "base").mkdir()
    for f in examples:
        for where in ("manifests", "chart/templates", "base"):
            shutil.copy(f, ws / where / f.name)
    (ws / "base" / "kustomization.yaml").write_text(yaml.safe_dump({"resources": [f.name for f in examples]}))
    (ws / "overlays" / "prod").mkdir(parents=True)
    (ws / "overlays" / "prod" / "kustomization.yaml").write_text("resources: [../../base]\n")
    if shutil.which("helm") is None:
        (ws / "helm-output.yaml").write_text(_helm_output(ws / "chart"))
    # The firewall's running config, exported after bmlb synced the manifests to it.
    docs, errors = load([ws / "manifests"])
    assert not errors
    compiled = compile(Snapshot.of(d.body for d in docs))
    (target,) = [t for t in compiled.firewalls if t.spec is not None]
    with Simulator.start(commit_seconds=0.05) as sim:
        device = connect(Endpoint(sim.host, sim.port, ca_bundle=sim.ca_file), Credentials(api_key=sim.api_key()))
        config = dataclasses.replace(sync_config(target.spec, target.desired.ownership_tag), admin="admin")
        assert sync.sync(target.desired, device, config=config).ok
        sim.wait_for_jobs()
        (ws / "running-config.xml").write_text(sim.running_xml())
    return ws


def run(command: str, ws: Path) -> subprocess.CompletedProcess[str]:
    if shutil.which("helm") is None and command.startswith(HELM):
        command = "cat helm-output.yaml" + command[len(HELM):]
    path = os.pathsep.join([str(Path(sys.executable).parent), *KUBECTL_DIRS, "/bin"])
    env = {**os.environ, "PATH": path, "PYTHONPATH": str(ROOT)}
    return subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=ws, env=env, capture_output=True, text=True,
                          timeout=300)


def test_readme_shows_the_three_ways() -> None:
    commands = shell_commands()
    assert any(c.startswith("helm template") and c.endswith("| bmlb validate -f -") for c in commands)
    assert any(" -k " in c for c in commands)
    assert any("--against running-config.xml" in c for c in commands)
    assert any("-o github" in c for c in github_commands()) and any("-o junit" in c for c in gitlab_commands())


@pytest.mark.parametrize("source", ["sh", "github", "gitlab"])
def test_every_readme_command_runs(workspace: Path, source: str) -> None:
    commands = {"sh": shell_commands, "github": github_commands, "gitlab": gitlab_commands}[source]()
    assert commands
    for command in commands:
        done = run(command, workspace)
        assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    if source == "gitlab":
        assert (workspace / "bmlb-junit.xml").read_text().startswith("<?xml")
        assert (workspace / "changes.set").read_text() == ""  # the device already holds the manifests


BROKEN = """\
apiVersion: bmlb.io/v1alpha1
kind: NATRule
metadata: {name: broken, namespace: shop}
spec:
  service: {name: web, port: 443}
"""


def test_readme_commands_fail_on_a_broken_manifest(workspace: Path, tmp_path: Path) -> None:
    broken = tmp_path / "ws"
    shutil.copytree(workspace, broken)
    for f in (broken / "manifests", broken / "chart" / "templates", broken / "base"):
        (f / "99-broken.yaml").write_text(BROKEN)
    kustomization = broken / "base" / "kustomization.yaml"
    resources = yaml.safe_load(kustomization.read_text())["resources"]
    kustomization.write_text(yaml.safe_dump({"resources": [*resources, "99-broken.yaml"]}))
    if (broken / "helm-output.yaml").exists():
        (broken / "helm-output.yaml").write_text(_helm_output(broken / "chart"))
    for command in [c for c in shell_commands() + github_commands() if "bmlb validate" in c]:
        done = run(command, broken)
        assert done.returncode == 1, f"{command}\n{done.stdout}\n{done.stderr}"
    gh = run("bmlb validate -f manifests/ -o github", broken)
    assert "::error file=manifests/99-broken.yaml,line=" in gh.stdout


def test_precommit_hook(workspace: Path, tmp_path: Path) -> None:
    command = shlex.join(precommit_command())
    assert run(command, workspace).returncode == 0
    broken = tmp_path / "ws"
    shutil.copytree(workspace / "manifests", broken / "manifests")
    (broken / "manifests" / "sub").mkdir()
    (broken / "manifests" / "sub" / "bad.yaml").write_text("kind: NATRule\n")
    done = run(command, broken)
    assert done.returncode == 1 and "manifests/sub/bad.yaml" in done.stdout
