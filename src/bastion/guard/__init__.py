"""Runtime guards and monitoring: prompt injection, leakage, extraction, adversarial inputs, drift.

Every detector implements the `bastion.core.plugins.Guard` protocol (``name``,
``directions``, ``check(GuardInput) -> GuardVerdict``), so the gateway's guard
chain runs them without knowing what they are, and the same objects serve the
Python API and ``bastion guard FILE``.
"""

from __future__ import annotations

from bastion.guard._base import RULES, BadFeatures, GuardTimeout, as_matrix
from bastion.guard._injection.classifier import ModelError
from bastion.guard._injection.detector import InjectionDetector, InjectionResult
from bastion.guard._injection.normalize import Normalized, normalize

__all__ = [
    "RULES",
    "BadFeatures",
    "GuardTimeout",
    "InjectionDetector",
    "InjectionResult",
    "ModelError",
    "Normalized",
    "as_matrix",
    "normalize",
]
