"""Detection over inputs larger than memory: overlapping windows, constant memory.

Each window reaches `overlap` characters before and after the slice it is
responsible for, and only entities *starting* inside that slice are emitted.
So any entity no longer than `overlap` is seen whole by exactly one window, and
the context words in front of it are there too; no entity is lost or doubled at
a chunk boundary.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

from bastion.data._detect.model import Entity

if TYPE_CHECKING:
    from bastion.data.detect import Detector

DEFAULT_CHUNK = 1 << 20
DEFAULT_OVERLAP = 16 << 10


@dataclass(frozen=True, slots=True)
class Located:
    """An entity with absolute character offsets plus its 1-based line and column."""

    entity: Entity
    line: int
    column: int


def _pieces(source: TextIO | Iterable[str], chunk: int) -> Iterator[str]:
    if hasattr(source, "read"):
        while True:
            piece = source.read(chunk)
            if not piece:
                return
            yield piece
    else:
        yield from source


def detect_stream(
    source: TextIO | Iterable[str],
    detector: Detector | None = None,
    *,
    chunk_chars: int = DEFAULT_CHUNK,
    overlap: int = DEFAULT_OVERLAP,
    **detect_kwargs: object,
) -> Iterator[Located]:
    """Entities of a text stream in order, with absolute offsets and line numbers."""
    if detector is None:
        from bastion.data.detect import default_detector

        detector = default_detector()
    if chunk_chars < 1 or overlap < 0:
        raise ValueError("chunk_chars must be positive and overlap non-negative")
    buf = ""  # text from buf_base onwards
    buf_base = 0
    emitted_to = 0  # absolute offset: entities starting before this are already out
    line, line_pos = 1, 0  # line number at absolute offset line_pos
    last_line_start = 0
    pieces = _pieces(source, chunk_chars)
    done = False
    while not done:
        # fill the buffer to cover [emitted_to - overlap, emitted_to + chunk + overlap)
        while len(buf) + buf_base < emitted_to + chunk_chars + overlap:
            try:
                buf += next(pieces)
            except StopIteration:
                done = True
                break
        end_abs = buf_base + len(buf)
        emit_hi = end_abs if done else min(end_abs, emitted_to + chunk_chars)
        if emit_hi <= emitted_to and not done:
            continue
        found = detector.detect(buf, **detect_kwargs)  # type: ignore[arg-type]
        for ent in found:
            s = ent.start + buf_base
            if not (emitted_to <= s < emit_hi):
                continue
            # advance the line counter from line_pos to s (entities are sorted)
            seg = buf[line_pos - buf_base : s - buf_base]
            nl = seg.count("\n")
            if nl:
                line += nl
                last_line_start = line_pos + seg.rfind("\n") + 1
            line_pos = s
            yield Located(dataclasses.replace(ent, start=s, end=ent.end + buf_base), line, s - last_line_start + 1)
        seg = buf[line_pos - buf_base : emit_hi - buf_base]
        nl = seg.count("\n")
        if nl:
            line += nl
            last_line_start = line_pos + seg.rfind("\n") + 1
        line_pos = emit_hi
        emitted_to = emit_hi
        keep_from = max(buf_base, emitted_to - overlap)
        buf = buf[keep_from - buf_base :]
        buf_base = keep_from
