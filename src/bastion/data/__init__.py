"""Data engines: sensitive-data detection (PII and secrets) in text, streams and tables."""

from __future__ import annotations

from bastion.data.detect import Detector, Entity, catalog, default_detector, detect

__all__ = ["Detector", "Entity", "catalog", "default_detector", "detect"]
