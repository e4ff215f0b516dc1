"""The demo's steps after the first scan: protect, sign and gate, guard, document, retire.

Each step calls the same public engine APIs a user would; nothing here is demo-only
logic except the choice of inputs.
"""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path
from typing import Any

from bastion.core.store import Store
from bastion.crypto.keys import KeyManager, MasterSecret, Principal

# How the demo protects the transactions table, column by column.
DEMO_POLICY: dict[str, Any] = {
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

SECURITY_OFFICER = Principal.of("security-officer", ["admin"])


def demo_keys(store: Store, project: str) -> KeyManager:
    """A key manager whose keyring is sealed by the environment's secret, or a demo secret.

    With neither `BASTION_KEYRING_SECRET` nor a passphrase in the environment, the demo
    makes a random secret and keeps it (0600) beside the keyring so reruns can open it;
    a real deployment supplies the secret from its own secret store instead.
    """
    secret = MasterSecret.from_env()
    if secret is None:
        path = store.state_dir / "keys" / "demo-keyring.secret"
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
        secret = MasterSecret.secret(path.read_text().strip())
    return KeyManager(store, project, secret=secret)


def protect_transactions(root: Path, keys: KeyManager, key_id: str) -> dict[str, Any]:
    """De-identify the table, encrypt the original at rest, and remove the plaintext."""
    from bastion.crypto import aead
    from bastion.data.protect import protect_table

    keys.create(key_id, SECURITY_OFFICER)
    src = root / "data" / "transactions.csv"
    out = src.with_name("transactions.protected.csv")
    policy = {"key": key_id, **DEMO_POLICY}
    report = protect_table(
        src, policy, out, keys=keys, who=SECURITY_OFFICER, report_path=root / "reports" / "protect-report.json"
    )
    encrypted = src.with_name(src.name + aead.SUFFIX)
    enc = aead.encrypt_file(src, encrypted, keys=keys, key_id=key_id, who=SECURITY_OFFICER, asset="data/transactions")
    src.unlink()
    return {"protect": report.to_dict(), "encrypted": enc.to_dict(), "encrypted_path": str(encrypted)}


def release_model(root: Path, store: Store, project: str) -> Any:
    """Sign the bank's model, approve it with two people, tamper with it, and gate it twice."""
    from bastion.model.gate import run_supply_demo

    release = root / "release" / "fraud-detector"
    if release.exists():
        shutil.rmtree(release)
    release.mkdir(parents=True)
    shutil.copy2(root / "models" / "fraud_model.joblib", release / "model.joblib")
    (release / "config.json").write_text('{"task": "fraud-detection", "features": ["amount_eur", "merchant"]}\n')
    return run_supply_demo(root / "release", store, project=project, model=release)


def serve(store: Store, project: str) -> dict[str, Any]:
    """Put the fraud assistant behind the gateway, in-process, and send it real traffic."""
    from bastion.gateway import demo_gateway

    return demo_gateway(store, project)


def write_bom(root: Path, assets: list[Any]) -> Path:
    import json

    from bastion.discover import build_bom

    path = root / "reports" / "ai-bom.cdx.json"
    path.write_text(json.dumps(build_bom(assets, name="fraud-detection"), indent=2) + "\n", encoding="utf-8")
    return path


def retire(root: Path, keys: KeyManager, key_id: str, encrypted: Path) -> dict[str, Any]:
    """Crypto-shred the table's key, then prove the encrypted copy can no longer be opened."""
    from bastion.crypto import aead
    from bastion.crypto.keys import CryptoError

    shred = keys.shred(key_id, SECURITY_OFFICER)
    probe = root / "data" / "transactions.recovered.csv"
    try:
        aead.decrypt_file(encrypted, probe, keys=keys, who=SECURITY_OFFICER)
        recoverable = True
    except CryptoError as exc:
        recoverable = False
        error = str(exc)
    finally:
        probe.unlink(missing_ok=True)
    return {
        "data_keys_destroyed": shred.data_keys_destroyed,
        "vault_entries_destroyed": shred.vault_entries_destroyed,
        "recoverable": recoverable,
        "error": "" if recoverable else error,
    }
