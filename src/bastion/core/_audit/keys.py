"""The checkpoint signing key, kept in files outside the database.

Someone who can rewrite the database can recompute every hash in the chain; they
cannot forge a checkpoint without this key. The private key lives in
``state_dir/keys/audit-ed25519.pem`` (0600, folder 0700) and the public key beside
it, so a verifier can be given the public key alone.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from bastion.core._audit.model import AuditError

PRIVATE_NAME = "audit-ed25519.pem"
PUBLIC_NAME = "audit-ed25519.pub.pem"


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


class KeyRing:
    """Loads (or on first use creates) the signing key; knows the public keys trusted for verification."""

    def __init__(self, keys_dir: Path) -> None:
        self.keys_dir = keys_dir
        self._private: Ed25519PrivateKey | None = None

    @property
    def private_path(self) -> Path:
        return self.keys_dir / PRIVATE_NAME

    @property
    def public_path(self) -> Path:
        return self.keys_dir / PUBLIC_NAME

    def signer(self) -> tuple[Ed25519PrivateKey, str]:
        if self._private is None:
            self._private = self._load_or_create()
        return self._private, key_id(self._private.public_key())

    def trusted(self) -> dict[str, Ed25519PublicKey]:
        """Public keys by key id: the public key file, else the one derived from the private key."""
        found: dict[str, Ed25519PublicKey] = {}
        if self.public_path.is_file():
            try:
                pub = serialization.load_pem_public_key(self.public_path.read_bytes())
            except (ValueError, OSError) as exc:
                raise AuditError(f"{self.public_path}: unreadable public key: {exc}") from None
            if not isinstance(pub, Ed25519PublicKey):
                raise AuditError(f"{self.public_path}: not an Ed25519 public key")
            found[key_id(pub)] = pub
        elif self.private_path.is_file():
            pub = self.signer()[0].public_key()
            found[key_id(pub)] = pub
        return found

    def _load_or_create(self) -> Ed25519PrivateKey:
        path = self.private_path
        if not path.exists():
            self._create()
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (ValueError, TypeError, OSError) as exc:
            raise AuditError(f"{path}: unreadable audit signing key: {exc}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise AuditError(f"{path}: not an Ed25519 private key")
        if not self.public_path.exists():
            self._write_exclusive(self.public_path, _public_pem(key), 0o644)
        return key

    def _create(self) -> None:
        try:
            existed = self.keys_dir.exists()
            self.keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            if not existed:
                self.keys_dir.chmod(0o700)
        except OSError as exc:
            raise AuditError(f"{self.keys_dir}: cannot create key folder: {exc.strerror or exc}") from None
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        # Another process may create the key at the same moment: whoever links first wins,
        # the loser simply loads the winner's key.
        if self._write_exclusive(self.private_path, pem, 0o600):
            with contextlib.suppress(FileExistsError):
                self._write_exclusive(self.public_path, _public_pem(key), 0o644)

    def _write_exclusive(self, path: Path, content: bytes, mode: int) -> bool:
        """Write a complete file atomically; False if `path` already existed."""
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            os.fchmod(fd, mode)
            with os.fdopen(fd, "wb") as fh:
                fh.write(content)
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, path)
            except FileExistsError:
                return False
            return True
        except OSError as exc:
            raise AuditError(f"{path}: cannot write key file: {exc.strerror or exc}") from None
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _public_pem(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def verify_signature(public: Ed25519PublicKey, signature_hex: str, message: bytes) -> bool:
    try:
        public.verify(bytes.fromhex(signature_hex), message)
    except (InvalidSignature, ValueError):
        return False
    return True
