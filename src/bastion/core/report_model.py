"""The report model: everything one scan produced, in the shape every renderer reads.

It lives in `core` (not in `bastion.report`) so that the scan service can build a
report without importing any renderer, and a third-party renderer can depend on
the model alone. `to_dict`/`from_dict` define the JSON report format, so they
round-trip exactly: a JSON report can be re-rendered as SARIF or HTML later
without rescanning.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bastion.core.types import Asset, Finding, Severity

REPORT_SCHEMA = "bastion.report/v1"


@dataclass(slots=True)
class ScanReport:
    scan_id: str
    project: str
    root: str
    started_at: datetime
    finished_at: datetime | None
    tool_version: str
    assets: list[Asset] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    decision: dict[str, Any] | None = None
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def summary(self) -> dict[str, Any]:
        """Counts people and gates look at first; derived, so never stored."""
        by_sev = Counter(f.severity for f in self.findings)
        return {
            "total": len(self.findings),
            "assets": len(self.assets),
            "errors": len(self.errors),
            "max_severity": max(by_sev).label if by_sev else None,
            # Every level present, highest first, so consumers need no defaults.
            "by_severity": {s.label: by_sev.get(s, 0) for s in sorted(Severity, reverse=True)},
            "by_scanner": dict(sorted(Counter(f.scanner for f in self.findings).items())),
            "by_rule": dict(sorted(Counter(f.rule_id for f in self.findings).items())),
        }

    @property
    def passed(self) -> bool | None:
        return None if self.decision is None else bool(self.decision.get("passed"))

    def sorted_findings(self) -> list[Finding]:
        """Worst first, then by place, so every renderer lists findings in the same order."""
        return sorted(
            self.findings,
            key=lambda f: (
                -int(f.severity),
                f.asset_uri,
                f.location.line or 0,
                f.location.pointer or "",
                f.rule_id,
                f.fingerprint,
            ),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": REPORT_SCHEMA,
            "scan_id": self.scan_id,
            "project": self.project,
            "root": self.root,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "tool_version": self.tool_version,
            "decision": self.decision,
            "summary": self.summary,
            "stats": self.stats,
            "errors": list(self.errors),
            "assets": [a.to_dict() for a in sorted(self.assets, key=lambda a: a.uri)],
            "findings": [f.to_dict() for f in self.sorted_findings()],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScanReport:
        """Rebuild a report from its JSON form; raises `ValueError` on a malformed one."""
        if not isinstance(data, dict):
            raise ValueError("report must be a JSON object")
        schema = data.get("schema", REPORT_SCHEMA)
        if schema != REPORT_SCHEMA:
            raise ValueError(f"unsupported report schema {schema!r} (expected {REPORT_SCHEMA!r})")
        try:
            finished = data.get("finished_at")
            return cls(
                scan_id=str(data["scan_id"]),
                project=str(data["project"]),
                root=str(data["root"]),
                started_at=datetime.fromisoformat(data["started_at"]),
                finished_at=datetime.fromisoformat(finished) if finished else None,
                tool_version=str(data["tool_version"]),
                assets=[Asset.from_dict(a) for a in data.get("assets", [])],
                # `fingerprint` is derived from the other fields; drop it before rebuilding.
                findings=[
                    Finding.from_dict({k: v for k, v in f.items() if k != "fingerprint"})
                    for f in data.get("findings", [])
                ],
                errors=[str(e) for e in data.get("errors", [])],
                decision=data.get("decision"),
                stats=dict(data.get("stats") or {}),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"malformed report: {type(exc).__name__}: {exc}") from exc
