"""The store: one database (SQLite by default, PostgreSQL by URL) for assets, scans,
findings and the audit chain, namespaced by project.

`Store.open` creates and migrates the database (Alembic, from code) and fails
with `StoreError` and a one-line reason rather than touching a file it cannot
understand. Every state-changing method writes its audit event in the same
transaction.
"""

from __future__ import annotations

from bastion.core.store._errors import StoreError
from bastion.core.store._store import Store

__all__ = ["Store", "StoreError"]
