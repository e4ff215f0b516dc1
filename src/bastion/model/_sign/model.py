"""Result types of signing and verification, and their mapping to findings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bastion.core.types import Finding, Location
from bastion.model._sign import rules as R


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason an artifact failed verification; `path` names the file when there is one."""

    rule_id: str
    message: str
    path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"rule_id": self.rule_id, "message": self.message, "path": self.path}

    def finding(self, asset_uri: str) -> Finding:
        rule = R.RULES[self.rule_id]
        return rule.finding(
            asset_uri=asset_uri,
            location=Location(path=asset_uri, pointer=f"file:{self.path}" if self.path else None),
            scanner=R.SCANNER_NAME,
            evidence=self.message[:1000],
            properties={"path": self.path} if self.path else {},
        )


@dataclass(slots=True)
class SignResult:
    model: str
    signature: str
    method: str
    signer: str  # key fingerprint, or certificate subject
    root_digest: str
    files: int
    bytes_hashed: int
    seconds: float
    serialization: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "signature": self.signature,
            "method": self.method,
            "signer": self.signer,
            "root_digest": self.root_digest,
            "files": self.files,
            "bytes_hashed": self.bytes_hashed,
            "seconds": round(self.seconds, 4),
            "serialization": self.serialization,
        }


@dataclass(slots=True)
class VerifyResult:
    model: str
    signature: str
    method: str
    ok: bool = False
    signer: str | None = None  # fingerprint or identity that verified
    root_digest: str | None = None
    files_checked: int = 0
    bytes_hashed: int = 0
    seconds: float = 0.0
    serialization: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # signed predicate fields beyond v1.0

    def fail(self, rule: str, message: str, path: str | None = None) -> VerifyResult:
        self.problems.append(Problem(rule, message, path))
        self.ok = False
        return self

    @property
    def reasons(self) -> list[str]:
        return [p.message for p in self.problems]

    def findings(self, asset_uri: str | None = None) -> list[Finding]:
        return [p.finding(asset_uri or self.model) for p in self.problems]

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "model": self.model,
            "signature": self.signature,
            "method": self.method,
            "signer": self.signer,
            "root_digest": self.root_digest,
            "files_checked": self.files_checked,
            "bytes_hashed": self.bytes_hashed,
            "seconds": round(self.seconds, 4),
            "serialization": self.serialization,
            "problems": [p.to_dict() for p in self.problems],
        }
