"""Writing sensitive files safely: an unpredictable, exclusively created temp file, then an atomic rename.

Every writer of plaintext, restored personal data or key material goes through
`atomic_write`, because the obvious alternatives each leak:

* a predictable temp name (`.out.<pid>.partial`) opened with `O_CREAT|O_TRUNC` follows a
  symlink another local user planted there, so the plaintext lands wherever it points
  (or truncates a file the victim may write);
* writing the destination in place exposes a partial file when a later check fails.

The temp file is created with `O_CREAT|O_EXCL|O_NOFOLLOW` under a random name in the
destination's own folder (so the final `os.replace` is an atomic rename on one file
system, and replaces a symlink at the destination rather than following it), with the
requested mode set on the descriptor before any byte is written.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

PRIVATE = 0o600
_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def create_private_temp(folder: Path, name: str, mode: int = PRIVATE) -> tuple[int, Path]:
    """Create a new empty file `.<name>.<random>.partial` in `folder`; returns (fd, path).

    128 random bits make the name unguessable; `O_EXCL` fails rather than opening
    anything that already exists there (a file or a planted symlink).
    """
    for _ in range(16):
        tmp = folder / f".{name}.{secrets.token_hex(16)}.partial"
        try:
            fd = os.open(tmp, _FLAGS, mode)
        except FileExistsError:  # pragma: no cover - 2**-128 per try
            continue
        try:
            os.fchmod(fd, mode)  # the umask must not widen or narrow what the caller asked for
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        return fd, tmp
    raise FileExistsError(f"{folder}: could not create a unique temporary file")  # pragma: no cover


@contextlib.contextmanager
def atomic_write(dest: Path, mode: int = PRIVATE, *, overwrite: bool = True) -> Iterator[BinaryIO]:
    """Yield a binary file that becomes `dest` (with `mode`) only if the block completes.

    On any exception the temp file is deleted and `dest` is left as it was. With
    `overwrite=False` an existing `dest` (or a symlink there) is never replaced: the
    final step is a hard link, which fails if the name is taken.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = create_private_temp(dest.parent, dest.name, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        if overwrite:
            os.replace(tmp, dest)
        else:
            os.link(tmp, dest, follow_symlinks=False)
            tmp.unlink()
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
