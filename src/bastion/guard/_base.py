"""What every runtime guard shares: its rules, its failure mode, and safe input coercion.

A guard runs inside the gateway's hot path, so it must never raise and never
take the gateway down. `run_guarded` turns an exception or an over-budget check
into a verdict that follows the guard's own fail-open/fail-closed setting; the
gateway may enforce a stricter budget on top, but a guard that is used from the
CLI or the Python API gets the same behaviour without the gateway.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from bastion.core.plugins import GuardInput, GuardVerdict
from bastion.core.types import Rule, Severity

_LLM01 = ("owasp-llm:LLM01", "atlas:AML.T0051", "nist-ai-rmf:MEASURE-2.7", "eu-ai-act:Art.15")

RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        Rule(
            "guard.injection",
            "Prompt injection or jailbreak attempt",
            Severity.HIGH,
            (*_LLM01, "atlas:AML.T0054"),
            "Block or quarantine the request; for indirect content, strip the document from the context.",
        ),
        Rule(
            "guard.obfuscation",
            "Obfuscated or smuggled content in a prompt (invisible, tag, bidi or encoded text)",
            Severity.MEDIUM,
            _LLM01,
            "Normalise input before it reaches the model; reject invisible and tag characters.",
        ),
        Rule(
            "guard.leak.pii",
            "Sensitive data (PII or secret) in model output",
            Severity.HIGH,
            ("owasp-llm:LLM02", "gdpr:Art.32", "atlas:AML.T0057", "iso42001:A.6.2.6"),
            "Redact the response; find out how the value reached the model's context.",
        ),
        Rule(
            "guard.leak.system_prompt",
            "System prompt or canary token leaked in model output",
            Severity.HIGH,
            ("owasp-llm:LLM07", "atlas:AML.T0056"),
            "Block the response; keep secrets out of system prompts.",
        ),
        Rule(
            "guard.unsafe_link",
            "Unsafe link in model output (data-exfiltration URL, non-allowlisted host, script scheme)",
            Severity.MEDIUM,
            ("owasp-llm:LLM05", "owasp-llm:LLM02"),
            "Strip links to hosts outside the allowlist; never render model-made image URLs.",
        ),
        Rule(
            "guard.extraction",
            "Model-extraction query pattern from one client",
            Severity.HIGH,
            ("owasp-ml:ML05", "atlas:AML.T0024.002", "owasp-llm:LLM10", "nist-ai-rmf:MEASURE-2.7"),
            "Throttle or suspend the client; return labels only, not scores.",
        ),
        Rule(
            "guard.ood",
            "Adversarial or out-of-distribution input to a model",
            Severity.MEDIUM,
            ("owasp-ml:ML01", "atlas:AML.T0043", "atlas:AML.T0015", "eu-ai-act:Art.15"),
            "Reject or route the input to review; retrain with adversarial examples if frequent.",
        ),
        Rule(
            "guard.bad_input",
            "Malformed input to a model (NaN, infinity, wrong shape)",
            Severity.MEDIUM,
            ("owasp-ml:ML01", "eu-ai-act:Art.15"),
            "Validate feature vectors at the API boundary.",
        ),
        Rule(
            "monitor.drift",
            "Data or prediction drift against the reference distribution",
            Severity.MEDIUM,
            ("owasp-ml:ML08", "nist-ai-rmf:MEASURE-2.4", "nist-ai-rmf:MANAGE-4.1", "eu-ai-act:Art.72"),
            "Investigate the drifting features; retrain or roll back if the shift is real.",
        ),
    )
}


class GuardTimeout(RuntimeError):
    """A check ran past its time budget."""


Clock = Callable[[], float]


class Budget:
    """A cooperative deadline: long checks poll it between windows instead of being killed.

    The clock is injectable so that budget behaviour is tested with a clock the test
    drives, not with wall time that a loaded machine stretches.
    """

    __slots__ = ("clock", "deadline")

    def __init__(self, ms: float | None, clock: Clock = time.perf_counter) -> None:
        self.clock = clock
        self.deadline = None if ms is None else clock() + ms / 1000.0

    def check(self) -> None:
        if self.deadline is not None and self.clock() > self.deadline:
            raise GuardTimeout("time budget exceeded")


def failure_verdict(name: str, fail_closed: bool, reason: str) -> GuardVerdict:
    """The verdict for a guard that could not judge: block when fail-closed, pass (flagged) when open."""
    return GuardVerdict(
        allowed=not fail_closed,
        score=1.0 if fail_closed else 0.0,
        reasons=[f"{name}: {reason}"],
        details={"error": reason, "fail_closed": fail_closed},
    )


def run_guarded(
    name: str, fail_closed: bool, fn: Callable[[GuardInput], GuardVerdict], item: GuardInput
) -> GuardVerdict:
    """Run one check; every exception becomes a value-free verdict in the guard's failure mode."""
    try:
        return fn(item)
    except GuardTimeout:
        return failure_verdict(name, fail_closed, "timeout")
    except MemoryError:
        return failure_verdict(name, fail_closed, "out of memory")
    except Exception as exc:  # a guard must never take the gateway down
        return failure_verdict(name, fail_closed, f"internal error ({type(exc).__name__})")


class BadFeatures(ValueError):
    """Features that are not a finite numeric matrix of the expected width."""


def as_matrix(features: Any, width: int | None = None, *, max_rows: int = 100_000) -> np.ndarray:
    """Coerce one row or a batch of rows into a finite float64 matrix, or raise `BadFeatures`.

    Why so strict: NaN and infinity silently poison distances and densities
    (a NaN distance compares False with every threshold, so the detector would
    pass exactly the inputs an attacker crafts).
    """
    if features is None:
        raise BadFeatures("no features")
    try:
        arr = np.asarray(features, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise BadFeatures("features are not numeric") from None
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise BadFeatures(f"features must be rows of numbers, got shape {tuple(arr.shape)}")
    if arr.shape[0] > max_rows:
        raise BadFeatures(f"batch of {arr.shape[0]} rows exceeds {max_rows}")
    if width is not None and arr.shape[1] != width:
        raise BadFeatures(f"expected {width} features per row, got {arr.shape[1]}")
    if not np.isfinite(arr).all():
        raise BadFeatures("features contain NaN or infinity")
    return arr


def sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)
