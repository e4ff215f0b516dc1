"""Signers and verifiers that write and read the upstream bundle format.

ECDSA keys sign exactly as upstream `model_signing` does (DSSE over an in-toto
statement in a Sigstore v0.3 bundle, public-key hint = key fingerprint), so either
tool verifies the other's signatures. Ed25519 uses the same bundle with an Ed25519
signature: Bastion verifies it, upstream 1.1 cannot (it supports ECDSA only).
PKCS#11 signing goes through `python-pkcs11` (no PyKCS11 needed) and produces the
same bundle as a file key, so it verifies with the plain public key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast
from urllib.parse import unquote

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from google.protobuf import json_format
from model_signing._signing import sign_ec_key, sign_sigstore_pb, signing
from sigstore_models import intoto as intoto_pb
from sigstore_models.bundle import v1 as bundle_pb
from sigstore_models.common import v1 as common_pb

from bastion.model._sign.keys import PrivateKey, PublicKey, check_public, fingerprint

PKCS11_MODULES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib64/pkcs11/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
)


def _intify(value: Any) -> Any:
    """protobuf's Struct stores every number as a double; write integral ones as integers.

    Upstream serializes the statement with `MessageToJson`, so `shard_size` reaches
    verifiers as ``65536.0`` and upstream's own sharded verification then fails
    (`range()` refuses floats). Integers keep the payload readable by every verifier.
    """
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {k: _intify(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_intify(v) for v in value]
    return value


def _raw_payload(payload: signing.Payload) -> bytes:
    data = _intify(json_format.MessageToDict(payload.statement.pb))
    return json.dumps(data, indent=2, ensure_ascii=False).encode("utf-8")


def _bundle(raw_payload: bytes, sig: bytes, material: bundle_pb.VerificationMaterial) -> sign_sigstore_pb.Signature:
    envelope = intoto_pb.Envelope(
        payload=base64.b64encode(raw_payload),
        payload_type=signing._IN_TOTO_JSON_PAYLOAD_TYPE,
        signatures=[intoto_pb.Signature(sig=base64.b64encode(sig), keyid="")],
    )
    return sign_sigstore_pb.Signature(
        bundle_pb.Bundle(
            media_type=cast(Any, sign_sigstore_pb._BUNDLE_MEDIA_TYPE),
            verification_material=material,
            dsse_envelope=envelope,
        )
    )


def _hint_material(key: PublicKey) -> bundle_pb.VerificationMaterial:
    return bundle_pb.VerificationMaterial(
        public_key=common_pb.PublicKeyIdentifier(hint=fingerprint(key)), tlog_entries=[]
    )


def sign_bytes(key: PrivateKey, message: bytes) -> bytes:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(message)
    return key.sign(message, ec.ECDSA(sign_ec_key.get_ec_key_hash(key.public_key())))


def verify_bytes(key: PublicKey, sig: bytes, message: bytes) -> None:
    """Raise `InvalidSignature` unless `sig` is `key`'s signature over `message`."""
    if isinstance(key, ed25519.Ed25519PublicKey):
        key.verify(sig, message)
    else:
        key.verify(sig, message, ec.ECDSA(sign_ec_key.get_ec_key_hash(key)))


class KeySigner(sign_sigstore_pb.Signer):
    """A file key (ECDSA P-256/384/521 or Ed25519), already loaded."""

    def __init__(self, key: PrivateKey) -> None:
        self._key = key

    def sign(self, payload: signing.Payload) -> signing.Signature:
        raw = _raw_payload(payload)
        return _bundle(raw, sign_bytes(self._key, sign_sigstore_pb.pae(raw)), _hint_material(self._key.public_key()))


class KeyVerifier(sign_sigstore_pb.Verifier):
    """Verifies a key-signed bundle against one pinned public key (ECDSA or Ed25519)."""

    def __init__(self, key: PublicKey) -> None:
        self._key = key
        self.fingerprint = fingerprint(key)

    def _verify_bundle(self, bundle: bundle_pb.Bundle) -> tuple[str, bytes]:
        hint = bundle.verification_material.public_key.hint if bundle.verification_material.public_key else None
        if hint and hint != self.fingerprint:
            raise KeyMismatch(hint)
        envelope = bundle.dsse_envelope
        if envelope is None or not envelope.signatures:
            raise ValueError("bundle has no DSSE envelope signature")
        sig = envelope.signatures[0].sig
        try:
            verify_bytes(self._key, sig, sign_sigstore_pb.pae(envelope.payload))
        except InvalidSignature:
            if isinstance(self._key, ed25519.Ed25519PublicKey):
                raise
            # Signatures from model_signing 0.2 used a buggy PAE; upstream accepts them too.
            verify_bytes(self._key, sig, sign_sigstore_pb.pae_compat(envelope.payload))
        return envelope.payload_type, envelope.payload


class KeyMismatch(ValueError):
    """The bundle names a different key than the pinned one."""

    def __init__(self, hint: str) -> None:
        super().__init__(f"signed by key {hint[:16]}..., not by the pinned key")
        self.hint = hint


# -- PKCS#11 ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Pkcs11Uri:
    """The parts of an RFC 7512 URI this signer needs."""

    token: str | None
    object: str | None
    id: bytes | None
    module_path: str | None
    pin: str | None

    @classmethod
    def parse(cls, uri: str) -> Pkcs11Uri:
        if not uri.startswith("pkcs11:"):
            raise ValueError("malformed PKCS#11 URI: missing 'pkcs11:' prefix")
        path, _, query = uri[7:].partition("?")
        attrs: dict[str, str] = {}
        for part, sep in ((path, ";"), (query, "&")):
            if not part:
                continue
            for item in part.split(sep):
                name, eq, value = item.partition("=")
                if not eq or not name:
                    raise ValueError(f"malformed PKCS#11 URI attribute {name or item!r}")
                attrs[name] = value
        pin = attrs.get("pin-value")
        if pin is None and "pin-source" in attrs:
            source = unquote(attrs["pin-source"]).removeprefix("file:")
            if not os.path.isabs(source):
                raise ValueError("PKCS#11 pin-source must be an absolute file path")
            pin = Path(source).read_text().strip()
        module = attrs.get("module-path")
        if module is not None and not os.path.isabs(unquote(module)):
            raise ValueError("PKCS#11 module-path must be absolute")
        raw_id = attrs.get("id")
        return cls(
            token=unquote(attrs["token"]) if "token" in attrs else None,
            object=unquote(attrs["object"]) if "object" in attrs else None,
            id=unquote(raw_id, encoding="latin-1").encode("latin-1") if raw_id is not None else None,
            module_path=unquote(module) if module else None,
            pin=unquote(pin) if pin is not None else None,
        )


def _find_module(explicit: str | None, module_paths: tuple[str, ...]) -> str:
    for candidate in (explicit, *module_paths, os.environ.get("PKCS11_MODULE"), *PKCS11_MODULES):
        if candidate and os.path.isfile(candidate):
            return candidate
    raise ValueError("no PKCS#11 module found: pass module-path in the URI or --module-path")


class Pkcs11Signer(sign_sigstore_pb.Signer):
    """An ECDSA key held in a PKCS#11 token (an HSM, SoftHSM2 in tests)."""

    def __init__(self, uri: str, module_paths: tuple[str, ...] = ()) -> None:
        import pkcs11
        from pkcs11.util.ec import encode_ec_public_key

        parsed = Pkcs11Uri.parse(uri)
        if parsed.object is None and parsed.id is None:
            raise ValueError("PKCS#11 URI must name the key with object= or id=")
        lib = pkcs11.lib(_find_module(parsed.module_path, module_paths))
        try:
            token = lib.get_token(token_label=parsed.token) if parsed.token else next(iter(lib.get_tokens()))
        except (pkcs11.NoSuchToken, StopIteration):
            raise ValueError(f"PKCS#11 token {parsed.token!r} not found") from None
        except pkcs11.MultipleTokensReturned:
            raise ValueError("several PKCS#11 tokens match; name one with token=") from None
        self._session: Any = token.open(user_pin=parsed.pin)
        query: dict[str, Any] = {}
        if parsed.object is not None:
            query["label"] = parsed.object
        if parsed.id is not None:
            query["id"] = parsed.id
        try:
            self._private: Any = self._session.get_key(object_class=pkcs11.ObjectClass.PRIVATE_KEY, **query)
            public: Any = self._session.get_key(object_class=pkcs11.ObjectClass.PUBLIC_KEY, **query)
        except pkcs11.NoSuchKey:
            raise ValueError("PKCS#11 key not found on the token") from None
        except pkcs11.MultipleObjectsReturned:
            raise ValueError("several PKCS#11 keys match the URI") from None
        key = serialization.load_der_public_key(encode_ec_public_key(public))
        checked = check_public(key, "PKCS#11 key")
        if not isinstance(checked, ec.EllipticCurvePublicKey):
            raise ValueError("PKCS#11 signing supports ECDSA keys only")
        self._public: ec.EllipticCurvePublicKey = checked

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._public

    def close(self) -> None:
        self._session.close()

    def sign(self, payload: signing.Payload) -> signing.Signature:
        import pkcs11
        from pkcs11.util.ec import encode_ecdsa_signature

        raw = _raw_payload(payload)
        algo = sign_ec_key.get_ec_key_hash(self._public)
        digest = hashlib.new(algo.name, sign_sigstore_pb.pae(raw)).digest()
        rs = self._private.sign(digest, mechanism=pkcs11.Mechanism.ECDSA)
        return _bundle(raw, encode_ecdsa_signature(rs), _hint_material(self._public))


def hash_name(key: ec.EllipticCurvePublicKey) -> hashes.HashAlgorithm:
    return sign_ec_key.get_ec_key_hash(key)
