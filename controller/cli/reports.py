"""`bmlb validate -o FORMAT`: the findings as text, JSON, JUnit XML, SARIF 2.1.0 or GitHub Actions
workflow commands, following kubeconform's and kube-linter's conventions.

Every format is a valid document whatever the strings in the manifests: JSON through json.dumps (ASCII only),
XML through ElementTree with the characters XML 1.0 forbids written as \\xNN, SARIF as JSON, and
GitHub workflow commands with %, CR, LF (and, in properties, ':' and ',') percent-encoded so a
message cannot end its command or start another one.
"""

from __future__ import annotations

import json
import re
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from controller.core.manifests import Document
from controller.core.problems import Severity
from controller.core.validate import Finding

FORMATS = ("text", "json", "junit", "sarif", "github")
TOOL = "bmlb"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"

# Characters XML 1.0 does not allow in a document at all (not even escaped), and surrogates.
# C1 controls (\x7f-\x9f) are allowed but "discouraged" in XML 1.0 and act on terminals: escaped too.
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class Located:
    """A finding with its file, document index and line split out of its origin."""

    finding: Finding
    file: str
    document: int | None

    @property
    def line(self) -> int:
        return self.finding.line

    @property
    def level(self) -> str:
        return "warning" if self.finding.severity is Severity.WARNING else "error"

    @property
    def rule(self) -> str:
        """A stable rule id: where the finding comes from (loading, a document, or a field)."""
        if self.finding.object == "(document)":
            return "load"
        if self.finding.object == "(none)":
            return "empty-input"
        return "warning" if self.finding.severity is Severity.WARNING else "invalid"


def locate(f: Finding) -> Located:
    path, sep, index = f.origin.rpartition(":")
    if sep and index.isdigit():
        return Located(f, path, int(index))
    return Located(f, f.origin, None)


def is_failure(f: Finding, strict: bool) -> bool:
    return f.severity is Severity.ERROR or strict


def summary(docs: Sequence[Document], findings: Sequence[Finding]) -> dict[str, int]:
    errors = sum(1 for f in findings if f.severity is Severity.ERROR)
    return {"objects": len(docs), "errors": errors, "warnings": len(findings) - errors}


def render(fmt: str, findings: Sequence[Finding], docs: Sequence[Document], *, strict: bool = False) -> str:
    if fmt == "text":
        return "".join(f"{f}\n" for f in findings)
    if fmt == "json":
        return as_json(findings, docs, strict=strict)
    if fmt == "junit":
        return junit(findings, docs, strict=strict)
    if fmt == "sarif":
        return sarif(findings, strict=strict)
    if fmt == "github":
        return github(findings, strict=strict)
    raise ValueError(f"unknown format {fmt!r}")


def as_json(findings: Sequence[Finding], docs: Sequence[Document], *, strict: bool = False) -> str:
    out: dict[str, Any] = {
        "findings": [{"file": loc.file, "document": loc.document, "line": loc.line or None,
                      "object": f.object, "path": f.path, "message": f.message, "severity": loc.level}
                     for f in findings for loc in [locate(f)]],
        "summary": {**summary(docs, findings), "failed": any(is_failure(f, strict) for f in findings)},
    }
    return json.dumps(out, indent=2) + "\n"


def xml_text(value: str) -> str:
    """`value` with the characters XML 1.0 forbids written as \\xNN (ElementTree escapes the rest)."""
    return _XML_FORBIDDEN.sub(lambda m: f"\\x{ord(m.group()):02x}", value)


def _object_name(body: dict[str, Any]) -> str:
    meta = body.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    ns, name = meta.get("namespace"), meta.get("name")
    who = f"{ns}/{name}" if ns else f"{name}"
    return f"{body.get('kind', '?')} {who}"


def junit(findings: Sequence[Finding], docs: Sequence[Document], *, strict: bool = False) -> str:
    """One test suite per file, one test case per document (kubeconform's layout); a document's
    errors are its test case's failures, its warnings go to system-out (failures with --strict)."""
    cases: dict[str, dict[str, tuple[str, list[Finding]]]] = {}  # file -> origin -> (name, findings)
    for d in docs:
        cases.setdefault(d.path, {}).setdefault(d.origin, (_object_name(d.body), []))
    for f in findings:
        loc = locate(f)
        case = cases.setdefault(loc.file, {}).setdefault(f.origin, (f.object, []))
        case[1].append(f)
    root = ET.Element("testsuites", name=TOOL)
    total = failed = 0
    for file, by_origin in cases.items():
        suite = ET.SubElement(root, "testsuite", name=xml_text(file))
        n_fail = 0
        for origin, (name, found) in by_origin.items():
            case = ET.SubElement(suite, "testcase", name=xml_text(f"{name} ({origin})"), classname=xml_text(file))
            fails = [f for f in found if is_failure(f, strict)]
            for f in fails:
                ET.SubElement(case, "failure", message=xml_text(f"{f.path}: {f.message}"),
                              type=locate(f).level).text = xml_text(str(f))
            notes = [f for f in found if not is_failure(f, strict)]
            if notes:
                ET.SubElement(case, "system-out").text = xml_text("\n".join(str(f) for f in notes))
            n_fail += bool(fails)
        suite.set("tests", str(len(by_origin)))
        suite.set("failures", str(n_fail))
        suite.set("errors", "0")
        suite.set("skipped", "0")
        total += len(by_origin)
        failed += n_fail
    root.set("tests", str(total))
    root.set("failures", str(failed))
    root.set("errors", "0")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


_RULES = {
    "load": "The input could not be read as Kubernetes manifests (YAML, encoding, duplicate keys).",
    "empty-input": "The input held no Kubernetes object at all.",
    "invalid": "An object breaks the CRD schema or bmlb's cross-object rules.",
    "warning": "An object bmlb accepts, but probably not as meant.",
}


def sarif(findings: Sequence[Finding], *, strict: bool = False) -> str:
    results = []
    for f in findings:
        loc = locate(f)
        physical: dict[str, Any] = {"artifactLocation": {"uri": urllib.parse.quote(loc.file, errors="surrogatepass")}}
        if loc.line:
            physical["region"] = {"startLine": loc.line}
        results.append({
            "ruleId": loc.rule,
            "ruleIndex": list(_RULES).index(loc.rule),
            "level": "error" if is_failure(f, strict) else "warning",
            "message": {"text": f"{f.object}: {f.path}: {f.message}"},
            "locations": [{"physicalLocation": physical,
                           "logicalLocations": [{"name": f.object, "fullyQualifiedName": f"{f.object}/{f.path}"}]}],
        })
    doc = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": TOOL,
                                "rules": [{"id": rid, "shortDescription": {"text": text}}
                                          for rid, text in _RULES.items()]}},
            "results": results,
        }],
    }
    return json.dumps(doc, indent=2) + "\n"


# Characters some reader could take as a line break or a terminal command: written visibly.
_LINE_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")


def visible(value: str) -> str:
    return _LINE_UNSAFE.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                            else f"\\u{ord(m.group()):04x}", value)


def _command_data(value: str) -> str:
    return visible(value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A"))


def _command_property(value: str) -> str:
    return _command_data(value).replace(":", "%3A").replace(",", "%2C")


def github(findings: Sequence[Finding], *, strict: bool = False) -> str:
    """GitHub Actions workflow commands: `::error file=F,line=L,title=T::message`, warnings as
    ::warning (errors with --strict), so each finding marks its line in the pull request."""
    lines = []
    for f in findings:
        loc = locate(f)
        props = [f"file={_command_property(loc.file)}"]
        if loc.line:
            props.append(f"line={loc.line}")
        props.append(f"title={_command_property(f'bmlb validate: {f.object}')}")
        level = "error" if is_failure(f, strict) else "warning"
        lines.append(f"::{level} {','.join(props)}::{_command_data(f'{f.path}: {f.message}')}\n")
    return "".join(lines)
