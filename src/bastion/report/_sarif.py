"""SARIF 2.1.0: how findings reach code-scanning dashboards (GitHub, Azure DevOps, IDEs).

Design choices, each for a consumer:
- one run, rules declared once in ``tool.driver.rules`` and referenced by index,
  with control references as ``properties.tags`` so dashboards can filter by
  framework, and ``security-severity`` so GitHub ranks them;
- artifact URIs relative to ``%SRCROOT%`` (declared in ``originalUriBaseIds``),
  percent-encoded, so paths with spaces, ``#`` or non-ASCII stay valid URI
  references and the log is portable between checkouts;
- positions that are not lines (a notebook cell, a table column, a pickle opcode
  offset) become ``logicalLocations`` rather than invented line numbers;
- our fingerprint goes in ``partialFingerprints`` so dashboards track a finding
  across rescans instead of reopening it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from bastion.core.report_model import ScanReport
from bastion.core.types import Finding, Rule
from bastion.report._common import SARIF_LEVEL, SECURITY_SEVERITY, jsonable, target_path, write_atomic

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
INFORMATION_URI = "https://pypi.org/project/bastion-ai/"
SRCROOT = "%SRCROOT%"
FINGERPRINT_KEY = "bastion/v1"

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_WINDOWS_ABS = re.compile(r"^[A-Za-z]:[\\/]")
# Characters left as they are in a URI; everything else is percent-encoded (UTF-8).
_URI_SAFE = "/-._~!$&'()*+,;=:@"


def _utc(ts: datetime) -> str:
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _artifact_location(path: str, root: str) -> dict[str, Any]:
    """A SARIF artifactLocation for a finding path: relative to %SRCROOT% when it can be."""
    if _SCHEME.match(path):  # an endpoint or remote asset: keep its own absolute URI
        return {"uri": quote(path, safe=_URI_SAFE + "?#%[]")}
    posix = path.replace("\\", "/")
    is_abs = posix.startswith("/") or bool(_WINDOWS_ABS.match(path))
    if is_abs and root:
        root_posix = root.replace("\\", "/").rstrip("/")
        if posix == root_posix or posix.startswith(root_posix + "/"):
            posix, is_abs = posix[len(root_posix) :].lstrip("/") or ".", False
    if is_abs:
        if _WINDOWS_ABS.match(posix):
            posix = "/" + posix
        return {"uri": "file://" + quote(posix, safe=_URI_SAFE)}
    parts = [p for p in PurePosixPath(posix).parts if p not in ("", ".")]
    rel = "/".join(parts) or "."
    # A first segment with ':' would read as a URI scheme; quote() with ':' unsafe prevents it.
    first, _, rest = rel.partition("/")
    encoded = quote(first, safe=_URI_SAFE.replace(":", "")) + ("/" + quote(rest, safe=_URI_SAFE) if rest else "")
    return {"uri": encoded, "uriBaseId": SRCROOT}


def _root_uri(root: str) -> str | None:
    if not root:
        return None
    if _SCHEME.match(root):
        return root if root.endswith("/") else root + "/"
    posix = root.replace("\\", "/")
    if _WINDOWS_ABS.match(posix):
        posix = "/" + posix
    elif not posix.startswith("/"):
        posix = Path(root).absolute().as_posix()
    return "file://" + quote(posix.rstrip("/") + "/", safe=_URI_SAFE)


def _rule_name(title: str, rule_id: str) -> str:
    words = re.findall(r"[A-Za-z0-9]+", title) or re.findall(r"[A-Za-z0-9]+", rule_id)
    return "".join(w[:1].upper() + w[1:] for w in words)[:120] or "Rule"


def _canonical_controls(refs: tuple[str, ...] | list[str]) -> tuple[list[str], str | None]:
    """Controls in canonical spelling (unknown ones kept as written) and the first help URL."""
    from bastion.core.controls import catalog

    cat = catalog()
    out: list[str] = []
    help_uri: str | None = None
    for ref in refs:
        control = cat.resolve(ref)
        canonical = control.ref if control else ref
        if canonical not in out:
            out.append(canonical)
        if help_uri is None and control and control.url and control.url.startswith("https://"):
            help_uri = control.url
    return out, help_uri


def _registered_rules() -> dict[str, Rule]:
    """Declared rules from the plug-in registry, best effort: a report must render regardless."""
    rules: dict[str, Rule] = {}
    try:
        from bastion.core.plugins import all_rules

        rules.update(all_rules())
    except Exception:  # a broken plug-in must not stop a report; rules fall back to findings
        pass
    try:
        from bastion.scan._rules import CORE_RULES

        rules.update(CORE_RULES)
    except Exception:  # the scan service may be absent in a minimal install
        pass
    return rules


def _rule_descriptor(rule_id: str, rule: Rule | None, sample: Finding) -> dict[str, Any]:
    title = rule.title if rule else sample.title
    severity = rule.severity if rule else sample.severity
    controls, help_uri = _canonical_controls(rule.controls if rule else sample.controls)
    remediation = rule.remediation if rule else sample.remediation
    descriptor: dict[str, Any] = {
        "id": rule_id,
        "name": _rule_name(title, rule_id),
        "shortDescription": {"text": title},
    }
    if rule and rule.description:
        descriptor["fullDescription"] = {"text": rule.description}
    descriptor["helpUri"] = help_uri or INFORMATION_URI
    if remediation:
        descriptor["help"] = {"text": remediation}
    descriptor["defaultConfiguration"] = {"level": SARIF_LEVEL[severity]}
    descriptor["properties"] = {
        "tags": ["security", *controls],
        "security-severity": f"{SECURITY_SEVERITY[severity]:.1f}",
        "severity": severity.label,
    }
    return descriptor


def _result(finding: Finding, rule_index: int, root: str) -> dict[str, Any]:
    loc = finding.location
    physical: dict[str, Any] = {"artifactLocation": _artifact_location(loc.path or finding.asset_uri, root)}
    if loc.line is not None and loc.line >= 1:
        region: dict[str, Any] = {"startLine": loc.line}
        if loc.column is not None and loc.column >= 1:
            region["startColumn"] = loc.column
        if loc.end_line is not None and loc.end_line >= loc.line:
            region["endLine"] = loc.end_line
            if loc.end_column is not None and loc.end_column >= 1:
                region["endColumn"] = loc.end_column
        physical["region"] = region
    location: dict[str, Any] = {"physicalLocation": physical}
    if loc.pointer:
        location["logicalLocations"] = [{"fullyQualifiedName": loc.pointer, "kind": "element"}]
    controls, _ = _canonical_controls(finding.controls)
    text = finding.title + (f" ({finding.evidence})" if finding.evidence else "")
    result: dict[str, Any] = {
        "ruleId": finding.rule_id,
        "ruleIndex": rule_index,
        "level": SARIF_LEVEL[finding.severity],
        "message": {"text": text},
        "locations": [location],
        "partialFingerprints": {FINGERPRINT_KEY: finding.fingerprint},
        "properties": {
            "severity": finding.severity.label,
            "confidence": round(finding.confidence, 4),
            "controls": controls,
            "evidence": finding.evidence,
            "scanner": finding.scanner,
            "assetUri": finding.asset_uri,
        },
    }
    if finding.properties:
        result["properties"]["details"] = jsonable(finding.properties)
    return result


def to_sarif(report: ScanReport, rules: Mapping[str, Rule] | None = None) -> dict[str, Any]:
    """The SARIF log as a dict (one run)."""
    declared = dict(_registered_rules() if rules is None else rules)
    findings = report.sorted_findings()
    index: dict[str, int] = {}
    descriptors: list[dict[str, Any]] = []
    for f in sorted(findings, key=lambda f: f.rule_id):
        if f.rule_id not in index:
            index[f.rule_id] = len(descriptors)
            descriptors.append(_rule_descriptor(f.rule_id, declared.get(f.rule_id), f))
    invocation: dict[str, Any] = {"executionSuccessful": not report.errors}
    invocation["startTimeUtc"] = _utc(report.started_at)
    if report.finished_at is not None:
        invocation["endTimeUtc"] = _utc(report.finished_at)
    if report.errors:
        invocation["toolExecutionNotifications"] = [
            {"level": "error", "message": {"text": err or "unspecified error"}} for err in report.errors
        ]
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "bastion",
                "version": report.tool_version,
                "semanticVersion": report.tool_version,
                "informationUri": INFORMATION_URI,
                "rules": descriptors,
            }
        },
        "automationDetails": {"id": f"bastion/{report.project}/{report.scan_id}"},
        "invocations": [invocation],
        "results": [_result(f, index[f.rule_id], report.root) for f in findings],
        "columnKind": "unicodeCodePoints",
        "properties": jsonable(
            {
                "project": report.project,
                "scanId": report.scan_id,
                "decision": report.decision,
                "summary": report.summary,
            }
        ),
    }
    root_uri = _root_uri(report.root)
    if root_uri:
        run["originalUriBaseIds"] = {SRCROOT: {"uri": root_uri}}
    return {"$schema": SARIF_SCHEMA_URI, "version": SARIF_VERSION, "runs": [run]}


class SarifRenderer:
    name = "sarif"
    suffix = ".sarif"

    def __init__(self, rules: Mapping[str, Rule] | None = None) -> None:
        self._rules = rules

    def render(self, report: ScanReport, out: Path) -> Path:
        text = json.dumps(to_sarif(report, self._rules), indent=2, ensure_ascii=False, allow_nan=False)
        return write_atomic(target_path(out, self.suffix), text + "\n")


__all__ = ["SARIF_SCHEMA_URI", "SarifRenderer", "to_sarif"]
