"""The deployment gate: every blocking reason, the passing path, SARIF, and the CLI exit codes."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from bastion.core.policy import Policy
from bastion.core.store import Store
from bastion.core.types import Severity
from bastion.model.gate import check
from bastion.model.registry import Registry
from bastion.model.sign import content_digest, sign_model

from .conftest import KeyPair


def _approve(reg: Registry, model: Path, signer: str, risk: str = "low") -> None:
    art = reg.register(
        name=model.name,
        version="1",
        kind="model",
        uri=str(model),
        digest=content_digest(model),
        actor="alice",
        risk=risk,
    )
    reg.record_evidence(art.id, actor="alice", signer=signer, scan={"passed": True})
    reg.transition(art.id, "validated", actor="alice")
    reg.approve(art.id, actor="bob")


@pytest.fixture
def reg(tmp_path: Path) -> Registry:
    store = Store.open(f"sqlite:///{tmp_path / 'gate.db'}", state_dir=tmp_path / "state")
    return Registry(store, "bank")


def rules(result: object) -> set[str]:
    return {f.rule_id for f in result.findings if f.scanner == "supply"}  # type: ignore[attr-defined]


def test_gate_passes_signed_approved_clean_model(model: Path, ec_key: KeyPair, reg: Registry) -> None:
    signed = sign_model(model, private_key=ec_key.private)
    _approve(reg, model, signed.signer)
    result = check(model, public_key=ec_key.public, registry=reg)
    assert result.passed, result.reasons
    assert result.registry is not None and result.registry["state"] == "approved"
    assert result.digest == f"sha256:{signed.root_digest}"
    last = reg.store.audit.tail(1)[0]
    assert last.kind == "gate.decision" and last.data["passed"] is True


def test_unsigned_model_is_blocked(model: Path, reg: Registry) -> None:
    result = check(model, registry=reg)
    assert not result.passed
    assert rules(result) == {"supply.signature.missing", "supply.registry.not-registered"}
    assert any(r.startswith("unsigned") for r in result.reasons)


def test_tampered_model_is_blocked_with_each_reason(model: Path, ec_key: KeyPair, reg: Registry) -> None:
    signed = sign_model(model, private_key=ec_key.private)
    _approve(reg, model, signed.signer)
    (model / "config.json").write_text('{"layers": 400}\n')
    (model / "backdoor.py").write_text("print(1)\n")
    result = check(model, public_key=ec_key.public, registry=reg)
    assert not result.passed
    assert rules(result) == {
        "supply.integrity.modified",
        "supply.integrity.added",
        "supply.registry.digest-mismatch",
    }
    text = "\n".join(result.reasons)
    assert "config.json" in text and "backdoor.py" in text and "approved with digest" in text


def test_untrusted_and_revoked_signers(model: Path, ec_key: KeyPair, other_key: KeyPair, reg: Registry) -> None:
    signed = sign_model(model, private_key=ec_key.private)
    _approve(reg, model, signed.signer)
    assert rules(check(model, public_key=other_key.public, registry=reg)) == {"supply.signature.untrusted"}
    reg.add_signer(other_key.fingerprint, "someone else", actor="security")
    assert rules(check(model, public_key=ec_key.public, registry=reg)) == {"supply.signature.untrusted"}
    reg.revoke_signer(ec_key.fingerprint, actor="security", reason="leaked")
    assert rules(check(model, public_key=ec_key.public, registry=reg)) == {"supply.signature.revoked"}


def test_not_approved_and_stage_rules(model: Path, ec_key: KeyPair, reg: Registry) -> None:
    signed = sign_model(model, private_key=ec_key.private)
    art = reg.register(name="m", version="1", kind="model", uri=str(model), digest=content_digest(model), actor="alice")
    result = check(model, public_key=ec_key.public, registry=reg)
    assert rules(result) == {"supply.registry.not-approved"}
    assert "is draft" in result.reasons[0]
    reg.record_evidence(art.id, actor="alice", signer=signed.signer, scan={"passed": True})
    reg.transition(art.id, "validated", actor="alice")
    assert check(model, stage="train", public_key=ec_key.public, registry=reg).passed
    assert not check(model, stage="deploy", public_key=ec_key.public, registry=reg).passed
    assert check(model, stage="validate", public_key=ec_key.public, registry=reg).passed
    with pytest.raises(ValueError, match="unknown stage"):
        check(model, stage="prod", registry=reg)


def test_scanner_findings_block_at_threshold(tmp_path: Path, ec_key: KeyPair, reg: Registry) -> None:
    from bastion.model.scan import write_demo_models

    folder = tmp_path / "pickled"
    folder.mkdir()
    _benign, malicious = write_demo_models(tmp_path / "demo")
    shutil.copy(malicious, folder / "model.pkl")
    signed = sign_model(folder, private_key=ec_key.private)
    _approve(reg, folder, signed.signer)
    result = check(folder, public_key=ec_key.public, registry=reg)
    assert not result.passed
    assert "supply.scan.findings" in rules(result)
    assert any(f.scanner != "supply" and f.severity >= Severity.HIGH for f in result.findings)
    lenient = check(folder, public_key=ec_key.public, registry=reg, policy=Policy(fail_on=Severity.CRITICAL))
    assert lenient.passed is (max(f.severity for f in lenient.findings) < Severity.CRITICAL)


def test_sarif_lists_every_reason(model: Path, tmp_path: Path, reg: Registry) -> None:
    result = check(model, registry=reg)
    out = result.write_sarif(tmp_path / "out" / "gate.sarif")
    doc = json.loads(out.read_text())
    assert doc["version"] == "2.1.0"
    ids = {r["ruleId"] for r in doc["runs"][0]["results"]}
    assert {"supply.signature.missing", "supply.registry.not-registered"} <= ids
    declared = {r["id"] for r in doc["runs"][0]["tool"]["driver"]["rules"]}
    assert ids <= declared


def test_gate_without_registry_or_scan(model: Path, ec_key: KeyPair) -> None:
    sign_model(model, private_key=ec_key.private)
    assert check(model, public_key=ec_key.public, scan=None).passed
    result = check(model, scan=None)
    assert rules(result) == {"supply.signature.untrusted"}
    assert "no trust anchor" in result.reasons[0]


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str


def _cli(args: list[str], cwd: Path) -> Run:
    """In-process CLI run (a subprocess per call costs seconds); state is reset like `main()` does."""
    from typer.testing import CliRunner

    from bastion.cli._common import state
    from bastion.cli.app import app

    old = Path.cwd()
    os.chdir(cwd)
    try:
        result = CliRunner().invoke(app, args, env={"BASTION_CONFIG": ""}, catch_exceptions=False)
    finally:
        state.close()
        state._settings = None
        os.chdir(old)
    return Run(result.exit_code, result.stdout, result.stderr)


def test_cli_sign_verify_registry_gate(model: Path, ec_key: KeyPair, tmp_path: Path) -> None:
    cwd = tmp_path
    assert _cli(["sign", "key", str(model), "--private_key", str(ec_key.private)], cwd).returncode == 0
    proc = _cli(["verify", "key", str(model), "--public_key", str(ec_key.public), "--json"], cwd)
    assert proc.returncode == 0 and json.loads(proc.stdout)["ok"] is True
    blocked = _cli(["gate", str(model), "--public-key", str(ec_key.public), "--sarif", "g.sarif"], cwd)
    assert blocked.returncode == 1 and "not in the trusted registry" in blocked.stdout
    assert (cwd / "g.sarif").is_file()
    for args in (
        [
            "registry",
            "add",
            str(model),
            "--name",
            "fraud",
            "--version",
            "1",
            "--public-key",
            str(ec_key.public),
            "--actor",
            "alice",
        ],
        ["registry", "transition", "fraud@1", "validated", "--actor", "alice"],
        ["registry", "approve", "fraud@1", "--actor", "bob"],
    ):
        proc = _cli(args, cwd)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _cli(["gate", str(model), "--public-key", str(ec_key.public)], cwd).returncode == 0
    (model / "config.json").write_text("{}")
    proc = _cli(["verify", "key", str(model), "--public_key", str(ec_key.public)], cwd)
    assert proc.returncode == 1 and "config.json" in proc.stdout
    proc = _cli(["gate", str(model), "--public-key", str(ec_key.public), "--json"], cwd)
    assert proc.returncode == 1 and json.loads(proc.stdout)["passed"] is False
    assert _cli(["audit", "verify"], cwd).returncode == 0


def test_cli_usage_errors(model: Path, tmp_path: Path, ec_key: KeyPair) -> None:
    proc = _cli(["verify", "key", str(tmp_path / "nope"), "--public_key", str(ec_key.public)], tmp_path)
    assert proc.returncode == 2 and proc.stderr.startswith("error:"), proc.stdout + proc.stderr
    proc = _cli(["gate", str(model), "--stage", "prod"], tmp_path)
    assert proc.returncode == 2 and "unknown stage" in proc.stderr
    proc = _cli(["registry", "approve", "ghost@1"], tmp_path)
    assert proc.returncode == 2 and "not registered" in proc.stderr


def test_supply_demo(tmp_path: Path, reg: Registry) -> None:
    from bastion.model.gate import run_supply_demo

    demo = run_supply_demo(tmp_path / "demo", reg.store, project="bank")
    assert demo.passed_before is True and demo.passed_after is False
    assert any("tampered" in r for r in demo.reasons_after)


def test_trojan_named_like_the_signature_is_still_scanned(tmp_path: Path, ec_key: KeyPair) -> None:
    """Only the signature file itself is left out of the scan, not files whose name ends like it."""
    from bastion.model.scan import write_demo_models

    folder = tmp_path / "fraud"
    folder.mkdir()
    (folder / "config.json").write_text('{"layers": 4}\n')
    _benign, malicious = write_demo_models(tmp_path / "demo")
    shutil.copy(malicious, folder / "evil-model.sig")  # a pickle dressed as a signature
    sig = folder / "model.sig"  # the real signature, inside the folder (so it is ignored when signing)
    sign_model(folder, sig, private_key=ec_key.private)
    result = check(folder, signature=sig, public_key=ec_key.public)
    assert result.verify is not None and result.verify.ok, result.reasons
    assert not result.passed
    assert "supply.scan.findings" in rules(result)
    scanned = {f.asset_uri for f in result.findings if f.scanner != "supply"}
    assert any(u.endswith("evil-model.sig") for u in scanned)
    assert not any(u.endswith("/model.sig") for u in scanned), scanned  # the real signature is still excluded
