from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bastion.core.report_model import ScanReport
from bastion.core.types import Finding, Location, Rule, Severity
from bastion.report import SarifRenderer, to_sarif

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "data" / "sarif-schema-2.1.0.json"
SCHEMA_SHA256 = "c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e"

# RFC 3986 URI-reference, character level: unreserved, reserved, and %XX escapes only.
_URI_CHARS = re.compile(r"^(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")

_checker = jsonschema.FormatChecker()


@_checker.checks("uri-reference")
def _is_uri_reference(value: object) -> bool:
    return isinstance(value, str) and bool(_URI_CHARS.match(value))


@_checker.checks("uri")
def _is_uri(value: object) -> bool:
    return isinstance(value, str) and bool(_URI_CHARS.match(value)) and bool(_SCHEME.match(value))


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    raw = SCHEMA_PATH.read_bytes()
    assert hashlib.sha256(raw).hexdigest() == SCHEMA_SHA256, "vendored SARIF schema was modified"
    data: dict[str, Any] = json.loads(raw)
    return data


def assert_valid(doc: dict[str, Any], schema: dict[str, Any]) -> None:
    for cls in (jsonschema.validators.validator_for(schema), jsonschema.Draft7Validator):
        errors = sorted(cls(schema, format_checker=_checker).iter_errors(doc), key=lambda e: list(e.path))
        assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]


def test_schema_is_the_official_one(schema: dict[str, Any]) -> None:
    assert schema["id"].endswith("/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json")
    assert jsonschema.validators.validator_for(schema) is jsonschema.Draft4Validator


def test_invalid_document_is_rejected(schema: dict[str, Any], sample: ScanReport) -> None:
    # Guards the guard: a validator that accepted anything would make every other test pass.
    doc = to_sarif(sample, {})
    doc["runs"][0]["results"][0]["level"] = "fatal"
    with pytest.raises(AssertionError):
        assert_valid(doc, schema)


def test_sample_report_validates(schema: dict[str, Any], sample: ScanReport, rules: dict[str, Rule]) -> None:
    doc = to_sarif(sample, rules)
    assert_valid(doc, schema)
    assert doc["version"] == "2.1.0"
    (run,) = doc["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "bastion" and driver["version"] == "0.1.0" and driver["informationUri"]
    assert [r["id"] for r in driver["rules"]] == ["data.pii.email", "model.pickle.global"]
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == "file:///srv/repo/"


def test_rules_carry_controls_and_security_severity(sample: ScanReport, rules: dict[str, Rule]) -> None:
    doc = to_sarif(sample, rules)
    by_id = {r["id"]: r for r in doc["runs"][0]["tool"]["driver"]["rules"]}
    pickle = by_id["model.pickle.global"]
    # Aliases are canonicalised: GV-6.1 is cited as GOVERN-6.1.
    assert pickle["properties"]["tags"] == [
        "security",
        "owasp-ml:ML06",
        "atlas:AML.T0010",
        "nist-ai-rmf:GOVERN-6.1",
    ]
    assert float(pickle["properties"]["security-severity"]) >= 9.0
    assert pickle["defaultConfiguration"]["level"] == "error"
    assert pickle["fullDescription"]["text"] == "Loading this file would run code."
    assert pickle["help"]["text"] == "Convert the model to safetensors."
    assert pickle["helpUri"].startswith("https://owasp.org/")
    assert pickle["name"] == "PickleReferencesADangerousCallable"
    pii = by_id["data.pii.email"]
    assert pii["defaultConfiguration"]["level"] == "warning"
    assert 4.0 <= float(pii["properties"]["security-severity"]) < 7.0


def test_results_levels_locations_fingerprints(sample: ScanReport, rules: dict[str, Rule]) -> None:
    doc = to_sarif(sample, rules)
    run = doc["runs"][0]
    rule_ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    results = run["results"]
    assert len(results) == 3
    for res in results:
        assert rule_ids[res["ruleIndex"]] == res["ruleId"]
        assert len(res["partialFingerprints"]["bastion/v1"]) == 32
    critical, medium, low = results  # worst first
    assert (critical["level"], medium["level"], low["level"]) == ("error", "warning", "note")
    # A pointer becomes a logical location, never an invented line.
    phys = critical["locations"][0]["physicalLocation"]
    assert "region" not in phys
    assert phys["artifactLocation"] == {"uri": "models/m.pkl", "uriBaseId": "%SRCROOT%"}
    assert critical["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] == "offset:1043"
    assert medium["locations"][0]["physicalLocation"]["region"] == {
        "startLine": 12,
        "startColumn": 7,
        "endLine": 12,
        "endColumn": 30,
    }
    assert medium["properties"]["confidence"] == 0.87
    assert medium["properties"]["evidence"] == "j***@example.com"
    assert "gdpr:Art.5" in medium["properties"]["controls"]
    # NaN and raw bytes in scanner properties never reach the log as such.
    assert critical["properties"]["details"] == {"opcode": "STACK_GLOBAL", "ratio": "nan", "raw": "<2 bytes>"}


def test_zero_findings(schema: dict[str, Any], report_factory: Callable[..., ScanReport]) -> None:
    doc = to_sarif(report_factory([], decision=None, assets=[]), {})
    assert_valid(doc, schema)
    assert doc["runs"][0]["results"] == [] and doc["runs"][0]["tool"]["driver"]["rules"] == []


def test_errors_become_notifications(schema: dict[str, Any], report_factory: Callable[..., ScanReport]) -> None:
    doc = to_sarif(report_factory([], errors=["walker: permission denied", ""]), {})
    assert_valid(doc, schema)
    inv = doc["runs"][0]["invocations"][0]
    assert inv["executionSuccessful"] is False
    assert [n["message"]["text"] for n in inv["toolExecutionNotifications"]] == [
        "walker: permission denied",
        "unspecified error",
    ]


@pytest.mark.parametrize(
    ("path", "uri", "relative"),
    [
        ("data/a b#1?.csv", "data/a%20b%231%3F.csv", True),
        ("données/ü.parquet", "donn%C3%A9es/%C3%BC.parquet", True),
        ("./x/../y.txt", "x/../y.txt", True),
        ("c:weird/name", "c%3Aweird/name", True),  # would otherwise parse as scheme "c:"
        ("/srv/repo/models/m.pkl", "models/m.pkl", True),  # absolute under root: relativised
        ("/etc/passwd", "file:///etc/passwd", False),
        ("C:\\data\\x.csv", "file:///C:/data/x.csv", False),
        ("https://api.example.com/v1/chat", "https://api.example.com/v1/chat", False),
        ("dir\\sub\\file.txt", "dir/sub/file.txt", True),
        ("100%.txt", "100%25.txt", True),
    ],
)
def test_artifact_uris(
    schema: dict[str, Any], report_factory: Callable[..., ScanReport], path: str, uri: str, relative: bool
) -> None:
    f = Finding(
        rule_id="r",
        title="t",
        severity=Severity.LOW,
        asset_uri=path,
        location=Location(path=path),
        scanner="s",
    )
    doc = to_sarif(report_factory([f]), {})
    assert_valid(doc, schema)
    loc = doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert loc["uri"] == uri
    assert ("uriBaseId" in loc) is relative


def test_unknown_rule_falls_back_to_finding(report_factory: Callable[..., ScanReport]) -> None:
    f = Finding(
        rule_id="x.custom",
        title="Odd thing",
        severity=Severity.HIGH,
        asset_uri="a",
        location=Location(path="a", line=0),  # 0 is not a valid SARIF line: dropped, not emitted
        scanner="s",
        controls=("owasp-llm:llm1", "nonsense:ref"),
    )
    doc = to_sarif(report_factory([f]), {})
    rule = doc["runs"][0]["tool"]["driver"]["rules"][0]
    assert rule["shortDescription"]["text"] == "Odd thing"
    assert rule["properties"]["tags"] == ["security", "owasp-llm:LLM01", "nonsense:ref"]
    assert "region" not in doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]


def test_renderer_writes_file(tmp_path: Path, sample: ScanReport, schema: dict[str, Any]) -> None:
    out = SarifRenderer().render(sample, tmp_path)
    assert out == tmp_path / "report.sarif"
    assert_valid(json.loads(out.read_text("utf-8")), schema)


_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    path=_text.filter(lambda s: s.strip() != ""),
    evidence=_text,
    title=_text.filter(bool),
    line=st.one_of(st.none(), st.integers(-5, 10**6)),
    column=st.one_of(st.none(), st.integers(-5, 500)),
    pointer=st.one_of(st.none(), _text),
    sev=st.sampled_from(list(Severity)),
)
def test_arbitrary_findings_always_validate(
    schema: dict[str, Any],
    report_factory: Callable[..., ScanReport],
    path: str,
    evidence: str,
    title: str,
    line: int | None,
    column: int | None,
    pointer: str | None,
    sev: Severity,
) -> None:
    f = Finding(
        rule_id="prop.rule",
        title=title,
        severity=sev,
        asset_uri=path,
        location=Location(path=path, line=line, column=column, pointer=pointer),
        scanner="prop",
        evidence=evidence,
    )
    doc = to_sarif(report_factory([f], root="/r o/ö"), {})
    assert_valid(doc, schema)
    json.dumps(doc, allow_nan=False)
