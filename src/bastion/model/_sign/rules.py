"""Every rule the supply-chain checks (signatures, registry, gate, environment) may emit.

Declared once so the control catalog and coverage reports see the whole set, and so
each gate reason maps to a finding with remediation and control references.
"""

from __future__ import annotations

from bastion.core.types import Rule, Severity

SCANNER_NAME = "supply"

_SUPPLY = ("owasp-llm:LLM03", "owasp-ml:ML06", "atlas:AML.T0010", "nist-ai-rmf:MANAGE-3.1")
_TAMPER = (*_SUPPLY, "owasp-ml:ML10", "eu-ai-act:Art.15")
_DATA = ("owasp-ml:ML02", "owasp-llm:LLM04", "eu-ai-act:Art.10", "iso42001:A.7.5", "atlas:AML.T0010")
_GOVERN = ("nist-ai-rmf:GOVERN-6.1", "nist-ai-rmf:MAP-4.2", "iso42001:A.6.2.5", "owasp-llm:LLM03")


def _rule(rid: str, title: str, sev: Severity, remediation: str, controls: tuple[str, ...] = _SUPPLY) -> Rule:
    return Rule(id=rid, title=title, severity=sev, controls=controls, remediation=remediation)


UNSIGNED = _rule(
    "supply.signature.missing",
    "Artifact has no signature",
    Severity.HIGH,
    "Sign the artifact (`bastion sign key ...`) before it is promoted, and keep the signature next to it.",
)
MALFORMED = _rule(
    "supply.signature.malformed",
    "Signature file cannot be parsed (truncated, not a Sigstore bundle, or not a model signature)",
    Severity.HIGH,
    "Obtain the signature again from the publisher; never accept an artifact whose signature does not parse.",
)
INVALID = _rule(
    "supply.signature.invalid",
    "Signature does not verify with the trusted key or certificate",
    Severity.CRITICAL,
    "Treat the artifact as tampered or counterfeit: do not load it, and re-obtain it from a trusted source.",
    _TAMPER,
)
UNTRUSTED = _rule(
    "supply.signature.untrusted",
    "Artifact is signed by an identity or key that is not trusted",
    Severity.HIGH,
    "Verify with the publisher's pinned key or certificate, or add the signer to the trusted signers after review.",
)
REVOKED = _rule(
    "supply.signature.revoked",
    "Artifact is signed by a revoked key",
    Severity.CRITICAL,
    "Reject the artifact and have it re-signed with a current key; investigate what else the key signed.",
    _TAMPER,
)
MODIFIED = _rule(
    "supply.integrity.modified",
    "A signed file has changed since it was signed",
    Severity.CRITICAL,
    "Do not load the artifact; restore it from the signed source and investigate the change.",
    _TAMPER,
)
ADDED = _rule(
    "supply.integrity.added",
    "A file was added to a signed artifact after signing",
    Severity.HIGH,
    "Remove the extra file or have the artifact re-signed after review; loaders may pick it up.",
    _TAMPER,
)
REMOVED = _rule(
    "supply.integrity.removed",
    "A signed file is missing from the artifact",
    Severity.HIGH,
    "Restore the missing file from the signed source.",
    _TAMPER,
)
UNSAFE_PATH = _rule(
    "supply.integrity.unsafe-path",
    "Artifact or manifest contains a path that escapes the artifact (symlink, `..`, absolute, duplicate)",
    Severity.CRITICAL,
    "Reject the artifact: a path outside the signed folder lets an attacker substitute content.",
    _TAMPER,
)
NOT_REGISTERED = _rule(
    "supply.registry.not-registered",
    "Artifact is not in the trusted registry",
    Severity.HIGH,
    "Register the artifact (`bastion registry add`) and take it through validation and approval.",
    _GOVERN,
)
NOT_APPROVED = _rule(
    "supply.registry.not-approved",
    "Artifact is registered but not approved for this stage",
    Severity.HIGH,
    "Have the artifact validated and approved (a second approver for high-risk assets) before deployment.",
    _GOVERN,
)
DIGEST_MISMATCH = _rule(
    "supply.registry.digest-mismatch",
    "Artifact's digest differs from the digest approved in the registry",
    Severity.CRITICAL,
    "Deploy exactly the approved bytes; a different digest means a different artifact.",
    _TAMPER,
)
SCAN_FINDINGS = _rule(
    "supply.scan.findings",
    "Model scanner reported findings at or above the policy threshold",
    Severity.HIGH,
    "Review the scanner findings; replace the artifact with a safe format or a trusted copy.",
)
DATA_MODIFIED = _rule(
    "supply.data.modified",
    "Dataset content changed since its manifest was signed",
    Severity.HIGH,
    "Re-validate the changed rows or restore the signed dataset before training.",
    _DATA,
)
DATA_PROVENANCE = _rule(
    "supply.data.provenance-missing",
    "Dataset manifest lacks required provenance (source, licence, collection date, collector)",
    Severity.MEDIUM,
    "Record provenance when the manifest is created (`bastion sign dataset --source ... --license ...`).",
    _DATA,
)
ENV_UNPINNED = _rule(
    "supply.env.unpinned",
    "Requirement is not pinned to an exact version",
    Severity.MEDIUM,
    "Pin with `==` (or a lock file) so a new, possibly compromised release is never installed silently.",
    ("owasp-llm:LLM03", "owasp-ml:ML06", "atlas:AML.T0010"),
)
ENV_UNHASHED = _rule(
    "supply.env.unhashed",
    "Requirement has no `--hash`, so a swapped distribution file would be installed",
    Severity.LOW,
    "Generate hashes (`pip-compile --generate-hashes` or `uv pip compile --generate-hashes`) and install "
    "with `--require-hashes`.",
    ("owasp-llm:LLM03", "owasp-ml:ML06", "atlas:AML.T0010"),
)
ENV_UNTRUSTED_INDEX = _rule(
    "supply.env.untrusted-index",
    "Package comes from outside the allowlisted package index",
    Severity.HIGH,
    "Install AI/ML packages only from the allowlisted index; review URL, VCS and local installs.",
    ("owasp-llm:LLM03", "owasp-ml:ML06", "atlas:AML.T0010", "atlas:AML.T0010.001"),
)

RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        UNSIGNED,
        MALFORMED,
        INVALID,
        UNTRUSTED,
        REVOKED,
        MODIFIED,
        ADDED,
        REMOVED,
        UNSAFE_PATH,
        NOT_REGISTERED,
        NOT_APPROVED,
        DIGEST_MISMATCH,
        SCAN_FINDINGS,
        DATA_MODIFIED,
        DATA_PROVENANCE,
        ENV_UNPINNED,
        ENV_UNHASHED,
        ENV_UNTRUSTED_INDEX,
    )
}
