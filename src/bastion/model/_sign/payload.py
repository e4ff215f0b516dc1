"""Strict reading of signature files and signed payloads.

Upstream parsing turns a malformed bundle into a `KeyError` and collapses duplicate
manifest entries into one dict key; here every structural problem is a one-line
reason, and names that could address something outside the model (`..`, absolute,
duplicates, backslashes, NUL) are refused before any file is opened.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from bastion.model._sign.hashing import HashSpec, UnsafePathError

MAX_SIGNATURE_BYTES = 64 * 1024 * 1024
BUNDLE_MEDIA_TYPES = (
    "application/vnd.dev.sigstore.bundle.v0.3+json",
    "application/vnd.dev.sigstore.bundle+json;version=0.3",
    "application/vnd.dev.sigstore.bundle+json;version=0.2",
)
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_V1 = "https://model_signing/signature/v1.0"
PREDICATE_COMPAT = "https://model_signing/Digests/v0.1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
_DIGEST_LEN = {"sha256": 64, "blake2": 128, "blake3": 64}
_HEX = re.compile(r"^[0-9a-f]+$")


class MalformedSignature(ValueError):
    """The signature file is not a usable bundle; the message says why."""


@dataclass(frozen=True, slots=True)
class BundleInfo:
    """What the outer bundle says, read before any cryptography."""

    raw: dict[str, Any]
    kind: str  # "key" | "certificate" | "sigstore"
    key_hint: str | None
    certificates: tuple[bytes, ...]


def read_bundle(path: Path) -> BundleInfo:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise
    if size == 0:
        raise MalformedSignature("signature file is empty")
    if size > MAX_SIGNATURE_BYTES:
        raise MalformedSignature(f"signature file is {size} bytes; the limit is {MAX_SIGNATURE_BYTES}")
    data = path.read_bytes()
    try:
        doc = json.loads(data)
    except UnicodeDecodeError:
        raise MalformedSignature("signature file is not UTF-8 JSON") from None
    except json.JSONDecodeError as exc:
        if _unclosed(exc.doc):
            raise MalformedSignature(f"signature file is truncated (JSON ends early at byte {exc.pos})") from None
        raise MalformedSignature(f"signature file is not JSON: {exc.msg} at byte {exc.pos}") from None
    if not isinstance(doc, dict):
        raise MalformedSignature("signature file is not a Sigstore bundle (top level is not an object)")
    media = doc.get("mediaType")
    if media not in BUNDLE_MEDIA_TYPES:
        raise MalformedSignature(f"not a Sigstore bundle (mediaType {str(media)[:80]!r})")
    material = doc.get("verificationMaterial")
    if not isinstance(material, dict):
        raise MalformedSignature("bundle has no verificationMaterial")
    envelope = doc.get("dsseEnvelope")
    if not isinstance(envelope, dict):
        raise MalformedSignature("bundle has no DSSE envelope (not a model signature)")
    sigs = envelope.get("signatures")
    if not isinstance(sigs, list) or not sigs or not isinstance(sigs[0], dict) or not sigs[0].get("sig"):
        raise MalformedSignature("DSSE envelope carries no signature")
    if not isinstance(envelope.get("payload"), str) or not envelope["payload"]:
        raise MalformedSignature("DSSE envelope carries no payload")
    if envelope.get("payloadType") != PAYLOAD_TYPE:
        raise MalformedSignature(f"DSSE payload type is {str(envelope.get('payloadType'))[:80]!r}, not in-toto")
    hint = None
    certs: tuple[bytes, ...] = ()
    if isinstance(material.get("publicKey"), dict):
        kind = "key"
        h = material["publicKey"].get("hint")
        hint = h if isinstance(h, str) and h else None
    elif isinstance(material.get("x509CertificateChain"), dict):
        kind = "certificate"
        certs = _certs(material["x509CertificateChain"].get("certificates"))
        if not certs:
            raise MalformedSignature("bundle has an empty certificate chain")
    elif isinstance(material.get("certificate"), dict):
        kind = "sigstore"
        certs = _certs([material["certificate"]])
    else:
        raise MalformedSignature("bundle names no public key, certificate chain or Sigstore certificate")
    return BundleInfo(doc, kind, hint, certs)


def _unclosed(text: str) -> bool:
    """True when JSON text stops inside a string or an open object/array: a cut-off file."""
    depth, in_str, escaped = 0, False, False
    for ch in text:
        if in_str:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
    return text.lstrip().startswith(("{", "[")) and (in_str or depth > 0)


def _certs(items: Any) -> tuple[bytes, ...]:
    import base64
    import binascii

    if not isinstance(items, list):
        raise MalformedSignature("certificate chain is not a list")
    out = []
    for item in items:
        raw = item.get("rawBytes") if isinstance(item, dict) else None
        if not isinstance(raw, str):
            raise MalformedSignature("certificate entry has no rawBytes")
        try:
            out.append(base64.b64decode(raw, validate=True))
        except (binascii.Error, ValueError):
            raise MalformedSignature("certificate entry is not base64") from None
    return tuple(out)


def safe_name(name: str) -> str:
    """Refuse manifest names that could address anything outside the model folder."""
    if not name or "\x00" in name or "\\" in name:
        raise UnsafePathError(name or "<empty>", "invalid path in manifest")
    if name == ".":
        return name
    p = PurePosixPath(name)
    if p.is_absolute():
        raise UnsafePathError(name, "absolute path in manifest")
    if any(part in ("..", "") for part in name.split("/")) or ".." in p.parts:
        raise UnsafePathError(name, "'..' or empty component in manifest path")
    if str(p) != name:
        raise UnsafePathError(name, "non-canonical path in manifest")
    return name


@dataclass(slots=True)
class SignedManifest:
    """The verified payload: the model's name, how it was hashed, and every item's digest."""

    model_name: str
    spec: HashSpec
    root_digest: str
    items: dict[str, str] = field(default_factory=dict)  # identifier -> hex digest
    compat: bool = False
    extra: dict[str, Any] = field(default_factory=dict)  # predicate fields beyond the v1.0 ones

    def files(self) -> set[str]:
        if self.spec.method == "shards":
            return {ident.rsplit(":", 2)[0] for ident in self.items}
        return set(self.items)


def parse_payload(payload_type: str, payload: bytes) -> SignedManifest:
    """Parse and check a payload whose signature has already been verified."""
    if payload_type != PAYLOAD_TYPE:
        raise MalformedSignature(f"payload type {payload_type[:80]!r} is not in-toto")
    try:
        doc = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise MalformedSignature("signed payload is not JSON") from None
    if not isinstance(doc, dict) or doc.get("_type") != STATEMENT_TYPE:
        raise MalformedSignature("signed payload is not an in-toto v1 statement")
    subjects = doc.get("subject")
    if not isinstance(subjects, list) or not subjects:
        raise MalformedSignature("statement has no subject")
    ptype = doc.get("predicateType")
    if ptype == PREDICATE_COMPAT:
        return _parse_compat(subjects)
    if ptype != PREDICATE_V1:
        raise MalformedSignature(f"predicate type {str(ptype)[:80]!r} is not a model signature")
    if len(subjects) != 1 or not isinstance(subjects[0], dict):
        raise MalformedSignature("statement must have exactly one subject")
    name = subjects[0].get("name")
    root = (subjects[0].get("digest") or {}).get("sha256") if isinstance(subjects[0].get("digest"), dict) else None
    if not isinstance(name, str) or not isinstance(root, str):
        raise MalformedSignature("statement subject lacks a name or sha256 digest")
    predicate = doc.get("predicate")
    if not isinstance(predicate, dict):
        raise MalformedSignature("statement has no predicate")
    try:
        spec = HashSpec.from_parameters(predicate.get("serialization"))
    except ValueError as exc:
        raise MalformedSignature(f"serialization: {exc}") from None
    resources = predicate.get("resources")
    if not isinstance(resources, list):
        raise MalformedSignature("predicate has no resources list")
    items: dict[str, str] = {}
    root_hasher = hashlib.sha256()
    for i, res in enumerate(resources):
        if not isinstance(res, dict):
            raise MalformedSignature(f"resource {i} is not an object")
        ident, algo, digest = res.get("name"), res.get("algorithm"), res.get("digest")
        if not isinstance(ident, str) or not isinstance(algo, str) or not isinstance(digest, str):
            raise MalformedSignature(f"resource {i} lacks name, algorithm or digest")
        if algo != spec.resource_algorithm():
            raise MalformedSignature(f"resource {ident[:200]!r} uses {algo[:40]!r}, not {spec.resource_algorithm()}")
        if len(digest) != _DIGEST_LEN[spec.algorithm] or not _HEX.match(digest):
            raise MalformedSignature(f"resource {ident[:200]!r} has a malformed {algo} digest")
        path = ident
        if spec.method == "shards":
            path, start, end = _shard(ident)
            ident = f"{path}:{start}:{end}"
        safe_name(path)
        if ident in items:
            raise UnsafePathError(ident, "duplicate entry in manifest")
        items[ident] = digest
        root_hasher.update(bytes.fromhex(digest))
    if root_hasher.hexdigest() != root:
        raise MalformedSignature("manifest is inconsistent: its resources do not hash to the signed root digest")
    extra = {k: v for k, v in predicate.items() if k not in ("serialization", "resources")}
    return SignedManifest(name, spec, root, items, extra=extra)


def _shard(ident: str) -> tuple[str, int, int]:
    parts = ident.rsplit(":", 2)
    if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
        raise MalformedSignature(f"shard resource {ident[:200]!r} is not path:start:end")
    start, end = int(parts[1]), int(parts[2])
    if start >= end:
        raise MalformedSignature(f"shard resource {ident[:200]!r} has an empty or reversed range")
    return parts[0], start, end


def _parse_compat(subjects: list[Any]) -> SignedManifest:
    items: dict[str, str] = {}
    for s in subjects:
        if not isinstance(s, dict) or not isinstance(s.get("name"), str):
            raise MalformedSignature("compat statement subject lacks a name")
        digest = (s.get("digest") or {}).get("sha256")
        if not isinstance(digest, str) or len(digest) != 64 or not _HEX.match(digest):
            raise MalformedSignature("compat statement subject lacks a sha256 digest")
        name = safe_name(s["name"])
        if name in items:
            raise UnsafePathError(name, "duplicate entry in manifest")
        items[name] = digest
    return SignedManifest("compat", HashSpec(), "", items, compat=True)
