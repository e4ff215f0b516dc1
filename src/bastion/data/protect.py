"""De-identification: protect text (LLM prompts) and tables, and restore what is reversible.

Operators: ``redact``, ``mask`` (keep last N), ``placeholder`` (typed), ``hmac``
(keyed, deterministic: joins still work), ``tokenize`` (random token, original in
the encrypted vault), ``fpe`` (FF1, same format), ``surrogate`` (realistic fake,
consistent per key), ``encrypt`` (AES-256-GCM). Keyed operators take their keys
from the project's `KeyManager`, so rotation, RBAC, audit and crypto-shredding
apply to them like to any encrypted file.

    keys = KeyManager(store, "bank")
    p = Protector(keys, Principal.of("etl", ["protector"]), key_id="transactions",
                  text_policy={"EMAIL_ADDRESS": "tokenize", "PERSON": "surrogate", "*": "placeholder"})
    safe = p.protect_text(prompt)           # send safe.text to the LLM
    answer = safe.restore(llm_answer)       # originals back in the response

    protect_table("tx.csv", "policy.yaml", "tx.protected.csv", keys=keys, who=who)
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bastion.crypto.keys import KeyManager, Principal
from bastion.data._protect.errors import ProtectError, VaultError
from bastion.data._protect.minimize import RULES as MINIMIZE_RULES
from bastion.data._protect.minimize import MinimizationReport, features_from_config, minimize
from bastion.data._protect.operators import OPERATORS, REVERSIBLE, Keyring, OpSpec, apply, reverse
from bastion.data._protect.table import TablePolicy, read_table, table_format, transform_table, write_table
from bastion.data._protect.text import Change, ProtectedText, TextPolicy, protect_text, resolve_overlaps, restore_text
from bastion.data._protect.vault import Vault

__all__ = [
    "MINIMIZE_RULES",
    "OPERATORS",
    "REVERSIBLE",
    "Change",
    "MinimizationReport",
    "OpSpec",
    "ProtectError",
    "ProtectReport",
    "ProtectedText",
    "Protector",
    "TablePolicy",
    "TextPolicy",
    "Vault",
    "VaultError",
    "features_from_config",
    "minimize",
    "protect_table",
    "resolve_overlaps",
    "restore_text",
    "unprotect_table",
]


class Protector:
    """Operators bound to one key and one principal; reuse it so keys are fetched once."""

    def __init__(
        self,
        keys: KeyManager | None,
        who: Principal,
        *,
        key_id: str | None = None,
        text_policy: Mapping[str, Any] | TextPolicy | None = None,
    ) -> None:
        self.keys = keys
        self.who = who
        self.key_id = key_id
        self.ring = Keyring(keys, key_id, who)
        self.text_policy = text_policy if isinstance(text_policy, TextPolicy) else TextPolicy(text_policy)

    def protect_values(
        self, values: Sequence[str], op: str | Mapping[str, Any], *, entity_type: str = "VALUE"
    ) -> list[str]:
        return apply(OpSpec.parse(op), values, self.ring, entity_type=entity_type)

    def reverse_values(self, values: Sequence[str], op: str | Mapping[str, Any]) -> list[str]:
        return reverse(OpSpec.parse(op), values, self.ring)

    def protect_text(self, text: str, *, entities: Sequence[Any] | None = None) -> ProtectedText:
        return protect_text(text, self.text_policy, self.ring, entities=entities)

    def restore(self, text: str, protected: ProtectedText) -> str:
        return protected.restore(text)


@dataclass
class ProtectReport:
    dataset: str
    out: str
    format: str
    rows: int
    key_id: str | None
    columns: list[dict[str, Any]]
    seconds: float
    reversed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "out": self.out,
            "format": self.format,
            "rows": self.rows,
            "key_id": self.key_id,
            "reversed": self.reversed,
            "columns": self.columns,
            "changed_values": sum(int(c.get("changed", c.get("entities_replaced", 0))) for c in self.columns),
            "seconds": round(self.seconds, 3),
        }


def _run(
    dataset: Path,
    policy: Path | Mapping[str, Any] | TablePolicy,
    out: Path,
    keys: KeyManager | None,
    who: Principal,
    *,
    undo: bool,
) -> ProtectReport:
    t0 = time.perf_counter()
    dataset, out = Path(dataset), Path(out)
    pol = policy if isinstance(policy, TablePolicy) else TablePolicy.load(policy)
    table_format(out)
    if out.exists() and out.resolve() == dataset.resolve():
        raise ProtectError("refusing to overwrite the input dataset; choose another --out")
    table = read_table(dataset)
    ring = Keyring(keys, pol.key, who)
    columns, changed = transform_table(table, pol, ring, undo=undo)
    write_table(table, out, changed)
    report = ProtectReport(
        str(dataset), str(out), table_format(dataset), table.rows, pol.key, columns, time.perf_counter() - t0, undo
    )
    if keys is not None:
        keys.store.audit.append(
            keys.project,
            "data.unprotected" if undo else "data.protected",
            who.name,
            str(dataset)[:1024],
            {
                "out": str(out)[:512],
                "rows": table.rows,
                "key_id": pol.key,
                "columns": {c["column"]: {"op": c["op"], "changed": c.get("changed", 0)} for c in columns},
            },
        )
    return report


def protect_table(
    dataset: Path,
    policy: Path | Mapping[str, Any] | TablePolicy,
    out: Path,
    *,
    keys: KeyManager | None,
    who: Principal,
    report_path: Path | None = None,
) -> ProtectReport:
    """Write a protected copy of a CSV/JSONL/Parquet dataset and (optionally) a JSON report of what changed."""
    report = _run(dataset, policy, out, keys, who, undo=False)
    if report_path is not None:
        Path(report_path).write_text(json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")
    return report


def unprotect_table(
    dataset: Path,
    policy: Path | Mapping[str, Any] | TablePolicy,
    out: Path,
    *,
    keys: KeyManager,
    who: Principal,
) -> ProtectReport:
    """Reverse the reversible columns (tokenize, fpe, encrypt); needs decrypt/detokenize rights."""
    return _run(dataset, policy, out, keys, who, undo=True)


def minimize_dataset(
    dataset: Path,
    *,
    features: Sequence[str] | None = None,
    training_config: Path | None = None,
    retention: Mapping[str, int] | None = None,
    timestamp_column: str | None = None,
) -> MinimizationReport:
    if features is None:
        if training_config is None:
            raise ProtectError("give the model's features or its training config")
        features = features_from_config(training_config)
    return minimize(dataset, features=features, retention=retention, timestamp_column=timestamp_column)


__all__ += ["minimize_dataset"]
