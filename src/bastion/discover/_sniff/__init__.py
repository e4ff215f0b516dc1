"""Format identification by content: the dispatcher over all sniffers.

Binary signatures are tried first (each a few byte comparisons), then pickle and
compressed wrappers, then text. File names are never consulted, except the
marker names that define folder assets, whose content is still checked.
"""

from __future__ import annotations

import logging

from bastion.core.types import Asset
from bastion.discover._sniff._base import Ctx
from bastion.discover._sniff._binary import SNIFFERS
from bastion.discover._sniff._folders import identify_folder
from bastion.discover._sniff._pickle import sniff_compressed, sniff_pickle
from bastion.discover._sniff._text import decode_text, sniff_text
from bastion.discover._sniff._zip import sniff_zip
from bastion.discover._types import WalkItem

log = logging.getLogger(__name__)
_PROTO0_START = frozenset((b"(", b"c", b"]", b"}", b"l", b"K"))


def sniff(c: Ctx) -> Asset | None:
    h = c.head
    if not h:
        return None
    text = decode_text(h) if h[0] >= 0x20 or h[0] in (0x09, 0x0A, 0x0D) else None
    if text is not None:
        # NUL-free UTF-8: only text formats and protocol-0 pickles can look like this
        return sniff_pickle(c) if h[:1] in _PROTO0_START else sniff_text(c, text)
    if h.startswith(b"PK\x03\x04"):
        return sniff_zip(c)
    for s in SNIFFERS:
        found = s(c)
        if found is not None:
            return found
    found = sniff_pickle(c)
    if found is not None:
        return found
    return sniff_compressed(c, sniff)


def identify(item: WalkItem, *, project: str = "default") -> Asset | None:
    """The AI asset `item` is, or None. Header reads only; never raises on hostile input."""
    try:
        if item.is_dir:
            asset = identify_folder(item.relpath, item.size, item.head, item.members)
        else:
            asset = sniff(Ctx(item.relpath, item.path, item.size, item.head))
    except Exception as exc:  # a sniffer bug must not stop a scan; the file is still reported
        log.warning("identification of %s failed: %s", item.relpath, type(exc).__name__)
        from bastion.core.types import AssetKind

        asset = Asset(
            item.relpath,
            AssetKind.OTHER,
            "unknown",
            size=item.size,
            confidence=0.0,
            tags={"problems": [f"identification failed: {type(exc).__name__}"]},
        )
    if asset is not None:
        asset.project = project
        asset.uri = item.relpath
        if item.is_dir:
            asset.tags["folder"] = True
    return asset
