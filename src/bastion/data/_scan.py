"""The `sensitive-data` scanner plug-in: secrets and PII in notebooks, configs, text and tables.

It turns detection results into `Finding`s for `bastion scan`: notebook cells and
their *stored outputs* (where a printed dataframe leaks customer data long after
the code is fixed), config and text files line by line, and tables per column.
Evidence is always masked. What cannot be parsed becomes a `data.unreadable`
finding (fail closed) and the file is still scanned as text where possible.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from bastion.core.plugins import ScanTarget
from bastion.core.types import Finding, Location, Rule, Severity
from bastion.data._detect.model import Entity
from bastion.data._detect.stream import detect_stream
from bastion.data._detect.tables import TableError, classify_table, table_format

SCANNER = "sensitive-data"
MAX_NOTEBOOK_BYTES = 256 << 20

_SECRET_CONTROLS = ("owasp-llm:LLM02", "gdpr:Art.32", "atlas:AML.T0055", "iso42001:A.7.4")
_PII_CONTROLS = ("gdpr:Art.5", "gdpr:Art.32", "owasp-llm:LLM02", "eu-ai-act:Art.10")

RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        Rule("data.secret", "Secret or credential in plain text", Severity.HIGH, _SECRET_CONTROLS,
             remediation="Revoke and rotate the credential, remove it from the file and its history, "
                         "and load it from a secret manager or environment at run time.",
             description="A token, key or password that grants access to a system."),
        Rule("data.secret.private-key", "Private key in plain text", Severity.CRITICAL, _SECRET_CONTROLS,
             remediation="Treat the key pair as compromised: issue a new one, revoke the old one, and keep "
                         "private keys in a key store or HSM."),
        Rule("data.pii", "Personal data in text", Severity.MEDIUM, _PII_CONTROLS,
             remediation="Remove, mask or pseudonymise the personal data (bastion protect), or record a "
                         "lawful basis and retention for it."),
        Rule("data.pii.sensitive-id", "Government, financial or health identifier", Severity.HIGH,
             (*_PII_CONTROLS, "gdpr:Art.9"),
             remediation="Tokenize or encrypt the identifier; it enables identity theft or fraud if leaked."),
        Rule("data.pii.notebook-output", "Personal data or secret in a stored notebook output", Severity.HIGH,
             (*_PII_CONTROLS, "atlas:AML.T0057"),
             remediation="Clear the outputs (jupyter nbconvert --clear-output) before sharing or committing "
                         "the notebook, and mask data before display."),
        Rule("data.pii.column", "Table column holds personal data", Severity.MEDIUM,
             ("gdpr:Art.5", "gdpr:Art.30", "gdpr:Art.32", "eu-ai-act:Art.10", "iso42001:A.7.4"),
             remediation="Classify the column in the inventory; minimise, pseudonymise or tokenize it before "
                         "training (bastion protect)."),
        Rule("data.secret.column", "Table column holds secrets", Severity.HIGH, _SECRET_CONTROLS,
             remediation="Drop the column from the dataset and rotate the credentials it holds."),
        Rule("data.unreadable", "File could not be fully parsed for sensitive data", Severity.LOW,
             ("iso42001:A.7.4", "gdpr:Art.32"),
             remediation="Repair or re-export the file; until then its content is unverified."),
    )
}  # fmt: skip

_SENSITIVE_IDS = frozenset(
    [
        "CREDIT_CARD",
        "IBAN_CODE",
        "US_SSN",
        "US_ITIN",
        "US_PASSPORT",
        "PASSPORT_NUMBER",
        "US_DRIVER_LICENSE",
        "US_BANK_ROUTING",
        "US_MBI",
        "UK_NHS",
        "UK_NINO",
        "DE_TAX_ID",
        "FR_NIR",
        "ES_DNI",
        "ES_NIE",
        "IT_FISCAL_CODE",
        "NL_BSN",
        "IN_AADHAAR",
        "IN_PAN",
        "CA_SIN",
        "AU_TFN",
        "AU_MEDICARE",
        "SG_NRIC",
        "BR_CPF",
        "PL_PESEL",
        "SE_PERSONNUMMER",
        "FI_HETU",
        "ZA_ID",
        "CN_RESIDENT_ID",
        "MX_CURP",
        "KR_RRN",
        "TR_TCKN",
    ]
)
_TEXT_SUFFIXES = frozenset(
    [
        ".txt",
        ".md",
        ".rst",
        ".prompt",
        ".jinja",
        ".j2",
        ".tmpl",
        ".tpl",
        ".log",
        ".yaml",
        ".yml",
        ".toml",
        ".json",
        ".ini",
        ".cfg",
        ".conf",
        ".env",
        ".properties",
        ".xml",
        ".py",
        ".sh",
        ".bash",
        ".zsh",
        ".ps1",
        ".js",
        ".ts",
        ".go",
        ".java",
        ".rb",
        ".php",
        ".tf",
        ".tfvars",
        ".hcl",
        ".sql",
        ".r",
        ".scala",
        ".kt",
        ".cs",
        ".dockerfile",
        ".html",
        ".htm",
        ".csv_",
        ".jsonc",
        ".netrc",
        ".npmrc",
        ".pypirc",
        ".pgpass",
    ]
)
_TEXT_NAMES = frozenset({".env", "dockerfile", ".netrc", ".npmrc", ".pypirc", ".pgpass", ".git-credentials",
                         "credentials", "config", "id_rsa", "id_ed25519", "id_ecdsa"})  # fmt: skip


def _rule_for(ent: Entity) -> Rule:
    if ent.kind == "secret":
        return RULES["data.secret.private-key"] if ent.entity_type.startswith("PRIVATE_KEY") else RULES["data.secret"]
    return RULES["data.pii.sensitive-id"] if ent.entity_type in _SENSITIVE_IDS else RULES["data.pii"]


class SensitiveDataScanner:
    """Scanner protocol implementation (entry point group `bastion.scanners`)."""

    name = SCANNER
    rules: Mapping[str, Rule] = RULES

    def __init__(self, detector: Any = None, *, full_tables: bool = False) -> None:
        self._detector = detector
        self.full_tables = full_tables

    @property
    def detector(self) -> Any:
        if self._detector is None:
            from bastion.data.detect import default_detector

            self._detector = default_detector()
        return self._detector

    def applies(self, target: ScanTarget) -> bool:
        p = target.path
        suffix = p.suffix.lower()
        name = p.name.lower()
        if suffix == ".ipynb" or table_format(p) is not None or suffix in _TEXT_SUFFIXES:
            return True
        if name in _TEXT_NAMES or name.startswith(".env"):
            return True
        return bool(target.asset is not None and target.asset.kind.value in ("prompt", "config", "secrets", "notebook"))

    def scan(self, target: ScanTarget) -> Iterable[Finding]:
        p = target.path
        if p.suffix.lower() == ".ipynb":
            return list(self._scan_notebook(target))
        if table_format(p) is not None:
            return list(self._scan_table(target))
        return list(self._scan_text(target))

    # --- text -----------------------------------------------------------------------------
    def _scan_text(self, target: ScanTarget) -> Iterator[Finding]:
        try:
            raw = target.path.open("rb")
        except OSError as exc:
            yield self._unreadable(target, f"cannot open: {exc.strerror or exc}")
            return
        with raw, io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="") as fh:
            for loc in detect_stream(fh, self.detector):
                yield self._finding(target, loc.entity, Location(target.relpath, line=loc.line, column=loc.column))
        if b"\x00" in target.head[:8192]:
            yield self._unreadable(target, "binary content (NUL bytes) in a text-type file; scanned as text")

    # --- notebooks ------------------------------------------------------------------------
    def _scan_notebook(self, target: ScanTarget) -> Iterator[Finding]:
        if target.size > MAX_NOTEBOOK_BYTES:
            yield self._unreadable(target, f"notebook larger than {MAX_NOTEBOOK_BYTES} bytes; scanned as text")
            yield from self._scan_text(target)
            return
        try:
            nb = json.loads(target.path.read_bytes().decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            yield self._unreadable(target, f"not a valid notebook JSON ({type(exc).__name__}); scanned as text")
            yield from self._scan_text(target)
            return
        cells = nb.get("cells") if isinstance(nb, dict) else None
        if not isinstance(cells, list):
            yield self._unreadable(target, "notebook has no 'cells' list; scanned as text")
            yield from self._scan_text(target)
            return
        for ci, cell in enumerate(cells):
            if not isinstance(cell, dict):
                yield self._unreadable(target, f"cell {ci} is not an object", pointer=f"cells/{ci}")
                continue
            yield from self._scan_snippet(target, _text_of(cell.get("source")), f"cells/{ci}/source", output=False)
            outputs = cell.get("outputs") or []
            if not isinstance(outputs, list):
                continue
            for oi, out in enumerate(outputs):
                if isinstance(out, dict):
                    yield from self._scan_snippet(target, _output_text(out), f"cells/{ci}/outputs/{oi}", output=True)

    def _scan_snippet(self, target: ScanTarget, text: str, pointer: str, *, output: bool) -> Iterator[Finding]:
        if not text:
            return
        for loc in detect_stream(io.StringIO(text), self.detector):
            ent = loc.entity
            rule = RULES["data.pii.notebook-output"] if output and ent.kind == "pii" else None
            yield self._finding(target, ent, Location(target.relpath, line=loc.line, column=loc.column,
                                                      pointer=pointer), rule=rule)  # fmt: skip

    # --- tables ----------------------------------------------------------------------------
    def _scan_table(self, target: ScanTarget) -> Iterator[Finding]:
        full = bool(target.options.get("full_tables", self.full_tables))
        try:
            report = classify_table(target.path, detector=self.detector, full=full)
        except (TableError, OSError) as exc:
            yield self._unreadable(target, str(exc).splitlines()[0])
            return
        for col in report.columns.values():
            for etype in col.classified():
                st = col.types[etype]
                is_secret = etype.isupper() and _is_secret_type(etype)
                rule = RULES["data.secret.column"] if is_secret else RULES["data.pii.column"]
                share = col.share(etype)
                sev = rule.severity
                if not is_secret and etype in _SENSITIVE_IDS:
                    sev = Severity.HIGH
                yield rule.finding(
                    asset_uri=target.uri,
                    location=Location(target.relpath, pointer=f"column:{col.name}"),
                    scanner=SCANNER,
                    evidence=f"{etype} in {st.rows}/{col.non_empty} rows ({share:.0%}), e.g. "
                    + ", ".join(st.examples),
                    confidence=round(min(1.0, st.max_score), 4),
                    severity=sev,
                    title=f"Column {col.name!r} holds {etype}",
                    properties={"entity_type": etype, "share": round(share, 4), "rows": st.rows,
                                "rows_scanned": report.rows, "complete": report.complete, "hints": col.hints},
                )  # fmt: skip
        if report.bad_rows:
            yield self._unreadable(
                target, f"{report.bad_rows} malformed row(s) skipped: " + "; ".join(report.warnings[:3])
            )

    # --- helpers ------------------------------------------------------------------------------
    def _finding(self, target: ScanTarget, ent: Entity, loc: Location, rule: Rule | None = None) -> Finding:
        rule = rule or _rule_for(ent)
        return rule.finding(
            asset_uri=target.uri,
            location=loc,
            scanner=SCANNER,
            evidence=f"{ent.entity_type}: {ent.masked}",
            confidence=ent.score,
            title=f"{rule.title}: {ent.entity_type}",
            properties={"entity_type": ent.entity_type, "kind": ent.kind, "explanation": ent.explanation},
        )

    def _unreadable(self, target: ScanTarget, why: str, pointer: str | None = None) -> Finding:
        return RULES["data.unreadable"].finding(
            asset_uri=target.uri,
            location=Location(target.relpath, pointer=pointer),
            scanner=SCANNER,
            evidence=why,
        )


def _is_secret_type(etype: str) -> bool:
    from bastion.data._detect.catalog_secrets import SECRET_PATTERNS

    return etype in {p.entity_type for p in SECRET_PATTERNS}


def _text_of(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(v for v in value if isinstance(v, str))
    return ""


_TEXT_MIMES = ("text/plain", "text/html", "text/markdown", "application/json", "text/latex", "text/csv")


def _output_text(out: dict[str, Any]) -> str:
    kind = out.get("output_type")
    if kind == "stream":
        return _text_of(out.get("text"))
    if kind == "error":
        return "\n".join(_text_of(t) if not isinstance(t, str) else t for t in out.get("traceback") or [])
    data = out.get("data")
    if isinstance(data, dict):
        parts = []
        for mime in _TEXT_MIMES:
            if mime in data:
                v = data[mime]
                parts.append(
                    json.dumps(v) if isinstance(v, dict | list) and mime == "application/json" else _text_of(v)
                )
        return "\n".join(parts)
    return ""


def scan_path(path: str | Path) -> list[Finding]:
    """Convenience for tests and the CLI: scan one file outside the orchestrator."""
    p = Path(path)
    with p.open("rb") as fh:
        head = fh.read(64 << 10)
    target = ScanTarget(path=p, relpath=p.name, size=p.stat().st_size, head=head)
    return list(SensitiveDataScanner().scan(target))
