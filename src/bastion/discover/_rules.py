"""The rules discovery can raise, declared up front with their control references."""

from __future__ import annotations

from bastion.core.types import Rule, Severity

SCANNER = "discover"

MODEL_NO_OWNER = Rule(
    id="discover.asset.no-owner",
    title="AI asset has no owner",
    severity=Severity.LOW,
    controls=("nist-ai-rmf:GOVERN-1.6", "iso42001:A.4.2", "atlas:AML.M0023"),
    remediation="Name an owner in bastion.toml [owners], in CODEOWNERS, or commit the file to git.",
    description="Models, datasets and vector stores nobody owns are never reviewed, patched or retired.",
)
MODEL_UNREGISTERED = Rule(
    id="discover.model.unregistered",
    title="Unregistered model next to a registered one",
    severity=Severity.MEDIUM,
    controls=("nist-ai-rmf:GOVERN-1.6", "atlas:AML.M0023", "iso42001:A.4.2"),
    remediation="Register the model (MLflow / Hugging Face folder with a config) or remove the stray copy.",
    description="A loose model file beside a registered one is usually an unreviewed variant or a leftover.",
)
MODEL_DUPLICATE = Rule(
    id="discover.model.duplicate",
    title="The same model is stored in several places",
    severity=Severity.LOW,
    controls=("nist-ai-rmf:GOVERN-1.6", "atlas:AML.M0023"),
    remediation="Keep one registered copy and reference it; copies drift out of patching and access control.",
)
MODEL_API_KEY = Rule(
    id="discover.secrets.model-api-key",
    title="Model API key stored in a file",
    severity=Severity.HIGH,
    controls=("owasp-llm:LLM02", "atlas:AML.T0055", "gdpr:Art.32"),
    remediation="Revoke the key, remove it from the file (and notebook outputs), load it from a secret store.",
    description="A model-provider key in an .env file or a notebook output leaks with every copy of the file.",
)
DATASET_PII_PLAIN = Rule(
    id="discover.dataset.pii-unencrypted",
    title="Dataset with personal data stored unencrypted",
    severity=Severity.HIGH,
    controls=("gdpr:Art.32", "eu-ai-act:Art.10", "iso42001:A.7.5"),
    remediation="Tokenize or pseudonymise the personal columns, or encrypt the file at rest (bastion protect).",
)
ASSET_UNPARSEABLE = Rule(
    id="discover.asset.malformed",
    title="AI asset whose header cannot be parsed",
    severity=Severity.MEDIUM,
    controls=("owasp-ml:ML06", "atlas:AML.T0010"),
    remediation="Re-obtain the file from a trusted source; a file that lies about its format can hide a payload.",
    description="Fail closed: a truncated or inconsistent header is reported, never silently skipped.",
)

RULES: dict[str, Rule] = {
    r.id: r
    for r in (MODEL_NO_OWNER, MODEL_UNREGISTERED, MODEL_DUPLICATE, MODEL_API_KEY, DATASET_PII_PLAIN, ASSET_UNPARSEABLE)
}
