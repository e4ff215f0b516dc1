"""Model artifact scanning: find malicious or tampered serialized models without loading them.

    from bastion.model.scan import scan_file
    findings = scan_file("model.pt")

Formats are identified by content (never by extension): pickle (plain, joblib,
legacy PyTorch), PyTorch/TorchScript/Keras/npz zips, NumPy, 7z/tar/gzip/bz2/xz/
lzma/zlib/lz4 wrappers, HDF5, TensorFlow graphs, ONNX, GGUF and safetensors.
Every file gets a time budget and bounded memory; whatever cannot be verified is
itself a finding (fail closed).
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bastion.core.types import Finding, Severity
from bastion.model._scan import rules as _rules
from bastion.model._scan.context import LimitReached, Limits, ScanContext, ScanTimeout
from bastion.model._scan.dispatch import scan_blob

RULES = _rules.RULES
SCANNER_NAME = _rules.SCANNER_NAME

__all__ = [
    "RULES",
    "SCANNER_NAME",
    "Limits",
    "max_severity",
    "scan_bytes",
    "scan_file",
    "scan_path",
    "trojan_pickle",
    "write_demo_models",
]

_MAX_DIR_FILES = 10_000


def scan_file(
    path: str | os.PathLike[str],
    *,
    uri: str | None = None,
    limits: Limits | None = None,
    strict: bool = True,
) -> list[Finding]:
    """Scan one model file (or a SavedModel-style folder); returns its findings.

    Raises `FileNotFoundError`/`PermissionError`/`IsADirectoryError` for paths that
    cannot be read: those are usage errors, not properties of the artifact.
    """
    p = Path(path)
    if p.is_dir():
        return scan_path(p, limits=limits)
    ctx = ScanContext(uri or p.as_posix(), limits or Limits(), strict=strict)
    with _mapped(p) as data:
        _guarded(ctx, data, top=True)
    return ctx.findings


def scan_bytes(data: bytes, uri: str = "<memory>", *, limits: Limits | None = None) -> list[Finding]:
    """Scan an in-memory artifact (uploads, archive members handled by callers)."""
    ctx = ScanContext(uri, limits or Limits())
    _guarded(ctx, data, top=True)
    return ctx.findings


def scan_path(root: str | os.PathLike[str], *, limits: Limits | None = None) -> list[Finding]:
    """Scan every file under a folder (a TensorFlow SavedModel, a model repo)."""
    base = Path(root)
    findings: list[Finding] = []
    count = 0
    for dirpath, _dirs, files in os.walk(base, followlinks=False):
        for name in sorted(files):
            count += 1
            if count > _MAX_DIR_FILES:
                return findings
            fp = Path(dirpath) / name
            if fp.is_symlink() or not fp.is_file():
                continue
            findings.extend(scan_file(fp, uri=fp.relative_to(base.parent).as_posix(), limits=limits))
    return findings


def max_severity(findings: list[Finding]) -> Severity | None:
    return max((f.severity for f in findings), default=None)


def _guarded(ctx: ScanContext, data: Any, *, top: bool) -> None:
    """Run the readers under the file's budget; no exception escapes as a crash."""
    try:
        if len(data) == 0:
            ctx.add(_rules.UNRECOGNISED, "", "empty file")
            return
        if not scan_blob(ctx, data, "", 0, top=top):
            ctx.add(_rules.UNRECOGNISED, "", "content matches no supported model format")
    except ScanTimeout:
        ctx.timeout("")
    except LimitReached as exc:
        ctx.limit("", str(exc))
    except (MemoryError, RecursionError) as exc:
        ctx.limit("", f"{type(exc).__name__} while parsing")
    except Exception as exc:  # fail closed: a reader bug must still produce a finding
        ctx.add(_rules.CONTAINER_MALFORMED, "", f"scanner error {type(exc).__name__}: {str(exc)[:100]}", confidence=0.5)


@contextmanager
def _mapped(path: Path) -> Iterator[Any]:
    """Memory-map the file so multi-GiB checkpoints cost only the pages read."""
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size == 0:
            yield b""
            return
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            yield mm


def write_demo_models(folder: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Write one benign and one malicious (harmless marker-file payload) model; see `_scan.demo`."""
    from bastion.model._scan.demo import write_demo_models as _write

    return _write(Path(folder))


def trojan_pickle(code: str) -> bytes:
    """A hand-built pickle that would call `builtins.exec(code)` if loaded: test and demo material."""
    from bastion.model._scan.demo import trojan_pickle as _trojan

    return _trojan(code)
