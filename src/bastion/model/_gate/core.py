"""The deployment gate: one decision, with every reason, from signature, registry and scanner."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bastion import __version__
from bastion.core.policy import Policy
from bastion.core.report_model import ScanReport
from bastion.core.types import Finding, Location, utcnow
from bastion.model._registry.repo import Registry
from bastion.model._sign import rules as R
from bastion.model._sign.core import content_digest, default_signature_path, verify_model
from bastion.model._sign.hashing import UnsafePathError
from bastion.model._sign.model import VerifyResult

STAGES: dict[str, tuple[str, ...] | None] = {
    "deploy": ("approved", "deployed"),
    "train": ("validated", "approved", "deployed"),
    "validate": None,
}
Scan = Callable[[Path], list[Finding]]


@dataclass(slots=True)
class GateResult:
    artifact: str
    stage: str
    passed: bool = True
    digest: str | None = None
    reasons: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    verify: VerifyResult | None = None
    registry: dict[str, Any] | None = None
    started_at: Any = field(default_factory=utcnow)

    def block(self, rule_id: str, reason: str, path: str | None = None) -> None:
        self.passed = False
        self.reasons.append(reason)
        rule = R.RULES[rule_id]
        self.findings.append(
            rule.finding(
                asset_uri=self.artifact,
                location=Location(path=self.artifact, pointer=f"file:{path}" if path else None),
                scanner=R.SCANNER_NAME,
                evidence=reason[:1000],
                properties={"stage": self.stage},
            )
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "artifact": self.artifact,
            "stage": self.stage,
            "passed": self.passed,
            "digest": self.digest,
            "reasons": self.reasons,
            "verify": self.verify.to_dict() if self.verify else None,
            "registry": self.registry,
            "findings": [f.to_dict() for f in self.findings],
        }

    def to_report(self, project: str = "default") -> ScanReport:
        """The gate's outcome as a report, so SARIF/JSON/HTML renderers apply unchanged."""
        return ScanReport(
            scan_id=str(uuid.uuid4()),
            project=project,
            root=self.artifact,
            started_at=self.started_at,
            finished_at=utcnow(),
            tool_version=__version__,
            findings=list(self.findings),
            decision={"passed": self.passed, "threshold": self.stage, "reasons": list(self.reasons)},
            stats={"gate_stage": self.stage, "digest": self.digest},
        )

    def write_sarif(self, path: Path, project: str = "default") -> Path:
        from bastion.model._sign.rules import RULES
        from bastion.report import to_sarif

        path.parent.mkdir(parents=True, exist_ok=True)
        rules: dict[str, Any] = dict(RULES)
        try:
            from bastion.model.scan import RULES as SCAN_RULES

            rules.update(SCAN_RULES)
        except ImportError:  # pragma: no cover - scanner always ships with bastion
            pass
        path.write_text(json.dumps(to_sarif(self.to_report(project), rules), indent=2) + "\n", encoding="utf-8")
        return path


def default_scan(path: Path) -> list[Finding]:
    from bastion.model.scan import scan_file

    return scan_file(path)


def check(
    artifact: str | Path,
    *,
    stage: str = "deploy",
    signature: str | Path | None = None,
    public_key: str | Path | None = None,
    certificate_chain: Sequence[str | Path] = (),
    identity: str | None = None,
    oidc_issuer: str | None = None,
    trust_config: str | Path | None = None,
    registry: Registry | None = None,
    policy: Policy | None = None,
    scan: Scan | None = default_scan,
    actor: str = "gate",
) -> GateResult:
    """Decide whether `artifact` may pass `stage`; every reason is listed, none short-circuits.

    Blocks when the artifact is unsigned, tampered, signed by an untrusted or revoked
    identity, not approved in the registry (or approved with other bytes), or when the
    scanner reports findings at or above the policy threshold.
    """
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r} (expected one of: {', '.join(STAGES)})")
    path = Path(artifact)
    if not path.exists():
        raise FileNotFoundError(2, "No such file or directory", str(path))
    policy = policy or Policy()
    result = GateResult(artifact=str(path), stage=stage)
    sig = Path(signature) if signature is not None else _find_signature(path)
    revoked = registry.revoked_fingerprints() if registry else set()
    trusted = registry.trusted_fingerprints() if registry else None
    # 1. signature
    if public_key is None and not certificate_chain and not (identity and oidc_issuer):
        if sig is None or not sig.is_file():
            result.block(R.UNSIGNED.id, "unsigned: no signature found next to the artifact")
        else:
            result.block(R.UNTRUSTED.id, "no trust anchor given: pass a public key, certificate chain or identity")
    else:
        v = verify_model(
            path,
            sig,
            public_key=public_key,
            certificate_chain=certificate_chain,
            identity=identity,
            oidc_issuer=oidc_issuer if not certificate_chain else None,
            trust_config=trust_config,
            revoked=revoked,
            trusted_signers=trusted,
        )
        result.verify = v
        for p in v.problems:
            label = {
                R.UNSIGNED.id: "unsigned",
                R.MALFORMED.id: "bad signature",
                R.INVALID.id: "tampered",
                R.MODIFIED.id: "tampered",
                R.ADDED.id: "tampered",
                R.REMOVED.id: "tampered",
                R.UNSAFE_PATH.id: "unsafe",
                R.UNTRUSTED.id: "untrusted signer",
                R.REVOKED.id: "revoked signer",
            }.get(p.rule_id, "signature")
            result.block(p.rule_id, f"{label}: {p.message}", p.path)
    # 2. registry
    try:
        if (
            result.verify is not None
            and result.verify.ok
            and result.verify.serialization.get("method") == "files"
            and result.verify.serialization.get("hash_type") == "sha256"
        ):
            result.digest = f"sha256:{result.verify.root_digest}"
        else:
            result.digest = content_digest(path, ignore_paths=[sig] if sig else [])
    except UnsafePathError as exc:
        if not any(f.rule_id == R.UNSAFE_PATH.id for f in result.findings):
            result.block(R.UNSAFE_PATH.id, f"unsafe: {exc}", exc.path)
    wanted = STAGES[stage]
    if registry is not None and wanted is not None:
        _check_registry(result, registry, path, wanted)
    # 3. scanner
    if scan is not None:
        _check_scan(result, path, scan, policy, sig)
    if registry is not None:
        registry.store.audit.append(
            registry.project,
            "gate.decision",
            actor,
            result.artifact[:512],
            {
                "stage": stage,
                "passed": result.passed,
                "digest": result.digest,
                "reasons": len(result.reasons),
                "rules": sorted({f.rule_id for f in result.findings if f.scanner == R.SCANNER_NAME}),
            },
        )
    return result


def _find_signature(path: Path) -> Path | None:
    candidates = [default_signature_path(path)]
    if path.is_dir():
        candidates.append(path / "model.sig")
    return next((c for c in candidates if c.is_file()), None)


def _check_registry(result: GateResult, registry: Registry, path: Path, wanted: tuple[str, ...]) -> None:
    found = registry.find_by_digest(result.digest) if result.digest else []
    if found:
        best = next((a for a in found if a.state in wanted), found[-1])
        result.registry = {"ref": best.ref, "state": best.state, "risk": best.risk, "approvals": best.approvals}
        if best.state not in wanted:
            result.block(
                R.NOT_APPROVED.id,
                f"not approved: {best.ref} is {best.state}; {result.stage} needs {' or '.join(wanted)}",
            )
        return
    by_name = [a for a in registry.find_by_name(path.name) if a.state in wanted]
    if by_name:
        a = by_name[-1]
        result.registry = {"ref": a.ref, "state": a.state, "digest": a.digest}
        result.block(
            R.DIGEST_MISMATCH.id,
            f"not approved: {a.ref} was approved with digest {a.digest[:23]}..., this artifact is "
            f"{(result.digest or '?')[:23]}...",
        )
        return
    result.block(R.NOT_REGISTERED.id, "not approved: artifact is not in the trusted registry")


def _finding_file(path: Path, uri: str) -> Path:
    """The file a scanner finding is about: `scan_path` names files relative to the folder's parent."""
    p = Path(uri)
    if p.is_absolute():
        return p
    return (path.parent / p) if path.is_dir() else p


def _is_signature(path: Path, sig: Path | None, uri: str) -> bool:
    """True only for findings about the signature file itself (same resolved path).

    A signature stored inside the model folder is JSON the model scanner does not
    recognise; its findings are noise. Matching by name (or name suffix) instead of by
    resolved path would let a trojan called like the signature (`evil-model.sig`)
    through the gate, so nothing but the exact file is excluded.
    """
    if sig is None:
        return False
    try:
        return _finding_file(path, uri).resolve() == sig.resolve()
    except (OSError, RuntimeError):
        return False


def _check_scan(result: GateResult, path: Path, scan: Scan, policy: Policy, sig: Path | None) -> None:
    try:
        findings = scan(path)
    except (OSError, ValueError) as exc:
        result.block(R.SCAN_FINDINGS.id, f"scanner failed: {exc}")
        return
    findings = [f for f in findings if not _is_signature(path, sig, f.asset_uri)]
    decision = policy.evaluate(findings)
    result.findings.extend(findings)
    if not decision.passed:
        worst = max((f.severity for f in findings), default=None)
        detail = "; ".join(decision.reasons[:3])
        result.block(
            R.SCAN_FINDINGS.id,
            f"scanner findings at or above {policy.fail_on.label}"
            + (f" (worst {worst.label})" if worst is not None else "")
            + f": {detail}",
        )
