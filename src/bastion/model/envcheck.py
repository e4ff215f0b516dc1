"""Python environment check: which AI/ML packages are installed, and from where.

    from bastion.model.envcheck import check_environment
    report = check_environment(requirements=[Path("requirements.txt")],
                               allowed_indexes=["https://pypi.org/simple"])
    report.assets()      # AI/ML packages as AI-BOM components (`bastion.discover` BOM)
    report.findings      # unpinned / unhashed / outside the allowlisted index

Reads distribution metadata only (nothing is imported), so an environment holding a
malicious package can be inspected safely.
"""

from __future__ import annotations

from bastion.model._envcheck.core import (
    AI_PACKAGES,
    DEFAULT_INDEXES,
    EnvReport,
    Package,
    ai_category,
    check_environment,
    check_requirements,
    inventory,
)

__all__ = [
    "AI_PACKAGES",
    "DEFAULT_INDEXES",
    "EnvReport",
    "Package",
    "ai_category",
    "check_environment",
    "check_requirements",
    "inventory",
]
