"""The demo's protection step: tokenize/FPE the transactions table, then encrypt it at rest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bastion.crypto.keys import KeyManager, KeyNotFound, Principal

DEMO_POLICY: dict[str, Any] = {
    "key": "transactions",
    "default": "keep",
    "columns": {
        "customer_name": {"op": "surrogate", "type": "PERSON"},
        "email": "tokenize",
        "phone": {"op": "mask", "keep_last": 4},
        "iban": {"op": "hmac", "domain": "iban"},
        "card_number": "fpe",
        "street_address": "redact",
    },
}


def protect_demo(project_dir: Path, keys: KeyManager, who: Principal) -> dict[str, Any]:
    """Protect ``data/transactions.csv`` into ``data/transactions.protected.csv`` and encrypt the original."""
    from bastion.crypto import aead
    from bastion.data.protect import protect_table

    src = Path(project_dir) / "data" / "transactions.csv"
    try:
        keys.get("transactions")
    except KeyNotFound:
        keys.create("transactions", who)
    out = src.with_name("transactions.protected.csv")
    report = protect_table(src, DEMO_POLICY, out, keys=keys, who=who, report_path=out.with_suffix(".report.json"))
    enc = aead.encrypt_file(src, src.with_name(src.name + aead.SUFFIX), keys=keys, key_id="transactions", who=who)
    return {"protect": report.to_dict(), "encrypted": enc.to_dict()}
