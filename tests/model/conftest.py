from __future__ import annotations

from bastion.core.types import Finding, Severity


def rules_of(findings: list[Finding]) -> set[str]:
    return {f.rule_id for f in findings}


def worst(findings: list[Finding]) -> Severity | None:
    return max((f.severity for f in findings), default=None)
