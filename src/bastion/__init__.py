"""Bastion: one tool, one store, one audit trail and one policy for AI data security.

The public Python API. Names load lazily, so `import bastion` stays cheap and a
capability's optional dependencies are only needed when it is used:

    import bastion
    bastion.detect("mail maria@example.com")          # PII and secrets in text
    bastion.scan_model("model.pt")                    # malicious model files, never loaded
    bastion.sign_model("model_dir", private_key=...)  # OpenSSF model-signing format
    bastion.verify_model("model_dir", public_key=...)

Each capability's own module has the rest: `bastion.data.detect`, `bastion.data.protect`,
`bastion.discover`, `bastion.model.scan`, `bastion.model.sign`, `bastion.model.gate`,
`bastion.crypto`, `bastion.guard`, `bastion.gateway`, `bastion.scan`.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# Names never shadow a subpackage (`bastion.scan`, `bastion.discover`): once such a
# subpackage is imported, Python binds its name on this module.
_EXPORTS = {
    "detect": ("bastion.data.detect", "detect"),
    "discover_assets": ("bastion.discover", "discover"),
    "run_scan": ("bastion.scan", "run_scan"),
    "scan_model": ("bastion.model.scan", "scan_file"),
    "sign_model": ("bastion.model.sign", "sign_model"),
    "verify_model": ("bastion.model.sign", "verify_model"),
    "gate": ("bastion.model.gate", "check"),
    "protect_table": ("bastion.data.protect", "protect_table"),
    "load_settings": ("bastion.core.config", "load_settings"),
    "load_policy": ("bastion.core.policy", "load_policy"),
    "Store": ("bastion.core.store", "Store"),
    "Finding": ("bastion.core.types", "Finding"),
    "Asset": ("bastion.core.types", "Asset"),
    "Severity": ("bastion.core.types", "Severity"),
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    try:
        module, attr = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'bastion' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value
