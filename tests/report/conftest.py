from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bastion.core.report_model import ScanReport
from bastion.core.types import Asset, AssetKind, Finding, Location, Rule, Severity

PICKLE_RULE = Rule(
    id="model.pickle.global",
    title="Pickle references a dangerous callable",
    severity=Severity.CRITICAL,
    controls=("owasp-ml:ML06", "atlas:AML.T0010", "nist-ai-rmf:GV-6.1"),
    remediation="Convert the model to safetensors.",
    description="Loading this file would run code.",
)
PII_RULE = Rule(
    id="data.pii.email",
    title="E-mail addresses in a dataset column",
    severity=Severity.MEDIUM,
    controls=("gdpr:Art.5", "owasp-llm:LLM02"),
)

START = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def make_report(findings: Sequence[Finding] = (), **kw: Any) -> ScanReport:
    base: dict[str, Any] = {
        "scan_id": "scan-0001",
        "project": "demo",
        "root": "/srv/repo",
        "started_at": START,
        "finished_at": START + timedelta(seconds=3),
        "tool_version": "0.1.0",
        "assets": [
            Asset(
                uri="models/m.pkl",
                kind=AssetKind.MODEL,
                format="pickle",
                size=2048,
                digest="sha256:" + "ab" * 32,
            ),
            Asset(uri="data/users.csv", kind=AssetKind.DATASET, format="csv", classification=["pii"]),
        ],
        "findings": list(findings),
        "errors": [],
        "decision": {"passed": False, "threshold": "high", "reasons": ["1 critical finding"]},
    }
    base.update(kw)
    return ScanReport(**base)


def sample_findings() -> list[Finding]:
    return [
        PICKLE_RULE.finding(
            asset_uri="models/m.pkl",
            location=Location(path="models/m.pkl", pointer="offset:1043"),
            scanner="pickle",
            evidence="posix.system",
            properties={"opcode": "STACK_GLOBAL", "ratio": float("nan"), "raw": b"\x80\x04"},
        ),
        PII_RULE.finding(
            asset_uri="data/users.csv",
            location=Location(path="data/users.csv", line=12, column=7, end_line=12, end_column=30),
            scanner="pii",
            evidence="j***@example.com",
            confidence=0.87,
        ),
        PII_RULE.finding(
            asset_uri="data/users.csv",
            location=Location(path="data/users.csv", pointer="column:email"),
            scanner="pii",
            evidence="412 values",
            severity=Severity.LOW,
        ),
    ]


@pytest.fixture
def report_factory() -> Callable[..., ScanReport]:
    return make_report


@pytest.fixture
def sample() -> ScanReport:
    return make_report(sample_findings())


@pytest.fixture
def findings() -> list[Finding]:
    return sample_findings()


@pytest.fixture
def rules() -> dict[str, Rule]:
    return {PICKLE_RULE.id: PICKLE_RULE, PII_RULE.id: PII_RULE}
