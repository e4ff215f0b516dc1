"""The tree walker: one open/read/close per file, problems as data.

Why its own walker rather than `os.walk`: it must read each file's head exactly
once (every sniffer and scanner then works from memory), it must see folder assets
as units, and hostile trees (symlink loops, unreadable or vanishing files, names
that are not UTF-8, FIFOs) must become `WalkProblem`s instead of exceptions or
hangs. Depth is bounded, so a pathological tree cannot exhaust the stack.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import re
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path

from bastion.discover._sniff._folders import folder_marker
from bastion.discover._types import HEAD_SIZE, WalkItem, WalkProblem

MAX_DEPTH = 128
MAX_MEMBERS = 2048
_GLOB_CHARS = re.compile(r"[*?\[]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)


class _Excluder:
    """Exclude patterns match an entry's name or its relative path (fnmatch syntax)."""

    def __init__(self, patterns: Sequence[str]) -> None:
        self.names = {p.strip("/") for p in patterns if not _GLOB_CHARS.search(p) and "/" not in p.strip("/")}
        globs = [p.strip("/") for p in patterns if p.strip("/") not in self.names]
        self.regex = re.compile("|".join(fnmatch.translate(g) for g in globs)) if globs else None

    def __call__(self, name: str, rel: str) -> bool:
        if name in self.names:
            return True
        return bool(self.regex and (self.regex.match(name) or self.regex.match(rel)))


def _safe_name(name: str) -> tuple[str, str | None]:
    """A printable, UTF-8-safe form of a file name and the reason it had to change."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raw = os.fsencode(name)
        safe = raw.decode("utf-8", "backslashreplace")
        return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", safe), "file name is not valid UTF-8"
    if _CONTROL.search(name):
        return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", name), "file name holds control characters"
    return name, None


def _read_head(path: str, head_size: int) -> tuple[int, float, bytes]:
    fd = os.open(path, _OPEN_FLAGS)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        head = os.read(fd, head_size) if st.st_size else b""
        return st.st_size, st.st_mtime, head
    finally:
        os.close(fd)


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def walk(
    root: Path,
    *,
    exclude: Sequence[str] = (),
    follow_symlinks: bool = False,
    head_size: int = HEAD_SIZE,
) -> Iterator[WalkItem | WalkProblem]:
    """Yield every regular file under `root` (and folder assets as units), never raising.

    Without `follow_symlinks`, symbolic links are reported as problems and not
    followed (a link can point anywhere, including outside the tree). With it,
    links are followed but each directory is entered at most once, so loops end.
    """
    root = Path(root)
    excluder = _Excluder(exclude)
    try:
        st = os.stat(root) if follow_symlinks else os.lstat(root)
    except OSError as exc:
        yield WalkProblem(root.name or str(root), _reason(exc))
        return
    if stat.S_ISLNK(st.st_mode):
        yield WalkProblem(root.name, "symbolic link not followed (follow_symlinks is off)")
        return
    if stat.S_ISREG(st.st_mode):
        name, odd = _safe_name(root.name)
        if odd:
            yield WalkProblem(name, odd)
        try:
            size, mtime, head = _read_head(str(root), head_size)
        except OSError as exc:
            yield WalkProblem(name, _reason(exc))
            return
        yield WalkItem(root, name, size, mtime, head)
        return
    if not stat.S_ISDIR(st.st_mode):
        yield WalkProblem(root.name or str(root), "not a regular file or directory")
        return
    visited: set[tuple[int, int]] = {(st.st_dev, st.st_ino)}
    yield from _walk_dir(str(root), "", 0, excluder, follow_symlinks, head_size, visited, [])


def _walk_dir(
    dirpath: str,
    rel: str,
    depth: int,
    excluder: _Excluder,
    follow: bool,
    head_size: int,
    visited: set[tuple[int, int]],
    totals: list[list[float]],
) -> Iterator[WalkItem | WalkProblem]:
    try:
        with os.scandir(dirpath) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        yield WalkProblem(rel or ".", _reason(exc))
        return
    files: set[str] = set()
    dirs: set[str] = set()
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                dirs.add(entry.name)
            elif entry.is_file(follow_symlinks=False):
                files.add(entry.name)
        except OSError:
            pass
    marker = folder_marker(files, dirs)
    acc: list[float] | None = None
    if marker is not None:
        acc = [0, 0.0]  # total size, newest mtime
        totals = [*totals, acc]
    for entry in entries:
        name, odd = _safe_name(entry.name)
        erel = f"{rel}/{name}" if rel else name
        if excluder(entry.name, erel):
            continue
        if odd:
            yield WalkProblem(erel, odd)
        try:
            is_link = entry.is_symlink()
            if is_link and not follow:
                yield WalkProblem(erel, "symbolic link not followed (follow_symlinks is off)")
                continue
            if entry.is_dir(follow_symlinks=follow):
                est = entry.stat(follow_symlinks=follow)
                key = (est.st_dev, est.st_ino)
                if key in visited:
                    yield WalkProblem(erel, "symbolic link loop or directory already visited")
                    continue
                if depth + 1 >= MAX_DEPTH:
                    yield WalkProblem(erel, f"directory nesting deeper than {MAX_DEPTH} levels not walked")
                    continue
                visited.add(key)
                yield from _walk_dir(entry.path, erel, depth + 1, excluder, follow, head_size, visited, totals)
                continue
            if not entry.is_file(follow_symlinks=follow):
                if is_link:
                    yield WalkProblem(erel, "broken symbolic link")
                else:
                    yield WalkProblem(erel, "not a regular file (device, FIFO or socket)")
                continue
            size, mtime, head = _read_head(entry.path, head_size)
        except OSError as exc:
            yield WalkProblem(erel, _reason(exc))
            continue
        for t in totals:
            t[0] += size
            if mtime > t[1]:
                t[1] = mtime
        yield WalkItem(Path(entry.path), erel, size, mtime, head)
    if acc is not None and marker is not None:
        mhead = b""
        if marker:
            try:
                _, _, mhead = _read_head(os.path.join(dirpath, marker), head_size)
            except OSError as exc:
                yield WalkProblem(f"{rel}/{marker}" if rel else marker, _reason(exc))
        members = tuple(sorted([*files, *(d + "/" for d in dirs)]))[:MAX_MEMBERS]
        yield WalkItem(Path(dirpath), rel or ".", int(acc[0]), acc[1], mhead, is_dir=True, members=members)
