"""Implementation of model signing and verification; the public API is `bastion.model.sign`.

Importing this package defers upstream's Sigstore signer module (see `_defer_sigstore`).
"""

from __future__ import annotations

import importlib
import sys
import threading
import types
from typing import Any

_SIGSTORE_SIGNER = "model_signing._signing.sign_sigstore"
_LOCK = threading.Lock()


class _Deferred(types.ModuleType):
    """A stand-in for a module, imported for real on first attribute access, then proxied.

    `model_signing`'s package `__init__` imports its Sigstore signer, which imports the
    `sigstore` client (TUF, Rekor types, requests): about 0.15 s of every `bastion sign`
    and `bastion verify`, although key and certificate signatures never use it (the
    upstream module reads it only inside functions). Bastion's own Sigstore verification
    imports `sigstore` where it needs it.
    """

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)  # the import system probes dunders; they must not load it
        with _LOCK:
            real = sys.modules.get(self.__name__)
            if real is self:
                del sys.modules[self.__name__]
                real = None
            if real is None:
                real = importlib.import_module(self.__name__)
        return getattr(real, attr)


def _defer_sigstore() -> None:
    """Put the stand-in in place before anything imports `model_signing` (no-op if it already did)."""
    if "model_signing" in sys.modules or _SIGSTORE_SIGNER in sys.modules:
        return
    sys.modules[_SIGSTORE_SIGNER] = _Deferred(_SIGSTORE_SIGNER)


_defer_sigstore()
