"""The supply-chain part of the flagship demo: sign, approve, pass the gate, tamper, get blocked."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bastion.core.store import Store
from bastion.model._gate.core import check
from bastion.model._registry.repo import Registry
from bastion.model._sign.core import content_digest, sign_model
from bastion.model._sign.keys import generate, write_keypair


@dataclass(slots=True)
class SupplyDemo:
    model: str
    signature: str
    public_key: str
    signer: str
    passed_before: bool
    passed_after: bool
    reasons_after: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "signature": self.signature,
            "public_key": self.public_key,
            "signer": self.signer,
            "passed_before": self.passed_before,
            "passed_after": self.passed_after,
            "reasons_after": self.reasons_after,
        }


def run_supply_demo(workdir: Path, store: Store, *, project: str = "default", model: Path | None = None) -> SupplyDemo:
    """Sign the model (a small stand-in folder if none is given), approve it, tamper, gate twice."""
    workdir.mkdir(parents=True, exist_ok=True)
    if model is None:
        model = workdir / "fraud-detector"
        model.mkdir(exist_ok=True)
        (model / "model.safetensors").write_bytes(os.urandom(64 * 1024))
        (model / "config.json").write_text('{"architecture": "gbdt", "threshold": 0.82}\n')
    keys = workdir / "keys"
    keys.mkdir(exist_ok=True)
    private, public = keys / "release.pem", keys / "release.pub"
    if not private.exists():
        write_keypair(generate("ecdsa-p256"), private, public)
    signed = sign_model(model, private_key=private)
    registry = Registry(store, project)
    name = model.name
    version = str(len(registry.find_by_name(name)) + 1)
    art = registry.register(
        name=name,
        version=version,
        kind="model",
        uri=str(model),
        digest=content_digest(model),
        actor="data-scientist",
        risk="high",
    )
    registry.record_evidence(art.id, actor="data-scientist", signer=signed.signer, scan={"passed": True})
    registry.transition(art.id, "validated", actor="data-scientist")
    registry.approve(art.id, actor="model-risk-officer")
    registry.approve(art.id, actor="ciso")
    before = check(model, public_key=public, registry=registry, actor="release-pipeline")
    target = max((p for p in model.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    with target.open("r+b") as fh:  # an attacker flips one byte of the weights
        first = fh.read(1)
        fh.seek(0)
        fh.write(bytes([(first[0] if first else 0) ^ 0xFF]))
    after = check(model, public_key=public, registry=registry, actor="release-pipeline")
    return SupplyDemo(
        model=str(model),
        signature=signed.signature,
        public_key=str(public),
        signer=signed.signer,
        passed_before=before.passed,
        passed_after=after.passed,
        reasons_after=after.reasons,
    )
