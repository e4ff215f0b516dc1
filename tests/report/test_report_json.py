from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bastion.core.report_model import REPORT_SCHEMA, ScanReport
from bastion.core.types import Finding, Location, Severity
from bastion.report import JsonRenderer, load_json, to_json


def _roundtrip(report: ScanReport) -> ScanReport:
    return ScanReport.from_dict(json.loads(to_json(report)))


def test_round_trip_is_exact(sample: ScanReport) -> None:
    again = _roundtrip(sample)
    # NaN/bytes in properties are normalised on the way out, so compare the JSON forms.
    assert to_json(again) == to_json(sample)
    assert {f.fingerprint for f in again.findings} == {f.fingerprint for f in sample.findings}
    assert again.assets == sorted(sample.assets, key=lambda a: a.uri)
    assert again.decision == sample.decision
    assert again.started_at == sample.started_at and again.finished_at == sample.finished_at


def test_output_is_strict_json_with_fixed_key_order(sample: ScanReport) -> None:
    text = to_json(sample)
    data = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    assert list(data)[:4] == ["schema", "scan_id", "project", "root"]
    assert data["schema"] == REPORT_SCHEMA
    assert to_json(sample) == text  # deterministic
    # Findings are ordered worst first, independent of input order.
    shuffled = ScanReport.from_dict(data)
    shuffled.findings.reverse()
    assert to_json(shuffled) == text


def test_summary_counts(sample: ScanReport) -> None:
    s = sample.summary
    assert s["total"] == 3 and s["max_severity"] == "critical"
    assert s["by_severity"] == {"critical": 1, "high": 0, "medium": 1, "low": 1, "info": 0}
    assert s["by_scanner"] == {"pickle": 1, "pii": 2}
    assert s["by_rule"] == {"data.pii.email": 2, "model.pickle.global": 1}


def test_empty_report(report_factory: Callable[..., ScanReport]) -> None:
    empty = report_factory([], assets=[], decision=None, finished_at=None)
    assert empty.summary["max_severity"] is None and empty.summary["total"] == 0
    again = _roundtrip(empty)
    assert again.findings == [] and again.assets == [] and again.decision is None and again.finished_at is None
    assert again.passed is None


def test_renderer_and_loader(tmp_path: Path, sample: ScanReport) -> None:
    out = JsonRenderer().render(sample, tmp_path / "sub dir" / "r.json")
    assert out.name == "r.json" and out.exists()
    assert to_json(load_json(out)) == to_json(sample)
    assert not list(out.parent.glob(".*.tmp")), "temporary file left behind"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "not a JSON report"),
        ('{"schema": "bastion.report/v1", "scan_id": "x"', "not a JSON report"),  # truncated
        ("[1, 2]", "JSON object"),
        ('{"schema": "other/v9"}', "unsupported report schema"),
        ('{"schema": "bastion.report/v1"}', "malformed report"),
    ],
)
def test_load_rejects_bad_input(tmp_path: Path, text: str, needle: str) -> None:
    p = tmp_path / "bad.json"
    p.write_text(text, "utf-8")
    with pytest.raises(ValueError, match=needle) as info:
        load_json(p)
    assert str(p) in str(info.value)


def test_load_rejects_binary(tmp_path: Path) -> None:
    p = tmp_path / "bin.json"
    p.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ValueError):
        load_json(p)


_MUTATIONS: list[tuple[str, Any]] = [
    ("started_at", 12),
    ("started_at", "yesterday"),
    ("findings", 5),
    ("findings", [{"rule_id": "x"}]),
    ("findings", [None]),
    ("assets", [{"uri": "a", "kind": "spaceship", "format": "x"}]),
    ("assets", ["nope"]),
]


@pytest.mark.parametrize(("key", "value"), _MUTATIONS)
def test_from_dict_malformed_fields_raise_value_error(sample: ScanReport, key: str, value: Any) -> None:
    data = json.loads(to_json(sample))
    data[key] = value
    with pytest.raises(ValueError):
        ScanReport.from_dict(data)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.dictionaries(
        st.sampled_from(["schema", "scan_id", "project", "root", "started_at", "findings", "assets", "decision"]),
        st.one_of(st.none(), st.integers(), st.text(max_size=20), st.lists(st.integers(), max_size=3)),
    )
)
def test_from_dict_never_raises_other_errors(data: dict[str, Any]) -> None:
    with contextlib.suppress(ValueError):
        ScanReport.from_dict(data)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    title=st.text(max_size=30),
    evidence=st.text(max_size=30),
    path=st.text(max_size=30),
    confidence=st.floats(0, 1),
    props=st.dictionaries(st.text(max_size=5), st.one_of(st.integers(), st.text(max_size=5), st.booleans())),
)
def test_round_trip_property(
    report_factory: Callable[..., ScanReport],
    title: str,
    evidence: str,
    path: str,
    confidence: float,
    props: dict[str, Any],
) -> None:
    f = Finding(
        rule_id="r.x",
        title=title,
        severity=Severity.HIGH,
        asset_uri=path,
        location=Location(path=path, line=3),
        scanner="s",
        confidence=confidence,
        evidence=evidence,
        properties=props,
    )
    report = report_factory([f])
    again = _roundtrip(report)
    assert again.findings[0].fingerprint == f.fingerprint
    assert again.findings[0].properties == props
    assert to_json(again) == to_json(report)
