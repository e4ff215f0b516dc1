"""Fixtures for supply-chain tests: keys, a small model folder, a certificate chain, a SoftHSM2 token."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from bastion.model.sign import generate, write_keypair


@dataclass(frozen=True)
class KeyPair:
    private: Path
    public: Path
    fingerprint: str


def _pair(folder: Path, name: str, kind: str) -> KeyPair:
    folder.mkdir(parents=True, exist_ok=True)
    priv, pub = folder / f"{name}.pem", folder / f"{name}.pub"
    fp = write_keypair(generate(kind), priv, pub)  # type: ignore[arg-type]
    return KeyPair(priv, pub, fp)


@pytest.fixture
def ec_key(tmp_path: Path) -> KeyPair:
    return _pair(tmp_path / "keys", "ec", "ecdsa-p256")


@pytest.fixture
def other_key(tmp_path: Path) -> KeyPair:
    return _pair(tmp_path / "keys", "other", "ecdsa-p384")


@pytest.fixture
def ed_key(tmp_path: Path) -> KeyPair:
    return _pair(tmp_path / "keys", "ed", "ed25519")


def _safetensors(size: int) -> bytes:
    """A well-formed safetensors file of `size` bytes: one uint8 tensor of random bytes.

    Random bytes alone made the gate tests flaky: a first byte of 0x08 or 0x0a sniffs as
    protobuf, which then fails to parse, and the scanner rightly calls that a malformed container.
    """
    header_size = 128
    n = size - 8 - header_size
    header = json.dumps({"w": {"dtype": "U8", "shape": [n], "data_offsets": [0, n]}}).encode().ljust(header_size)
    return header_size.to_bytes(8, "little") + header + os.urandom(n)


@pytest.fixture
def model(tmp_path: Path) -> Path:
    root = tmp_path / "fraud-model"
    (root / "tokenizer").mkdir(parents=True)
    (root / "model.safetensors").write_bytes(_safetensors(200_000))
    (root / "config.json").write_text('{"layers": 4}\n')
    (root / "tokenizer" / "vocab.txt").write_text("a\nb\nc\n")
    (root / "empty.txt").write_bytes(b"")
    (root / ".gitattributes").write_text("*.safetensors filter=lfs\n")
    return root


@dataclass(frozen=True)
class CertChain:
    root: Path
    leaf_key: Path
    leaf_cert: Path
    email: str
    other_root: Path


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(
    subject: str,
    issuer: str,
    key: ec.EllipticCurvePrivateKey,
    signer: ec.EllipticCurvePrivateKey,
    *,
    ca: bool,
    email: str | None = None,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    b = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        b = b.add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
    else:
        b = b.add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
        if email:
            b = b.add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False)
    return b.sign(signer, hashes.SHA256())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture
def cert_chain(tmp_path: Path) -> CertChain:
    folder = tmp_path / "pki"
    folder.mkdir()
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = _cert("Bastion Test Root", "Bastion Test Root", root_key, root_key, ca=True)
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = _cert("ml-release", "Bastion Test Root", leaf_key, root_key, ca=False, email="release@bank.example")
    other_key = ec.generate_private_key(ec.SECP256R1())
    other = _cert("Other Root", "Other Root", other_key, other_key, ca=True)
    (folder / "root.pem").write_bytes(_pem(root))
    (folder / "other-root.pem").write_bytes(_pem(other))
    (folder / "leaf.pem").write_bytes(_pem(leaf))
    (folder / "leaf.key").write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return CertChain(
        folder / "root.pem", folder / "leaf.key", folder / "leaf.pem", "release@bank.example", folder / "other-root.pem"
    )


SOFTHSM_MODULES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib64/pkcs11/libsofthsm2.so",
)


@dataclass(frozen=True)
class Token:
    module: str
    uri: str
    public: Path


@pytest.fixture
def softhsm(tmp_path: Path, softhsm2: Any) -> Iterator[Token]:
    """A fresh SoftHSM2 token holding one P-256 key, in the session's shared SoftHSM2 folder."""
    import pkcs11
    from cryptography.hazmat.primitives.serialization import load_der_public_key
    from pkcs11.util.ec import encode_ec_public_key, encode_named_curve_parameters

    module = softhsm2.module
    label, pin = softhsm2.labels["sign"], softhsm2.PIN
    lib = pkcs11.lib(module)
    token = lib.get_token(token_label=label)
    with token.open(rw=True, user_pin=pin) as session:
        params = session.create_domain_parameters(
            pkcs11.KeyType.EC, {pkcs11.Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")}, local=True
        )
        pub, _priv = params.generate_keypair(store=True, label="release", id=b"\x01")
        der = encode_ec_public_key(pub)
    public = tmp_path / "hsm.pub"
    public.write_bytes(
        load_der_public_key(der).public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    yield Token(module, f"pkcs11:token={label};object=release?module-path={module}&pin-value={pin}", public)
