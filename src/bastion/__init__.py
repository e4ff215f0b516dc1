"""Bastion: one tool, one store, one audit trail and one policy for AI data security.

The public Python API lives here; each capability's implementation sits in its
own subpackage (`bastion.core`, `bastion.discover`, `bastion.data`,
`bastion.model`, ...).
"""

from __future__ import annotations

__version__ = "0.1.0"
