"""The trusted registry of approved models, datasets and third-party components.

    from bastion.model.registry import Registry
    reg = Registry(store, project="default")
    art = reg.register(name="fraud", version="1.0", kind="model", uri="models/fraud",
                       digest=content_digest("models/fraud"), actor="alice", risk="high")
    reg.record_evidence(art.id, actor="alice", signer=fingerprint, scan={"passed": True})
    reg.transition(art.id, "validated", actor="alice")
    reg.approve(art.id, actor="bob"); reg.approve(art.id, actor="carol")   # high risk: two people
    reg.transition(art.id, "deployed", actor="release-bot")

Artifacts are recorded by digest with signer identity, scan result and approvers.
Lifecycle draft -> validated -> approved -> deployed -> retired; every transition is
guarded by `RegistryPolicy` and audited in the same transaction. Signers can be
pinned (only they are trusted) and revoked (their signatures are rejected).
"""

from __future__ import annotations

from bastion.model._registry.repo import (
    KINDS,
    RISKS,
    STATES,
    Artifact,
    Registry,
    RegistryError,
    RegistryPolicy,
    Signer,
)

__all__ = ["KINDS", "RISKS", "STATES", "Artifact", "Registry", "RegistryError", "RegistryPolicy", "Signer"]
