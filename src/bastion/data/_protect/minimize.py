"""Data minimization: sensitive columns a model does not use, and data kept past its retention.

A training set often carries every column of the source table although the model
reads a handful; each sensitive column it does not need is exposure without
purpose (GDPR Art. 5(1)(c), Art. 25). Given the feature list (or a training config
that names `features`/`label`), every classified column outside it is a finding
with the remedy: drop it, or protect it with the suggested operator. Retention
rules (maximum age per classification) turn rows older than allowed into findings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from bastion.core.redact import mask
from bastion.core.types import Finding, Location, Rule, Severity
from bastion.data._protect.errors import ProtectError

SCANNER = "bastion.data.minimize"

RULES = {
    "unused-sensitive-column": Rule(
        id="data.minimize.unused-sensitive-column",
        title="Sensitive column not used by the model",
        severity=Severity.MEDIUM,
        controls=("gdpr:Art.5", "gdpr:Art.25", "eu-ai-act:Art.10", "iso42001:A.7.4"),
        remediation="Drop the column from the training data, or protect it (bastion protect) before training.",
        description="The dataset carries personal data the model's feature list does not need.",
    ),
    "retention-exceeded": Rule(
        id="data.minimize.retention-exceeded",
        title="Sensitive data kept longer than its retention period",
        severity=Severity.MEDIUM,
        controls=("gdpr:Art.5", "iso42001:A.7.2"),
        remediation="Delete or anonymise rows older than the retention period for this classification.",
        description="Rows carrying a classification are older than the maximum age set for it.",
    ),
}

# What to suggest for a column the model does need but that holds this kind of data.
SUGGEST = {
    "PERSON": "surrogate",
    "EMAIL_ADDRESS": "tokenize",
    "PHONE_NUMBER": "mask",
    "CREDIT_CARD": "fpe",
    "IBAN_CODE": "hmac",
    "STREET_ADDRESS": "redact",
    "US_SSN": "fpe",
}


@dataclass
class MinimizationReport:
    dataset: str
    features: list[str]
    sensitive: dict[str, list[str]]
    unused_sensitive: list[str]
    findings: list[Finding] = field(default_factory=list)

    def suggested_policy(self) -> dict[str, Any]:
        """A `bastion protect` policy that drops (redacts) every unused sensitive column."""
        return {"default": "keep", "columns": {c: "redact" for c in self.unused_sensitive}}

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "features": self.features,
            "sensitive_columns": self.sensitive,
            "unused_sensitive_columns": self.unused_sensitive,
            "suggested_policy": self.suggested_policy(),
            "findings": [f.to_dict() for f in self.findings],
        }


def features_from_config(path: Path) -> list[str]:
    """`features` (+ `label`/`target`) from a YAML or JSON training config."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ProtectError(f"{path}: cannot parse training config: {str(exc).splitlines()[0]}") from None
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            for k, v in node.items():
                if k in ("features", "feature_columns", "columns") and isinstance(v, list):
                    found.extend(str(x) for x in v)
                elif k in ("label", "target", "label_column") and isinstance(v, str):
                    found.append(v)
                else:
                    walk(v)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(data)
    if not found:
        raise ProtectError(f"{path}: no 'features' list found in the training config")
    return list(dict.fromkeys(found))


def minimize(
    dataset: Path,
    *,
    features: Sequence[str],
    retention: Mapping[str, int] | None = None,
    timestamp_column: str | None = None,
    now: datetime | None = None,
    sensitive: Mapping[str, Sequence[str]] | None = None,
) -> MinimizationReport:
    """Findings for unused sensitive columns and retention breaches; `sensitive` overrides classification."""
    dataset = Path(dataset)
    if sensitive is None:
        from bastion.data.tables import classify_table

        report = classify_table(dataset, sample_rows=2000)
        sensitive = {name: col.classified() for name, col in report.columns.items() if col.classified()}
    sens = {k: list(v) for k, v in sensitive.items() if v}
    feats = list(features)
    unused = [c for c in sens if c not in feats]
    findings = []
    rule = RULES["unused-sensitive-column"]
    for c in unused:
        findings.append(
            rule.finding(
                asset_uri=str(dataset),
                location=Location(path=str(dataset), pointer=f"column:{c}"),
                scanner=SCANNER,
                evidence=f"column {c!r} holds {', '.join(sens[c])}; not among the model's {len(feats)} features",
                properties={"column": c, "entity_types": sens[c], "suggested_operator": "drop"},
            )
        )
    for c in sens:
        if c in feats:
            op = next((SUGGEST[t] for t in sens[c] if t in SUGGEST), "tokenize")
            findings.append(
                rule.finding(
                    asset_uri=str(dataset),
                    location=Location(path=str(dataset), pointer=f"column:{c}"),
                    scanner=SCANNER,
                    severity=Severity.LOW,
                    title="Sensitive column used as a model feature",
                    evidence=f"feature {c!r} holds {', '.join(sens[c])}; consider protecting it with {op!r}",
                    properties={"column": c, "entity_types": sens[c], "suggested_operator": op},
                )
            )
    if retention:
        findings.extend(_retention(dataset, sens, retention, timestamp_column, now or datetime.now(UTC)))
    return MinimizationReport(str(dataset), feats, sens, unused, findings)


def _retention(
    dataset: Path,
    sens: Mapping[str, Sequence[str]],
    retention: Mapping[str, int],
    ts_col: str | None,
    now: datetime,
) -> list[Finding]:
    from bastion.data._protect.table import column_values, read_table

    if not ts_col:
        raise ProtectError("retention rules need the timestamp column (--timestamp-column)")
    table = read_table(dataset)
    if ts_col not in table.columns:
        raise ProtectError(f"timestamp column {ts_col!r} is not in the dataset")
    stamps = column_values(table, ts_col)
    parsed: list[datetime | None] = []
    bad = 0
    for v in stamps:
        try:
            d = v if isinstance(v, datetime) else datetime.fromisoformat(str(v))
            parsed.append(d if d.tzinfo else d.replace(tzinfo=UTC))
        except ValueError:
            parsed.append(None)
            bad += 1
    out = []
    rule = RULES["retention-exceeded"]
    for classification, days in retention.items():
        cols = [c for c, types in sens.items() if classification in types or classification == "*"]
        if not cols:
            continue
        limit = now - timedelta(days=int(days))
        old = [d for d in parsed if d is not None and d < limit]
        if not old:
            continue
        out.append(
            rule.finding(
                asset_uri=str(dataset),
                location=Location(path=str(dataset), pointer=f"column:{ts_col}"),
                scanner=SCANNER,
                evidence=(
                    f"{len(old)} of {len(parsed)} rows with {classification} (columns {', '.join(cols)}) are older "
                    f"than {days} days; oldest {min(old).date().isoformat()}"
                ),
                properties={"classification": classification, "rows": len(old), "max_age_days": int(days)},
            )
        )
    if bad:
        out.append(
            rule.finding(
                asset_uri=str(dataset),
                location=Location(path=str(dataset), pointer=f"column:{ts_col}"),
                scanner=SCANNER,
                severity=Severity.LOW,
                title="Rows whose age cannot be determined",
                evidence=f"{bad} timestamps in {ts_col!r} do not parse (e.g. {mask(str(stamps[parsed.index(None)]))})",
                properties={"rows": bad},
            )
        )
    return out
