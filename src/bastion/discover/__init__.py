"""Discovery: find AI assets by content, inventory them, trace lineage, write the AI-BOM.

The public surface is deliberately small; the implementation lives in private
modules so it can change without breaking callers.
"""

from __future__ import annotations

from bastion.discover._digest import digest_file
from bastion.discover._sniff import identify
from bastion.discover._types import HEAD_SIZE, WalkItem, WalkProblem
from bastion.discover._walk import walk

__all__ = ["HEAD_SIZE", "WalkItem", "WalkProblem", "digest_file", "identify", "walk"]
