"""Rules the orchestrator itself emits: what could not be scanned is a finding (fail closed)."""

from __future__ import annotations

from bastion.core.types import Rule, Severity

_RESILIENCE = ("nist-ai-rmf:MEASURE-2.7", "iso42001:A.6.2.4")

SCAN_ERROR = Rule(
    id="scan.error",
    title="A scanner failed on this file, so it was not fully checked",
    severity=Severity.MEDIUM,
    controls=_RESILIENCE,
    remediation="Inspect the file by hand or report the scanner failure; treat the file as untrusted until then.",
)
SCAN_TIMEOUT = Rule(
    id="scan.timeout",
    title="Scanning this file ran past its time budget, so it was not fully checked",
    severity=Severity.MEDIUM,
    controls=_RESILIENCE,
    remediation="Raise scan.timeout_per_file for this file if it is large but legitimate; otherwise quarantine it.",
)
SCAN_UNREADABLE = Rule(
    id="scan.unreadable",
    title="A file or folder could not be read or walked, so it was not checked",
    severity=Severity.LOW,
    controls=_RESILIENCE,
    remediation="Fix the permissions, the broken or looping link, or exclude the path explicitly.",
)
SCAN_TOO_LARGE = Rule(
    id="scan.too-large",
    title="File is larger than the scan size limit and was not checked",
    severity=Severity.LOW,
    controls=_RESILIENCE,
    remediation="Raise scan.max_file_size or exclude the file explicitly.",
)

CORE_RULES = {r.id: r for r in (SCAN_ERROR, SCAN_TIMEOUT, SCAN_UNREADABLE, SCAN_TOO_LARGE)}
