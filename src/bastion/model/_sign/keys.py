"""Key material: loading, fingerprints and generation.

A key's fingerprint is the SHA-256 of its SubjectPublicKeyInfo PEM, the same value
upstream `model_signing` writes as the bundle's public-key hint, so a fingerprint on
a revocation list or in the registry matches the signature file directly.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
KeyType = Literal["ecdsa-p256", "ecdsa-p384", "ecdsa-p521", "ed25519"]
EC_CURVES = ("secp256r1", "secp384r1", "secp521r1")
MAX_KEY_FILE = 1024 * 1024


class KeyError_(ValueError):
    """A key that cannot be used; the message names the file and the reason."""


def _read(path: Path) -> bytes:
    size = path.stat().st_size
    if size > MAX_KEY_FILE:
        raise KeyError_(f"{path}: {size} bytes is too large for a key or certificate file")
    return path.read_bytes()


def fingerprint(key: PublicKey) -> str:
    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(pem).hexdigest()


def check_public(key: object, source: str) -> PublicKey:
    if isinstance(key, ed25519.Ed25519PublicKey):
        return key
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in EC_CURVES:
            raise KeyError_(f"{source}: unsupported curve {key.curve.name} (use P-256, P-384 or P-521)")
        return key
    raise KeyError_(f"{source}: unsupported key type {type(key).__name__} (use ECDSA or Ed25519)")


def load_public_key(path: Path) -> PublicKey:
    data = _read(path)
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        try:  # a certificate pins its key just as well
            key = x509.load_pem_x509_certificate(data).public_key()
        except ValueError:
            raise KeyError_(f"{path}: not a PEM public key or certificate") from None
    return check_public(key, str(path))


def load_private_key(path: Path, password: str | None = None) -> PrivateKey:
    data = _read(path)
    try:
        key = serialization.load_pem_private_key(data, password.encode() if password else None)
    except TypeError as exc:
        raise KeyError_(f"{path}: {exc}") from None
    except ValueError:
        raise KeyError_(f"{path}: not a PEM private key, or the password is wrong") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        raise KeyError_(f"{path}: unsupported key type {type(key).__name__} (use ECDSA or Ed25519)")
    check_public(key.public_key(), str(path))
    return key


def generate(key_type: KeyType = "ecdsa-p256") -> PrivateKey:
    if key_type == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    curves: dict[str, ec.EllipticCurve] = {
        "ecdsa-p256": ec.SECP256R1(),
        "ecdsa-p384": ec.SECP384R1(),
        "ecdsa-p521": ec.SECP521R1(),
    }
    if key_type not in curves:
        raise KeyError_(f"unknown key type {key_type!r} (expected ecdsa-p256, ecdsa-p384, ecdsa-p521, ed25519)")
    return ec.generate_private_key(curves[key_type])


def write_keypair(
    key: PrivateKey,
    private_path: Path,
    public_path: Path,
    password: str | None = None,
    *,
    overwrite: bool = False,
) -> str:
    """Write PEM files (private one 0600, public one 0644); returns the fingerprint.

    Refuses, before writing anything, a public path that is the private path (the
    public key would silently replace the only copy of the private key) and, unless
    `overwrite`, any path that already exists: a lost signing key cannot be recovered.
    Both files go through an exclusively created temp file and a rename, so a planted
    symlink is never followed and a failure leaves no half-written key.
    """
    from bastion.crypto._files import atomic_write

    private_path, public_path = Path(private_path), Path(public_path)
    if private_path.resolve() == public_path.resolve():
        raise ValueError(f"{public_path}: the public key path is the private key path; choose another name")
    if not overwrite:
        for path in (private_path, public_path):
            if os.path.lexists(path):
                raise FileExistsError(17, "already exists; refusing to overwrite a key (use --force)", str(path))
    enc: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password.encode()) if password else serialization.NoEncryption()
    )
    priv = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)
    pub = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with atomic_write(private_path, 0o600, overwrite=overwrite) as fh:
        fh.write(priv)
    with atomic_write(public_path, 0o644, overwrite=overwrite) as fh:
        fh.write(pub)
    return fingerprint(key.public_key())
