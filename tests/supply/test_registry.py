"""Trusted registry: lifecycle guards, second approver, signers, audit trail (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from bastion.core.store import Store
from bastion.model.registry import Registry, RegistryError, RegistryPolicy

DIGEST = "sha256:" + "ab" * 32
SIGNER = "cd" * 32


def _register(reg: Registry, risk: str = "low", name: str = "fraud") -> int:
    art = reg.register(
        name=name, version="1.0", kind="model", uri="models/fraud", digest=DIGEST, actor="alice", risk=risk
    )
    assert art.state == "draft" and art.registered_by == "alice"
    return art.id


def _validate(reg: Registry, aid: int) -> None:
    reg.record_evidence(aid, actor="alice", signer=SIGNER, scan={"passed": True, "findings": 0})
    assert reg.transition(aid, "validated", actor="alice").state == "validated"


def test_full_lifecycle_is_audited(store: Store) -> None:
    reg = Registry(store, "bank")
    aid = _register(reg)
    _validate(reg, aid)
    assert reg.approve(aid, actor="bob", note="reviewed model card").state == "approved"
    assert reg.transition("fraud@1.0", "deployed", actor="release-bot").state == "deployed"
    assert reg.transition(aid, "retired", actor="carol").state == "retired"
    history = reg.history(aid)
    assert [(h["from"], h["to"]) for h in history] == [
        ("draft", "validated"),
        ("validated", "approved"),
        ("approved", "deployed"),
        ("deployed", "retired"),
    ]
    kinds = [e.kind for e in store.audit.events("bank")]
    assert kinds == [
        "registry.registered",
        "registry.evidence",
        "registry.transition",
        "registry.approval",
        "registry.transition",
        "registry.transition",
        "registry.transition",
    ]
    assert store.audit.verify().ok
    art = reg.get(aid)
    assert art is not None and art.approvals[0]["actor"] == "bob"
    assert reg.find_by_digest(DIGEST)[0].ref == "fraud@1.0"


def test_high_risk_needs_two_distinct_approvers(store: Store) -> None:
    reg = Registry(store, "bank")
    aid = _register(reg, risk="high")
    _validate(reg, aid)
    with pytest.raises(RegistryError, match="cannot also approve"):
        reg.approve(aid, actor="alice")
    assert reg.approve(aid, actor="bob").state == "validated"
    with pytest.raises(RegistryError, match="already approved"):
        reg.approve(aid, actor="bob")
    with pytest.raises(RegistryError, match="use approve"):
        reg.transition(aid, "approved", actor="bob")
    assert reg.approve(aid, actor="carol").state == "approved"


@pytest.mark.parametrize(
    ("evidence", "needle"),
    [
        ({}, "unsigned"),
        ({"signer": SIGNER}, "without a scan result"),
        ({"signer": SIGNER, "scan": {"passed": False}}, "scan found issues"),
    ],
)
def test_validation_guards(store: Store, evidence: dict[str, object], needle: str) -> None:
    reg = Registry(store, "bank")
    aid = _register(reg)
    if evidence:
        reg.record_evidence(aid, actor="alice", **evidence)  # type: ignore[arg-type]
    before = len(list(store.audit.events()))
    with pytest.raises(RegistryError, match=needle):
        reg.transition(aid, "validated", actor="alice")
    assert reg.get(aid).state == "draft"  # type: ignore[union-attr]
    assert len(list(store.audit.events())) == before  # a refused change writes nothing


def test_revoked_signer_blocks_validation_and_deployment(store: Store) -> None:
    reg = Registry(store, "bank")
    aid = _register(reg)
    _validate(reg, aid)
    reg.approve(aid, actor="bob")
    reg.revoke_signer(SIGNER, actor="security", reason="key leaked")
    with pytest.raises(RegistryError, match="revoked"):
        reg.transition(aid, "deployed", actor="release-bot")
    assert SIGNER in reg.revoked_fingerprints()
    assert reg.trusted_fingerprints() is None


def test_illegal_transitions_and_bad_input(store: Store) -> None:
    reg = Registry(store, "bank")
    aid = _register(reg)
    with pytest.raises(RegistryError, match="not an allowed transition"):
        reg.transition(aid, "deployed", actor="bob")
    with pytest.raises(RegistryError, match="unknown state"):
        reg.transition(aid, "shipped", actor="bob")
    with pytest.raises(RegistryError, match="only validated"):
        reg.approve(aid, actor="bob")
    with pytest.raises(RegistryError, match="already registered"):
        _register(reg)
    with pytest.raises(RegistryError, match="digest must look like"):
        reg.register(name="x", version="1", kind="model", uri="x", digest="md5:zz", actor="a")
    with pytest.raises(RegistryError, match="kind must be"):
        reg.register(name="x", version="1", kind="car", uri="x", digest=DIGEST, actor="a")
    with pytest.raises(RegistryError, match="not registered"):
        reg.transition("ghost@1", "validated", actor="a")
    with pytest.raises(RegistryError, match="NAME@VERSION"):
        reg.get("no-version")
    reg.transition(aid, "retired", actor="bob")
    with pytest.raises(RegistryError, match="not an allowed transition"):
        reg.transition(aid, "draft", actor="bob")


def test_signers_and_projects_are_separate(store: Store) -> None:
    bank, other = Registry(store, "bank"), Registry(store, "other")
    bank.add_signer(SIGNER, "release@bank.example", actor="security")
    with pytest.raises(RegistryError, match="already known"):
        bank.add_signer(SIGNER.upper(), "dup", actor="security")
    with pytest.raises(RegistryError, match="64 hex"):
        bank.add_signer("xyz", "bad", actor="security")
    assert bank.trusted_fingerprints() == {SIGNER}
    assert other.trusted_fingerprints() is None
    _register(bank)
    assert other.get("fraud@1.0") is None
    assert [s.status for s in bank.signers()] == ["active"]
    bank.revoke_signer(SIGNER, actor="security", reason="rotated")
    assert [s.status for s in bank.signers()] == ["revoked"]


def test_policy_relaxations(store: Store) -> None:
    policy = RegistryPolicy(require_signature=False, approver_not_registrant=False, high_risk_approvers=1)
    reg = Registry(store, "bank", policy)
    aid = _register(reg, risk="high")
    reg.record_evidence(aid, actor="alice", scan={"passed": True})
    reg.transition(aid, "validated", actor="alice")
    assert reg.approve(aid, actor="alice").state == "approved"
