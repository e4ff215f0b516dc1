"""The record types every engine and surface shares.

One `Finding` type serves every engine so that the store, the policy, the reports
and the console never need to know which engine spoke. Records are plain frozen
dataclasses: cheap to build in hot loops, trivially serialisable, and free of any
ORM so engines stay independent of the store.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import IntEnum, StrEnum
from typing import Any


class Severity(IntEnum):
    """Ordered so that policy thresholds are a plain comparison."""

    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @classmethod
    def parse(cls, value: str | int | Severity) -> Severity:
        if isinstance(value, Severity):
            return value
        if isinstance(value, int):
            return cls(value)
        try:
            return cls[value.strip().upper()]
        except KeyError:
            names = ", ".join(s.name.lower() for s in cls)
            raise ValueError(f"unknown severity {value!r} (expected one of: {names})") from None

    @property
    def label(self) -> str:
        return self.name.lower()


class AssetKind(StrEnum):
    MODEL = "model"
    DATASET = "dataset"
    NOTEBOOK = "notebook"
    PROMPT = "prompt"
    CONFIG = "config"
    VECTOR_STORE = "vector_store"
    ENDPOINT = "endpoint"
    SECRETS = "secrets"
    COMPONENT = "component"
    OTHER = "other"


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Location:
    """Where inside an asset a finding sits.

    `pointer` carries whatever addresses the spot in that format: a notebook cell
    (`cells/3/outputs/0`), a table column (`column:email`), a pickle opcode offset
    (`offset:1043`), a JSON pointer or an archive member.
    """

    path: str
    line: int | None = None
    column: int | None = None
    end_line: int | None = None
    end_column: int | None = None
    pointer: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Location:
        return cls(**data)


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing an engine found, in the vocabulary all surfaces share.

    `evidence` must never hold a raw sensitive value: engines mask it before the
    finding is built (see `bastion.core.redact`). `controls` are catalog
    references such as ``owasp-llm:LLM02`` or ``atlas:AML.T0010``.
    """

    rule_id: str
    title: str
    severity: Severity
    asset_uri: str
    location: Location
    scanner: str
    confidence: float = 1.0
    evidence: str = ""
    remediation: str = ""
    controls: tuple[str, ...] = ()
    properties: dict[str, Any] = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        """Stable identity across rescans, so baselines and dedupe work."""
        loc = self.location
        key = json.dumps(
            [self.rule_id, self.asset_uri, loc.pointer, loc.line, loc.column, self.evidence],
            separators=(",", ":"),
        )
        return hashlib.sha256(key.encode()).hexdigest()[:32]

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "title": self.title,
            "severity": self.severity.label,
            "confidence": round(self.confidence, 4),
            "asset_uri": self.asset_uri,
            "location": self.location.to_dict(),
            "scanner": self.scanner,
            "evidence": self.evidence,
            "remediation": self.remediation,
            "controls": list(self.controls),
            "properties": self.properties,
            "fingerprint": self.fingerprint,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        return cls(
            rule_id=data["rule_id"],
            title=data["title"],
            severity=Severity.parse(data["severity"]),
            asset_uri=data["asset_uri"],
            location=Location.from_dict(data["location"]),
            scanner=data["scanner"],
            confidence=float(data.get("confidence", 1.0)),
            evidence=data.get("evidence", ""),
            remediation=data.get("remediation", ""),
            controls=tuple(data.get("controls", ())),
            properties=dict(data.get("properties", {})),
        )


@dataclass(frozen=True, slots=True)
class Rule:
    """A rule a plug-in may emit, declared up front with its control references.

    Declaring rules (rather than inventing ids at emit time) lets `bastion controls`
    and the reports show coverage, and lets a test prove that every rule maps to
    at least one control in the catalog.
    """

    id: str
    title: str
    severity: Severity
    controls: tuple[str, ...]
    remediation: str = ""
    description: str = ""

    def finding(
        self,
        *,
        asset_uri: str,
        location: Location,
        scanner: str,
        evidence: str = "",
        confidence: float = 1.0,
        severity: Severity | None = None,
        title: str | None = None,
        properties: dict[str, Any] | None = None,
    ) -> Finding:
        return Finding(
            rule_id=self.id,
            title=title or self.title,
            severity=self.severity if severity is None else severity,
            asset_uri=asset_uri,
            location=location,
            scanner=scanner,
            confidence=confidence,
            evidence=evidence,
            remediation=self.remediation,
            controls=self.controls,
            properties=properties or {},
        )


@dataclass(slots=True)
class Asset:
    """An AI asset: a model, dataset, notebook, prompt, config, endpoint, ...

    `uri` is the identity within a project (a path relative to the scan root for
    files, a URL for endpoints). `lineage` lists the uris this asset derives from.
    """

    uri: str
    kind: AssetKind
    format: str
    project: str = "default"
    digest: str | None = None
    size: int | None = None
    owner: str | None = None
    framework: str | None = None
    classification: list[str] = field(default_factory=list)
    lineage: list[str] = field(default_factory=list)
    tags: dict[str, Any] = field(default_factory=dict)
    risk: float | None = None
    risk_reasons: list[str] = field(default_factory=list)
    confidence: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["kind"] = self.kind.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Asset:
        data = dict(data)
        data["kind"] = AssetKind(data["kind"])
        return cls(**data)


@dataclass(frozen=True, slots=True)
class Control:
    framework: str
    id: str
    title: str
    url: str | None = None
    kind: str | None = None  # e.g. tactic / technique / mitigation for ATLAS

    @property
    def ref(self) -> str:
        return f"{self.framework}:{self.id}"


@dataclass(frozen=True, slots=True)
class Event:
    """One audit-log entry. `hash` chains it to the previous entry."""

    seq: int
    ts: datetime
    project: str
    kind: str
    actor: str
    subject: str
    data: dict[str, Any]
    prev_hash: str
    hash: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "ts": self.ts.isoformat(),
            "project": self.project,
            "kind": self.kind,
            "actor": self.actor,
            "subject": self.subject,
            "data": self.data,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }
