"""Signed integrity manifests for datasets, with provenance, checked before training.

    from bastion.data.manifest import sign_dataset, verify_dataset
    sign_dataset("data/transactions", private_key="signing.pem", provenance={
        "source": "core-banking export", "license": "internal", "collected": "2026-10-01",
        "collector": "data-eng", "transformations": ["protected by policy pii-tokenize"]})
    result = verify_dataset("data/transactions", public_key="signing.pub")
    for c in result.changed:
        print(c.message())        # e.g. "tx.parquet: rows 200000-299999 changed"

Per-file digests use the OpenSSF model-signing format (the upstream CLI verifies
the folder too); Parquet row groups and CSV/JSONL line blocks get their own digests
so a change is located, not just detected.
"""

from __future__ import annotations

from bastion.data._manifest.core import (
    DEFAULT_CHUNK_ROWS,
    EXTENSION,
    ChangedRows,
    Chunk,
    DatasetVerifyResult,
    Provenance,
    line_chunks,
    parquet_chunks,
    sign_dataset,
    verify_dataset,
)

__all__ = [
    "DEFAULT_CHUNK_ROWS",
    "EXTENSION",
    "ChangedRows",
    "Chunk",
    "DatasetVerifyResult",
    "Provenance",
    "line_chunks",
    "parquet_chunks",
    "sign_dataset",
    "verify_dataset",
]
