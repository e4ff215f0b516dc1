"""The trusted registry: artifacts by digest, their lifecycle, approvals and trusted signers.

Lifecycle: draft -> validated -> approved -> deployed -> retired (retired from any
state). Each step is guarded by `RegistryPolicy` and written, with its audit event,
in one store transaction, so a state and its audit record can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import Connection, select
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError

from bastion.core.store import Store, StoreError
from bastion.core.types import Severity, utcnow
from bastion.model._registry.schema import supply_approvals, supply_artifacts, supply_signers, supply_transitions

State = Literal["draft", "validated", "approved", "deployed", "retired"]
STATES: tuple[State, ...] = ("draft", "validated", "approved", "deployed", "retired")
KINDS = ("model", "dataset", "component")
RISKS = ("low", "high")
_NEXT: dict[str, tuple[str, ...]] = {
    "draft": ("validated", "retired"),
    "validated": ("approved", "draft", "retired"),
    "approved": ("deployed", "validated", "retired"),
    "deployed": ("approved", "retired"),
    "retired": (),
}


class RegistryError(ValueError):
    """A registry request that is refused; the message says which guard refused it."""


class RegistryPolicy(BaseModel):
    """What each transition requires; `[registry]` in a policy file, or the defaults."""

    model_config = ConfigDict(extra="forbid")

    require_signature: bool = True
    fail_on: Severity = Severity.HIGH
    low_risk_approvers: int = Field(default=1, ge=1, le=10)
    high_risk_approvers: int = Field(default=2, ge=1, le=10)
    approver_not_registrant: bool = True

    @field_validator("fail_on", mode="before")
    @classmethod
    def _sev(cls, value: Any) -> Severity:
        return Severity.parse(value)

    def approvers_needed(self, risk: str) -> int:
        return self.high_risk_approvers if risk == "high" else self.low_risk_approvers


@dataclass(slots=True)
class Artifact:
    id: int
    project: str
    name: str
    version: str
    kind: str
    uri: str
    digest: str
    signer: str | None
    scan: dict[str, Any]
    risk: str
    state: str
    registered_by: str
    created_at: datetime
    updated_at: datetime
    meta: dict[str, Any] = field(default_factory=dict)
    approvals: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "project": self.project,
            "name": self.name,
            "version": self.version,
            "kind": self.kind,
            "uri": self.uri,
            "digest": self.digest,
            "signer": self.signer,
            "scan": self.scan,
            "risk": self.risk,
            "state": self.state,
            "registered_by": self.registered_by,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "meta": self.meta,
            "approvals": self.approvals,
        }


@dataclass(frozen=True, slots=True)
class Signer:
    fingerprint: str
    identity: str
    status: str
    added_by: str
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "identity": self.identity,
            "status": self.status,
            "added_by": self.added_by,
            "reason": self.reason,
        }


def _artifact(row: Row[Any], approvals: list[dict[str, Any]] | None = None) -> Artifact:
    m = row._mapping
    return Artifact(
        id=int(m["id"]),
        project=m["project"],
        name=m["name"],
        version=m["version"],
        kind=m["kind"],
        uri=m["uri"],
        digest=m["digest"],
        signer=m["signer"],
        scan=dict(m["scan"] or {}),
        risk=m["risk"],
        state=m["state"],
        registered_by=m["registered_by"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        meta=dict(m["meta"] or {}),
        approvals=approvals or [],
    )


def _check_digest(digest: str) -> str:
    algo, _, value = digest.partition(":")
    if algo not in ("sha256", "blake2", "blake3") or not value or any(c not in "0123456789abcdef" for c in value):
        raise RegistryError(f"digest must look like sha256:<hex>, got {digest[:80]!r}")
    return digest


class Registry:
    """The registry of one project, over a `Store`."""

    def __init__(self, store: Store, project: str, policy: RegistryPolicy | None = None) -> None:
        self.store = store
        self.project = project
        self.policy = policy or RegistryPolicy()

    # -- artifacts ------------------------------------------------------------------------

    def register(
        self,
        *,
        name: str,
        version: str,
        kind: str,
        uri: str,
        digest: str,
        actor: str,
        risk: str = "low",
        signer: str | None = None,
        scan: dict[str, Any] | None = None,
        meta: dict[str, Any] | None = None,
    ) -> Artifact:
        if kind not in KINDS:
            raise RegistryError(f"kind must be one of {', '.join(KINDS)}")
        if risk not in RISKS:
            raise RegistryError(f"risk must be one of {', '.join(RISKS)}")
        if not name or len(name) > 256 or not version or len(version) > 64:
            raise RegistryError("name (1-256 chars) and version (1-64 chars) are required")
        _check_digest(digest)
        now = utcnow()
        try:
            with self.store._write() as conn:
                result = conn.execute(
                    supply_artifacts.insert().values(
                        project=self.project,
                        name=name,
                        version=version,
                        kind=kind,
                        uri=uri,
                        digest=digest,
                        signer=signer,
                        scan=scan or {},
                        risk=risk,
                        state="draft",
                        registered_by=actor,
                        created_at=now,
                        updated_at=now,
                        meta=meta or {},
                    )
                )
                (aid,) = result.inserted_primary_key or (0,)
                self.store.audit.append(
                    self.project,
                    "registry.registered",
                    actor,
                    f"{name}@{version}",
                    {"id": int(aid), "kind": kind, "digest": digest, "risk": risk, "signed": signer is not None},
                    session=conn,
                )
        except StoreError as exc:
            if isinstance(exc.__cause__, IntegrityError):
                raise RegistryError(f"{name}@{version} is already registered") from None
            raise
        found = self.get(f"{name}@{version}")
        assert found is not None
        return found

    def _row(self, conn: Connection, ref: str | int) -> Row[Any] | None:
        query = select(supply_artifacts).where(supply_artifacts.c.project == self.project)
        if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
            query = query.where(supply_artifacts.c.id == int(ref))
        else:
            name, sep, version = str(ref).rpartition("@")
            if not sep or not name:
                raise RegistryError(f"artifact reference {ref!r} must be NAME@VERSION or an id")
            query = query.where(supply_artifacts.c.name == name, supply_artifacts.c.version == version)
        return conn.execute(query).first()

    def get(self, ref: str | int) -> Artifact | None:
        with self.store._read() as conn:
            row = self._row(conn, ref)
            if row is None:
                return None
            return _artifact(row, self._approvals(conn, int(row.id)))

    def _approvals(self, conn: Connection, aid: int) -> list[dict[str, Any]]:
        rows = conn.execute(
            select(supply_approvals).where(supply_approvals.c.artifact_id == aid).order_by(supply_approvals.c.id)
        ).all()
        return [{"stage": r.stage, "actor": r.actor, "ts": r.ts.isoformat(), "note": r.note} for r in rows]

    def find_by_digest(self, digest: str) -> list[Artifact]:
        with self.store._read() as conn:
            rows = conn.execute(
                select(supply_artifacts)
                .where(supply_artifacts.c.project == self.project, supply_artifacts.c.digest == digest)
                .order_by(supply_artifacts.c.id)
            ).all()
            return [_artifact(r, self._approvals(conn, int(r.id))) for r in rows]

    def find_by_name(self, name: str) -> list[Artifact]:
        with self.store._read() as conn:
            rows = conn.execute(
                select(supply_artifacts)
                .where(supply_artifacts.c.project == self.project, supply_artifacts.c.name == name)
                .order_by(supply_artifacts.c.id)
            ).all()
            return [_artifact(r) for r in rows]

    def list_artifacts(self, state: str | None = None) -> list[Artifact]:
        query = select(supply_artifacts).where(supply_artifacts.c.project == self.project)
        if state is not None:
            query = query.where(supply_artifacts.c.state == state)
        with self.store._read() as conn:
            return [_artifact(r) for r in conn.execute(query.order_by(supply_artifacts.c.name, supply_artifacts.c.id))]

    def record_evidence(
        self, ref: str | int, *, actor: str, signer: str | None = None, scan: dict[str, Any] | None = None
    ) -> Artifact:
        """Attach verification and scan results (what `validated` is guarded on)."""
        with self.store._write() as conn:
            row = self._require(conn, ref)
            values: dict[str, Any] = {"updated_at": utcnow()}
            if signer is not None:
                values["signer"] = signer
            if scan is not None:
                values["scan"] = scan
            conn.execute(supply_artifacts.update().where(supply_artifacts.c.id == row.id).values(**values))
            self.store.audit.append(
                self.project,
                "registry.evidence",
                actor,
                f"{row.name}@{row.version}",
                {"id": int(row.id), "signed": signer is not None, "scan_passed": (scan or {}).get("passed")},
                session=conn,
            )
        found = self.get(int(row.id))
        assert found is not None
        return found

    def _require(self, conn: Connection, ref: str | int) -> Row[Any]:
        row = self._row(conn, ref)
        if row is None:
            raise RegistryError(f"artifact {ref} is not registered in project {self.project}")
        return row

    # -- lifecycle ------------------------------------------------------------------------

    def transition(self, ref: str | int, to: str, *, actor: str, note: str = "") -> Artifact:
        """Move an artifact to `to` if the policy allows; `approved` is reached via `approve`."""
        if to not in STATES:
            raise RegistryError(f"unknown state {to!r} (expected one of: {', '.join(STATES)})")
        with self.store._write() as conn:
            row = self._require(conn, ref)
            self._guard(conn, row, to, actor)
            self._move(conn, row, to, actor, note)
        found = self.get(int(row.id))
        assert found is not None
        return found

    def approve(self, ref: str | int, *, actor: str, note: str = "") -> Artifact:
        """Record one approval; the artifact becomes `approved` once enough distinct people approved."""
        with self.store._write() as conn:
            row = self._require(conn, ref)
            if row.state != "validated":
                raise RegistryError(
                    f"{row.name}@{row.version} is {row.state}; only validated artifacts can be approved"
                )
            if self.policy.approver_not_registrant and actor == row.registered_by:
                raise RegistryError(f"{actor} registered {row.name}@{row.version} and cannot also approve it")
            existing = {a["actor"] for a in self._approvals(conn, int(row.id)) if a["stage"] == "approved"}
            if actor in existing:
                raise RegistryError(f"{actor} has already approved {row.name}@{row.version}")
            conn.execute(
                supply_approvals.insert().values(
                    artifact_id=row.id, stage="approved", actor=actor, ts=utcnow(), note=note[:2000]
                )
            )
            needed = self.policy.approvers_needed(row.risk)
            have = len(existing) + 1
            self.store.audit.append(
                self.project,
                "registry.approval",
                actor,
                f"{row.name}@{row.version}",
                {"id": int(row.id), "approvals": have, "needed": needed, "risk": row.risk},
                session=conn,
            )
            if have >= needed:
                self._move(conn, row, "approved", actor, f"{have} approval(s)")
        found = self.get(int(row.id))
        assert found is not None
        return found

    def _guard(self, conn: Connection, row: Row[Any], to: str, actor: str) -> None:
        ref = f"{row.name}@{row.version}"
        if to not in _NEXT[row.state]:
            raise RegistryError(f"{ref}: {row.state} -> {to} is not an allowed transition")
        if to == "approved":
            raise RegistryError(
                f"{ref}: use approve; approval needs {self.policy.approvers_needed(row.risk)} approver(s)"
            )
        if to == "validated":
            if self.policy.require_signature and not row.signer:
                raise RegistryError(f"{ref}: cannot validate an unsigned artifact (verify its signature first)")
            if row.signer and self._revoked(conn, row.signer):
                raise RegistryError(f"{ref}: signer {row.signer[:16]}... is revoked")
            scan = row.scan or {}
            if "passed" not in scan:
                raise RegistryError(f"{ref}: cannot validate without a scan result (run the model scanner first)")
            if not scan["passed"]:
                raise RegistryError(f"{ref}: scan found issues at or above {self.policy.fail_on.label}")
        if to == "deployed" and row.signer and self._revoked(conn, row.signer):
            raise RegistryError(f"{ref}: signer {row.signer[:16]}... is revoked")

    def _move(self, conn: Connection, row: Row[Any], to: str, actor: str, note: str) -> None:
        now = utcnow()
        conn.execute(supply_artifacts.update().where(supply_artifacts.c.id == row.id).values(state=to, updated_at=now))
        conn.execute(
            supply_transitions.insert().values(
                artifact_id=row.id, from_state=row.state, to_state=to, actor=actor, ts=now, note=note[:2000]
            )
        )
        self.store.audit.append(
            self.project,
            "registry.transition",
            actor,
            f"{row.name}@{row.version}",
            {"id": int(row.id), "from": row.state, "to": to},
            session=conn,
        )

    def history(self, ref: str | int) -> list[dict[str, Any]]:
        with self.store._read() as conn:
            row = self._require(conn, ref)
            rows = conn.execute(
                select(supply_transitions)
                .where(supply_transitions.c.artifact_id == row.id)
                .order_by(supply_transitions.c.id)
            ).all()
        return [
            {"from": r.from_state, "to": r.to_state, "actor": r.actor, "ts": r.ts.isoformat(), "note": r.note}
            for r in rows
        ]

    # -- signers --------------------------------------------------------------------------

    def add_signer(self, fingerprint: str, identity: str, *, actor: str) -> Signer:
        fp = fingerprint.lower()
        if len(fp) != 64 or any(c not in "0123456789abcdef" for c in fp):
            raise RegistryError("signer fingerprint must be 64 hex characters (see `bastion sign keygen`)")
        try:
            with self.store._write() as conn:
                conn.execute(
                    supply_signers.insert().values(
                        project=self.project,
                        fingerprint=fp,
                        identity=identity[:256],
                        status="active",
                        added_by=actor,
                        added_at=utcnow(),
                    )
                )
                self.store.audit.append(
                    self.project, "registry.signer_added", actor, fp, {"identity": identity[:256]}, session=conn
                )
        except StoreError as exc:
            if isinstance(exc.__cause__, IntegrityError):
                raise RegistryError(f"signer {fp[:16]}... is already known") from None
            raise
        return Signer(fp, identity, "active", actor)

    def revoke_signer(self, fingerprint: str, *, actor: str, reason: str) -> Signer:
        fp = fingerprint.lower()
        with self.store._write() as conn:
            row = conn.execute(
                select(supply_signers).where(
                    supply_signers.c.project == self.project, supply_signers.c.fingerprint == fp
                )
            ).first()
            if row is None:
                conn.execute(
                    supply_signers.insert().values(
                        project=self.project,
                        fingerprint=fp,
                        identity="(unknown)",
                        status="revoked",
                        added_by=actor,
                        added_at=utcnow(),
                        revoked_by=actor,
                        revoked_at=utcnow(),
                        reason=reason[:2000],
                    )
                )
                identity = "(unknown)"
            else:
                conn.execute(
                    supply_signers.update()
                    .where(supply_signers.c.id == row.id)
                    .values(status="revoked", revoked_by=actor, revoked_at=utcnow(), reason=reason[:2000])
                )
                identity = row.identity
            self.store.audit.append(self.project, "registry.signer_revoked", actor, fp, {}, session=conn)
        return Signer(fp, identity, "revoked", actor, reason)

    def _revoked(self, conn: Connection, signer: str) -> bool:
        row = conn.execute(
            select(supply_signers.c.status).where(
                supply_signers.c.project == self.project, supply_signers.c.fingerprint == signer.lower()
            )
        ).first()
        return row is not None and row.status == "revoked"

    def signers(self) -> list[Signer]:
        with self.store._read() as conn:
            rows = conn.execute(
                select(supply_signers).where(supply_signers.c.project == self.project).order_by(supply_signers.c.id)
            ).all()
        return [Signer(r.fingerprint, r.identity, r.status, r.added_by, r.reason) for r in rows]

    def revoked_fingerprints(self) -> set[str]:
        return {s.fingerprint for s in self.signers() if s.status == "revoked"}

    def trusted_fingerprints(self) -> set[str] | None:
        """Active signers, or None when the project pins none (then any verified key is accepted)."""
        active = {s.fingerprint for s in self.signers() if s.status == "active"}
        return active or None
