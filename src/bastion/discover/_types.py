"""What the walker hands to the sniffers.

The walker reads each file's head exactly once so that every later step (format
sniffing, scanner `applies` checks) works from memory; this is what makes a walk
of a large tree cost one open/read/close per file and nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

HEAD_SIZE = 64 * 1024


@dataclass(frozen=True, slots=True)
class WalkItem:
    """One file (or one folder asset) found by the walker.

    `relpath` is POSIX and relative to the walk root (for a single-file root it is
    the file name; for a root that is itself a folder asset it is ``"."``). Names
    that are not valid UTF-8 or hold control characters are escaped in `relpath`
    (``\\xNN``) while `path` keeps the real bytes, so the file is still read.

    Folder assets (SavedModel, Hugging Face, MLflow, dataset and vector-store
    folders) are yielded once as a unit, after their files, with ``is_dir=True``:
    `head` is then the first bytes of the folder's marker file (e.g. ``MLmodel``),
    `size` the total size of the files under it, `mtime` the newest file's mtime
    and `members` the folder's direct entries (sub-folders end with ``/``).
    """

    path: Path
    relpath: str
    size: int
    mtime: float
    head: bytes
    is_dir: bool = False
    members: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class WalkProblem:
    """A path the walker could not (fully) handle: never an exception.

    Problems are data, so the orchestrator can turn them into findings and a scan
    of a hostile tree (loops, unreadable files, odd names) still completes.
    """

    relpath: str
    reason: str
