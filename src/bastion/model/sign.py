"""Model signing and verification in the OpenSSF model-signing format.

    from bastion.model.sign import sign_model, verify_model
    sign_model("models/fraud", private_key="signing.pem")          # writes models/fraud.sig
    result = verify_model("models/fraud", public_key="signing.pub")
    if not result.ok:
        for p in result.problems:
            print(p.rule_id, p.path, p.message)

Signatures are Sigstore bundles carrying a DSSE-signed in-toto statement, exactly as
the upstream `model_signing` library writes them, so either tool verifies the
other's ECDSA, certificate and Sigstore signatures. Hashing is Bastion's own
(parallel across files and shards, reusable buffers) but produces the identical
manifest. Verification never raises on a bad artifact: each reason (unsigned,
malformed, invalid, untrusted, revoked key, changed/added/removed/renamed file,
unsafe path) is a `Problem` that maps to a declared rule and a `Finding`.
"""

from __future__ import annotations

from bastion.model._sign.core import (
    content_digest,
    default_signature_path,
    manifest_of,
    record_event,
    root_digest,
    sign_model,
    verify_model,
)
from bastion.model._sign.hashing import ALGORITHMS, HashSpec, UnsafePathError
from bastion.model._sign.keys import KeyError_ as KeyFileError
from bastion.model._sign.keys import fingerprint, generate, load_private_key, load_public_key, write_keypair
from bastion.model._sign.model import Problem, SignResult, VerifyResult
from bastion.model._sign.payload import MalformedSignature
from bastion.model._sign.rules import RULES, SCANNER_NAME

__all__ = [
    "ALGORITHMS",
    "RULES",
    "SCANNER_NAME",
    "HashSpec",
    "KeyFileError",
    "MalformedSignature",
    "Problem",
    "SignResult",
    "UnsafePathError",
    "VerifyResult",
    "content_digest",
    "default_signature_path",
    "fingerprint",
    "generate",
    "load_private_key",
    "load_public_key",
    "manifest_of",
    "record_event",
    "root_digest",
    "sign_model",
    "verify_model",
    "write_keypair",
]
