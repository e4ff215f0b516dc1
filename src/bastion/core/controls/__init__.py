"""The control catalog: OWASP LLM/ML Top 10, MITRE ATLAS, NIST AI RMF, EU AI Act, GDPR, ISO/IEC 42001.

Findings, rules and policies cite controls as ``framework:id`` references
(``owasp-llm:LLM02``, ``atlas:AML.T0010``, ``nist-ai-rmf:GV-1.6``). This module
turns those references into titled, linked `Control` records so reports can
explain *why* a finding matters, and so a test can prove no rule cites a control
that does not exist. The catalog ships identifiers and short titles in our own
words; the frameworks' texts stay at their URLs.
"""

from __future__ import annotations

from bastion.core.controls._catalog import (
    FRAMEWORK_ORDER,
    Catalog,
    Framework,
    UnknownControlError,
    catalog,
)
from bastion.core.types import Control

__all__ = [
    "FRAMEWORK_ORDER",
    "Catalog",
    "Control",
    "Framework",
    "UnknownControlError",
    "catalog",
    "frameworks",
    "get",
    "resolve",
    "validate_refs",
]


def get(ref: str) -> Control:
    """Shortcut for ``catalog().get(ref)``."""
    return catalog().get(ref)


def resolve(ref: str) -> Control | None:
    """Shortcut for ``catalog().resolve(ref)``."""
    return catalog().resolve(ref)


def frameworks() -> list[str]:
    return catalog().frameworks()


def validate_refs(refs: list[str] | tuple[str, ...]) -> list[str]:
    return catalog().validate_refs(refs)
