"""The store's one error type, kept apart so any layer can raise it without import cycles."""

from __future__ import annotations


class StoreError(Exception):
    """The store cannot be used; the message is one line naming the reason."""
