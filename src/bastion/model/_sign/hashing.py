"""Fast, safe hashing of a model file or folder into an OpenSSF model-signing manifest.

The manifest is byte-for-byte what the upstream `model_signing` library would build
(same identifiers, same digests, same serialization parameters), so a signature made
here verifies with the upstream CLI and the other way round. What differs is how the
bytes are read: one reusable buffer per worker (no per-chunk allocation), large
reads, a thread pool over files *and* shards (hashlib and blake3 release the GIL),
and a walk that refuses symlinks escaping the folder and special files instead of
following them.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from model_signing import manifest as ms_manifest
from model_signing._hashing import hashing as ms_hashing

from bastion.core.hashing import ALGORITHMS, hash_range

METHODS = ("files", "shards")
GIT_PATHS = (".git", ".gitattributes", ".github", ".gitignore")
DEFAULT_SHARD_SIZE = 1_000_000_000
CHUNK = 4 * 1024 * 1024
MAX_FILES = 1_000_000


class UnsafePathError(ValueError):
    """A path in the artifact or manifest that must not be trusted; names the path."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True, slots=True)
class HashSpec:
    """How a model is turned into a manifest; recorded in the signature as `serialization`."""

    method: str = "files"
    algorithm: str = "sha256"
    shard_size: int = DEFAULT_SHARD_SIZE
    allow_symlinks: bool = False
    ignore_paths: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unsupported serialization method {self.method!r}")
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"unsupported hash algorithm {self.algorithm!r}")
        if self.method == "shards" and self.algorithm == "blake3":
            raise ValueError("blake3 is not sharded (upstream hashes whole files with it); use method 'files'")
        if self.shard_size < 1:
            raise ValueError("shard size must be positive")

    def resource_algorithm(self) -> str:
        """The per-resource algorithm name upstream writes (sharded digests carry the shard size)."""
        if self.method == "shards":
            return f"{self.algorithm}-sharded-{self.shard_size}"
        return self.algorithm

    def parameters(self) -> dict[str, Any]:
        """The `serialization` object of the upstream v1.0 predicate."""
        params: dict[str, Any] = {"method": self.method, "hash_type": self.algorithm}
        if self.method == "shards":
            params["shard_size"] = self.shard_size
        params["allow_symlinks"] = self.allow_symlinks
        if self.ignore_paths:
            params["ignore_paths"] = list(self.ignore_paths)
        return params

    @classmethod
    def from_parameters(cls, params: Any) -> HashSpec:
        """Read a signature's `serialization` object, refusing anything unexpected."""
        if not isinstance(params, dict):
            raise ValueError("serialization is not an object")
        method = params.get("method")
        algorithm = params.get("hash_type")
        allow = params.get("allow_symlinks", False)
        if isinstance(allow, str):  # the v0.2 compat form writes "false"
            allow = allow.lower() == "true"
        ignore = params.get("ignore_paths", [])
        if not isinstance(ignore, list) or not all(isinstance(p, str) for p in ignore):
            raise ValueError("serialization.ignore_paths is not a list of strings")
        shard = params.get("shard_size", DEFAULT_SHARD_SIZE)
        if not isinstance(shard, int | float) or shard != int(shard):
            raise ValueError("serialization.shard_size is not an integer")
        return cls(
            method=str(method),
            algorithm=str(algorithm),
            shard_size=int(shard),
            allow_symlinks=bool(allow),
            ignore_paths=tuple(sorted(set(ignore))),
        )

    def serialization(self) -> ms_manifest.SerializationType:
        ignore = [Path(p) for p in self.ignore_paths]
        if self.method == "shards":
            return ms_manifest._ShardSerialization(self.algorithm, self.shard_size, self.allow_symlinks, ignore)
        return ms_manifest._FileSerialization(self.algorithm, self.allow_symlinks, ignore)


@dataclass(frozen=True, slots=True)
class FileEntry:
    identifier: str  # posix path relative to the model root ("." for a single-file model)
    path: Path
    size: int


def _ignored(rel: str, ignore: Sequence[str]) -> bool:
    parts = PurePosixPath(rel).parts
    for item in ignore:
        ip = PurePosixPath(item).parts
        if ip and parts[: len(ip)] == ip:
            return True
    return False


def effective_ignores(spec: HashSpec, ignore_git_paths: bool) -> tuple[str, ...]:
    extra = GIT_PATHS if ignore_git_paths else ()
    return tuple(sorted({*spec.ignore_paths, *extra}))


def collect_files(root: Path, spec: HashSpec) -> list[FileEntry]:
    """List what will be hashed, failing closed on links out of the folder and special files.

    Symlinks are refused unless `allow_symlinks` (as upstream); even then a link whose
    target leaves the model folder, or a link to a folder, is refused: the signature
    would otherwise vouch for content an attacker controls elsewhere.
    """
    try:
        st = os.lstat(root)
    except FileNotFoundError:
        raise FileNotFoundError(2, "No such file or directory", str(root)) from None
    if stat.S_ISLNK(st.st_mode):
        raise UnsafePathError(str(root), "the model path is a symlink; sign the real path")
    if stat.S_ISREG(st.st_mode):
        return [FileEntry(".", root, st.st_size)]
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafePathError(str(root), "not a regular file or folder")
    real_root = root.resolve()
    out: list[FileEntry] = []
    stack: list[tuple[Path, str]] = [(root, "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            raise UnsafePathError(prefix or ".", f"cannot list folder: {exc.strerror or exc}") from None
        for entry in entries:
            rel = f"{prefix}{entry.name}"
            if _ignored(rel, spec.ignore_paths):
                continue
            mode = entry.stat(follow_symlinks=False).st_mode
            path = Path(entry.path)
            if stat.S_ISLNK(mode):
                if not spec.allow_symlinks:
                    raise UnsafePathError(rel, "is a symlink (symlinks are refused unless allow_symlinks)")
                try:
                    target = path.resolve(strict=True)
                except (OSError, RuntimeError):
                    raise UnsafePathError(rel, "is a broken or looping symlink") from None
                if not target.is_relative_to(real_root):
                    raise UnsafePathError(rel, "is a symlink that escapes the model folder")
                if not target.is_file():
                    raise UnsafePathError(rel, "is a symlink to something other than a regular file")
                out.append(FileEntry(rel, path, target.stat().st_size))
            elif stat.S_ISDIR(mode):
                stack.append((path, f"{rel}/"))
            elif stat.S_ISREG(mode):
                out.append(FileEntry(rel, path, entry.stat(follow_symlinks=False).st_size))
            else:
                raise UnsafePathError(rel, "is a special file (device, pipe or socket)")
            if len(out) > MAX_FILES:
                raise ValueError(f"more than {MAX_FILES} files; refusing to sign a folder this large")
    out.sort(key=lambda f: f.identifier)
    return out


def _blake3_file(path: Path, threads: int) -> bytes:
    import blake3

    digest: bytes = blake3.blake3(max_threads=threads).update_mmap(path).digest()
    return digest


def shard_ranges(size: int, shard_size: int) -> list[tuple[int, int]]:
    """Upstream's shard boundaries: empty files have no shards."""
    ranges: list[tuple[int, int]] = []
    start = 0
    while start < size:
        end = min(start + shard_size, size)
        ranges.append((start, end))
        start = end
    return ranges


def default_workers() -> int:
    return max(1, min(32, (os.cpu_count() or 1) * 2))


def hash_files(
    files: Sequence[FileEntry],
    spec: HashSpec,
    *,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, bytes]:
    """Digest every file (or shard) in parallel; returns {manifest identifier: digest}."""
    workers = workers or default_workers()
    tasks: list[tuple[str, Path, int, int]] = []
    for f in files:
        if spec.method == "shards":
            tasks.extend((f"{f.identifier}:{s}:{e}", f.path, s, e) for s, e in shard_ranges(f.size, spec.shard_size))
        else:
            tasks.append((f.identifier, f.path, 0, f.size))
    # Largest first, so one huge file does not start last and leave the pool idle.
    tasks.sort(key=lambda t: t[3] - t[2], reverse=True)
    if spec.algorithm == "blake3":
        threads = max(1, min(workers, os.cpu_count() or 1))

        def run3(task: tuple[str, Path, int, int]) -> tuple[str, bytes]:
            ident, path, _s, e = task
            digest = _blake3_file(path, threads if e >= 64 * CHUNK else 1)
            if progress:
                progress(e)
            return ident, digest

        with ThreadPoolExecutor(max_workers=max(1, workers // threads) if len(tasks) > 1 else 1) as pool:
            return dict(pool.map(run3, tasks))

    import threading

    local = threading.local()

    def run(task: tuple[str, Path, int, int]) -> tuple[str, bytes]:
        ident, path, s, e = task
        buf = getattr(local, "buf", None)
        if buf is None:
            buf = local.buf = bytearray(CHUNK)
        digest = hash_range(path, s, e, algorithm=spec.algorithm, buf=buf)
        if progress:
            progress(e - s)
        return ident, digest

    if len(tasks) <= 1:
        return dict(run(t) for t in tasks)
    with ThreadPoolExecutor(max_workers=min(workers, len(tasks))) as pool:
        return dict(pool.map(run, tasks))


def build_manifest(model_name: str, digests: dict[str, bytes], spec: HashSpec) -> ms_manifest.Manifest:
    serialization = spec.serialization()
    algo = spec.resource_algorithm()
    items = [
        serialization.new_item(ident, ms_hashing.Digest(algo, digest)) for ident, digest in sorted(digests.items())
    ]
    return ms_manifest.Manifest(model_name, items, serialization)


def model_name_of(root: Path) -> str:
    name = root.name
    if not name or name == "..":
        name = os.path.basename(root.resolve())
    return name


def hash_model(
    root: Path,
    spec: HashSpec,
    *,
    workers: int | None = None,
    files: Iterable[FileEntry] | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[ms_manifest.Manifest, dict[str, bytes]]:
    entries = list(files) if files is not None else collect_files(root, spec)
    digests = hash_files(entries, spec, workers=workers, progress=progress)
    return build_manifest(model_name_of(root), digests, spec), digests
