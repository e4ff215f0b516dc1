"""Policy as code: thresholds plus allow/deny rules, evaluated into a decision with reasons.

A policy file (TOML or YAML) looks like::

    fail_on = "high"          # findings at or above this fail the gate
    min_confidence = 0.5      # findings below this never fail the gate

    [[rules]]
    id = "example-keys"
    effect = "allow"          # waive matching findings, with a reason on record
    reason = "documented example keys in the docs folder"
    match = { rule_id = "secret.*", asset = "docs/**" }

    [[rules]]
    id = "no-raw-pickle"
    effect = "deny"           # fail when any asset matches these facts
    reason = "raw pickle models may execute code when loaded"
    match = { asset_kind = "model", asset_format = "pickle" }

Allow rules match findings; deny rules match findings or asset facts. The
decision always lists every reason, so a blocked pipeline says why.
"""

from __future__ import annotations

import fnmatch
import json
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bastion.core.types import Asset, Finding, Severity


class PolicyError(ValueError):
    """A policy that cannot be used; the message names the file and the problem."""


class Match(BaseModel):
    """Conditions that must all hold. String values are shell-style globs."""

    model_config = ConfigDict(extra="forbid")

    rule_id: str | None = None
    scanner: str | None = None
    asset: str | None = None
    min_severity: Severity | None = None
    control: str | None = None
    asset_kind: str | None = None
    asset_format: str | None = None
    framework: str | None = None
    classification: str | None = None
    owner_missing: bool | None = None

    @field_validator("min_severity", mode="before")
    @classmethod
    def _sev(cls, value: Any) -> Severity | None:
        return None if value is None else Severity.parse(value)

    @property
    def is_asset_rule(self) -> bool:
        return any(
            v is not None
            for v in (
                self.asset_kind,
                self.asset_format,
                self.framework,
                self.classification,
                self.owner_missing,
            )
        )

    @property
    def is_finding_rule(self) -> bool:
        return any(v is not None for v in (self.rule_id, self.scanner, self.min_severity, self.control))

    def finding_matches(self, finding: Finding) -> bool:
        if self.is_asset_rule:
            return False
        return (
            _glob(self.rule_id, finding.rule_id)
            and _glob(self.scanner, finding.scanner)
            and _glob(self.asset, finding.asset_uri)
            and (self.min_severity is None or finding.severity >= self.min_severity)
            and (self.control is None or any(fnmatch.fnmatchcase(c, self.control) for c in finding.controls))
        )

    def asset_matches(self, asset: Asset) -> bool:
        if self.is_finding_rule or not self.is_asset_rule:
            return False
        return (
            _glob(self.asset, asset.uri)
            and _glob(self.asset_kind, asset.kind.value)
            and _glob(self.asset_format, asset.format)
            and _glob(self.framework, asset.framework or "")
            and (
                self.classification is None
                or any(fnmatch.fnmatchcase(c, self.classification) for c in asset.classification)
            )
            and (self.owner_missing is None or (asset.owner is None) == self.owner_missing)
        )


def _glob(pattern: str | None, value: str) -> bool:
    return pattern is None or fnmatch.fnmatchcase(value, pattern)


class PolicyRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    effect: Literal["allow", "deny"]
    reason: str = Field(min_length=1)
    match: Match


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fail_on: Severity = Severity.HIGH
    min_confidence: float = Field(default=0.0, ge=0.0, le=1.0)
    rules: list[PolicyRule] = Field(default_factory=list)

    @field_validator("fail_on", mode="before")
    @classmethod
    def _sev(cls, value: Any) -> Severity:
        return Severity.parse(value)

    @field_validator("rules")
    @classmethod
    def _unique(cls, rules: list[PolicyRule]) -> list[PolicyRule]:
        seen: set[str] = set()
        for rule in rules:
            if rule.id in seen:
                raise ValueError(f"duplicate rule id {rule.id!r}")
            if not (rule.match.is_asset_rule or rule.match.is_finding_rule or rule.match.asset):
                raise ValueError(f"rule {rule.id!r} has an empty match")
            if rule.effect == "allow" and rule.match.is_asset_rule:
                raise ValueError(f"rule {rule.id!r}: allow rules match findings, not asset facts")
            seen.add(rule.id)
        return rules

    def evaluate(self, findings: Sequence[Finding], assets: Sequence[Asset] = ()) -> Decision:
        reasons: list[str] = []
        waived: list[dict[str, str]] = []
        failing: list[Finding] = []
        over_threshold: dict[str, int] = {}
        for finding in findings:
            allow = next((r for r in self.rules if r.effect == "allow" and r.match.finding_matches(finding)), None)
            if allow is not None:
                waived.append({"fingerprint": finding.fingerprint, "rule": allow.id})
                continue
            deny = next((r for r in self.rules if r.effect == "deny" and r.match.finding_matches(finding)), None)
            if deny is not None:
                failing.append(finding)
                reasons.append(f"{deny.id}: {finding.rule_id} in {finding.asset_uri} ({deny.reason})")
            elif finding.severity >= self.fail_on and finding.confidence >= self.min_confidence:
                failing.append(finding)
                over_threshold[finding.rule_id] = over_threshold.get(finding.rule_id, 0) + 1
        for asset in assets:
            for rule in self.rules:
                if rule.effect == "deny" and rule.match.asset_matches(asset):
                    reasons.append(f"{rule.id}: {asset.uri} ({rule.reason})")
        if over_threshold:
            counts = ", ".join(f"{rule} x{n}" for rule, n in sorted(over_threshold.items()))
            total = sum(over_threshold.values())
            reasons.insert(0, f"{total} finding(s) at or above {self.fail_on.label}: {counts}")
        return Decision(
            passed=not reasons,
            threshold=self.fail_on.label,
            reasons=reasons,
            failing=[f.fingerprint for f in failing],
            waived=waived,
        )


@dataclass(slots=True)
class Decision:
    passed: bool
    threshold: str
    reasons: list[str] = field(default_factory=list)
    failing: list[str] = field(default_factory=list)
    waived: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "threshold": self.threshold,
            "reasons": self.reasons,
            "failing": self.failing,
            "waived": self.waived,
        }


def load_policy(path: Path | None, *, fail_on: Severity | None = None) -> Policy:
    """Load a policy file (TOML, YAML or JSON by content), or the default policy.

    `fail_on`, when given (e.g. from `--fail-on`), overrides the file's threshold.
    """
    data: dict[str, Any] = {}
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise PolicyError(f"cannot read policy {path}: {getattr(exc, 'strerror', None) or exc}") from exc
        data = _parse(path, text)
    if fail_on is not None:
        data["fail_on"] = fail_on
    try:
        return Policy(**data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "policy"
        raise PolicyError(f"{path}: {where}: {first['msg']}") from exc
    except TypeError as exc:
        raise PolicyError(f"{path}: {exc}") from exc


def _parse(path: Path, text: str) -> dict[str, Any]:
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            data: Any = tomllib.loads(text)
        elif suffix == ".json":
            data = json.loads(text)
        else:
            data = yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, yaml.YAMLError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise PolicyError(f"{path}: not valid {suffix.lstrip('.') or 'YAML'}: {first}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise PolicyError(f"{path}: a policy must be a mapping at the top level")
    policy = data.get("policy", data)
    if not isinstance(policy, dict):
        raise PolicyError(f"{path}: [policy] must be a table")
    return dict(policy)
