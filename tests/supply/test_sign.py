"""Signing and verification: interoperability with upstream model_signing, tamper detection, attacks."""

from __future__ import annotations

import base64
import contextlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.model._sign.hashing import HashSpec, collect_files, hash_model
from bastion.model._sign.payload import MalformedSignature, parse_payload, read_bundle, safe_name
from bastion.model.sign import (
    RULES,
    UnsafePathError,
    content_digest,
    load_private_key,
    sign_model,
    verify_model,
)

from ._support import run_upstream
from .conftest import CertChain, KeyPair, Token


def rules_of(result: Any) -> list[str]:
    return [p.rule_id for p in result.problems]


# -- round trips and interoperability ------------------------------------------------------


@pytest.mark.parametrize("kind", ["ec_key", "ed_key"])
def test_sign_verify_round_trip(kind: str, model: Path, request: pytest.FixtureRequest) -> None:
    key: KeyPair = request.getfixturevalue(kind)
    signed = sign_model(model, private_key=key.private)
    assert Path(signed.signature) == model.parent / "fraud-model.sig"
    assert signed.files == 4  # .gitattributes is ignored, as upstream does
    assert signed.signer == key.fingerprint
    result = verify_model(model, public_key=key.public)
    assert result.ok, result.problems
    assert result.signer == key.fingerprint
    assert result.root_digest == signed.root_digest
    assert content_digest(model) == f"sha256:{signed.root_digest}"


def test_bastion_signature_verifies_with_upstream_cli(model: Path, ec_key: KeyPair, tmp_path: Path) -> None:
    sig = tmp_path / "bastion.sig"
    sign_model(model, sig, private_key=ec_key.private)
    proc = run_upstream("verify", "key", model, "--signature", sig, "--public_key", ec_key.public)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (model / "config.json").write_text('{"layers": 5}\n')
    proc = run_upstream("verify", "key", model, "--signature", sig, "--public_key", ec_key.public)
    assert proc.returncode != 0


def test_upstream_signature_verifies_with_bastion(model: Path, ec_key: KeyPair, tmp_path: Path) -> None:
    sig = model / "model.sig"  # inside the folder: upstream records it as ignored
    proc = run_upstream("sign", "key", model, "--signature", sig, "--private_key", ec_key.private)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = verify_model(model, sig, public_key=ec_key.public)
    assert result.ok, result.problems
    (model / "tokenizer" / "vocab.txt").write_text("a\nb\nX\n")
    result = verify_model(model, sig, public_key=ec_key.public)
    assert rules_of(result) == ["supply.integrity.modified"]
    assert result.problems[0].path == "tokenizer/vocab.txt"


def test_sharded_and_blake3_signatures_interoperate(model: Path, ec_key: KeyPair, tmp_path: Path) -> None:
    # The upstream CLI always re-hashes with files/SHA-256; its library reads the serialization
    # from the signature, so that is the interoperability anchor for shards and BLAKE3.
    from model_signing import verifying

    for name, kwargs in (("shards", {"method": "shards", "shard_size": 65_536}), ("b3", {"algorithm": "blake3"})):
        sig = tmp_path / f"{name}.sig"
        sign_model(model, sig, private_key=ec_key.private, **kwargs)
        assert verify_model(model, sig, public_key=ec_key.public).ok
        verifying.Config().use_elliptic_key_verifier(public_key=ec_key.public).verify(model, sig)
        (model / "config.json").write_text("changed")
        with pytest.raises(ValueError, match=r"config\.json"):
            verifying.Config().use_elliptic_key_verifier(public_key=ec_key.public).verify(model, sig)
        (model / "config.json").write_text('{"layers": 4}\n')


def test_sharded_change_names_file_and_byte_range(model: Path, ec_key: KeyPair, tmp_path: Path) -> None:
    sig = tmp_path / "s.sig"
    sign_model(model, sig, private_key=ec_key.private, method="shards", shard_size=50_000)
    with (model / "model.safetensors").open("r+b") as fh:
        fh.seek(120_000)
        fh.write(b"\xff")
    result = verify_model(model, sig, public_key=ec_key.public)
    assert rules_of(result) == ["supply.integrity.modified"]
    assert result.problems[0].path == "model.safetensors"
    assert "bytes 100000-150000" in result.problems[0].message


def test_single_file_model(tmp_path: Path, ec_key: KeyPair) -> None:
    f = tmp_path / "model.onnx"
    f.write_bytes(os.urandom(5000))
    signed = sign_model(f, private_key=ec_key.private)
    assert Path(signed.signature).name == "model.onnx.sig"
    assert verify_model(f, public_key=ec_key.public).ok
    proc = run_upstream("verify", "key", f, "--signature", signed.signature, "--public_key", ec_key.public)
    assert proc.returncode == 0, proc.stderr
    f.write_bytes(b"other")
    assert rules_of(verify_model(f, public_key=ec_key.public)) == ["supply.integrity.modified"]


def test_hashing_matches_upstream_manifest(model: Path) -> None:
    from model_signing import hashing as upstream

    for spec, cfg in (
        (HashSpec(), upstream.Config()),
        (
            HashSpec(method="shards", shard_size=70_000),
            upstream.Config().use_shard_serialization(shard_size=70_000),
        ),
    ):
        ours, _ = hash_model(
            model, HashSpec(method=spec.method, shard_size=spec.shard_size, ignore_paths=(".gitattributes",))
        )
        theirs = cfg.hash(model)
        assert ours == theirs


# -- tampering -----------------------------------------------------------------------------


def _mutate(model: Path, change: str) -> str:
    if change == "modify":
        (model / "config.json").write_text('{"layers": 40}\n')
        return "config.json"
    if change == "add":
        (model / "tokenizer" / "extra.py").write_text("import os\n")
        return "tokenizer/extra.py"
    if change == "remove":
        (model / "tokenizer" / "vocab.txt").unlink()
        return "tokenizer/vocab.txt"
    if change == "truncate":
        with (model / "model.safetensors").open("r+b") as fh:
            fh.truncate(1000)
        return "model.safetensors"
    raise AssertionError(change)


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        ("modify", "supply.integrity.modified"),
        ("add", "supply.integrity.added"),
        ("remove", "supply.integrity.removed"),
        ("truncate", "supply.integrity.modified"),
    ],
)
def test_any_change_fails_and_names_the_file(model: Path, ec_key: KeyPair, change: str, rule: str) -> None:
    sign_model(model, private_key=ec_key.private)
    path = _mutate(model, change)
    result = verify_model(model, public_key=ec_key.public)
    assert not result.ok
    assert [(p.rule_id, p.path) for p in result.problems] == [(rule, path)]
    assert path in result.problems[0].message
    finding = result.findings("models/fraud")[0]
    assert finding.rule_id == rule and finding.location.pointer == f"file:{path}"


def test_renamed_file_is_reported_as_replay(model: Path, ec_key: KeyPair) -> None:
    sign_model(model, private_key=ec_key.private)
    (model / "config.json").rename(model / "config.prod.json")
    result = verify_model(model, public_key=ec_key.public)
    assert rules_of(result) == ["supply.integrity.modified"]
    assert "config.json was renamed to config.prod.json" in result.problems[0].message


def test_signature_for_another_model(model: Path, ec_key: KeyPair, tmp_path: Path) -> None:
    other = tmp_path / "other-model"
    other.mkdir()
    (other / "weights.bin").write_bytes(os.urandom(100))
    sig = tmp_path / "other.sig"
    sign_model(other, sig, private_key=ec_key.private)
    result = verify_model(model, sig, public_key=ec_key.public)
    assert rules_of(result) == ["supply.signature.invalid"]
    assert "another model ('other-model')" in result.problems[0].message


# -- bad signature files -------------------------------------------------------------------


@pytest.fixture
def signed(model: Path, ec_key: KeyPair) -> Path:
    return Path(sign_model(model, private_key=ec_key.private).signature)


def test_missing_signature(model: Path, ec_key: KeyPair) -> None:
    result = verify_model(model, public_key=ec_key.public)
    assert rules_of(result) == ["supply.signature.missing"]


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"", "empty"),
        (b"\xff\xfe\x00", "not UTF-8"),
        (b"[1, 2]", "top level is not an object"),
        (b'{"mediaType": "text/plain"}', "not a Sigstore bundle"),
        (b"not json at all", "not JSON"),
    ],
)
def test_malformed_signature_files(model: Path, ec_key: KeyPair, signed: Path, content: bytes, needle: str) -> None:
    signed.write_bytes(content)
    result = verify_model(model, signed, public_key=ec_key.public)
    assert rules_of(result) == ["supply.signature.malformed"]
    assert needle in result.problems[0].message


def test_truncated_signature(model: Path, ec_key: KeyPair, signed: Path) -> None:
    data = signed.read_bytes()
    for cut in (len(data) // 2, len(data) - 3, 10):
        signed.write_bytes(data[:cut])
        result = verify_model(model, signed, public_key=ec_key.public)
        assert rules_of(result) == ["supply.signature.malformed"], cut
        assert "truncated" in result.problems[0].message


def test_altered_payload_fails_signature_check(model: Path, ec_key: KeyPair, signed: Path) -> None:
    doc = json.loads(signed.read_text())
    payload = json.loads(base64.b64decode(doc["dsseEnvelope"]["payload"]))
    payload["predicate"]["resources"][0]["digest"] = "0" * 64
    doc["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(payload).encode()).decode()
    signed.write_text(json.dumps(doc))
    result = verify_model(model, signed, public_key=ec_key.public)
    assert rules_of(result) == ["supply.signature.invalid"]


def test_wrong_key_is_untrusted(model: Path, other_key: KeyPair, signed: Path) -> None:
    result = verify_model(model, signed, public_key=other_key.public)
    assert rules_of(result) == ["supply.signature.untrusted"]
    assert "not the pinned key" in result.problems[0].message


def test_revoked_key(model: Path, ec_key: KeyPair, signed: Path) -> None:
    result = verify_model(model, signed, public_key=ec_key.public, revoked={ec_key.fingerprint.upper()})
    assert rules_of(result) == ["supply.signature.revoked"]


def test_trusted_signers_allowlist(model: Path, ec_key: KeyPair, signed: Path) -> None:
    assert verify_model(model, signed, public_key=ec_key.public, trusted_signers={ec_key.fingerprint}).ok
    result = verify_model(model, signed, public_key=ec_key.public, trusted_signers={"ab" * 32})
    assert rules_of(result) == ["supply.signature.untrusted"]


def test_ed25519_signature_rejected_by_ecdsa_only_upstream(model: Path, ed_key: KeyPair) -> None:
    signed = sign_model(model, private_key=ed_key.private)
    proc = run_upstream("verify", "key", model, "--signature", signed.signature, "--public_key", ed_key.public)
    assert proc.returncode != 0  # documented: upstream 1.1 verifies ECDSA only


def _resign(signed: Path, key: Path, mutate: Any) -> None:
    """Rewrite the signed payload and sign it again, as an attacker holding a trusted key would."""
    from model_signing._signing import sign_sigstore_pb

    from bastion.model._sign.signers import sign_bytes

    doc = json.loads(signed.read_text())
    payload = json.loads(base64.b64decode(doc["dsseEnvelope"]["payload"]))
    mutate(payload)
    import hashlib

    root = hashlib.sha256()
    for r in payload["predicate"]["resources"]:
        root.update(bytes.fromhex(r["digest"]))
    payload["subject"][0]["digest"]["sha256"] = root.hexdigest()
    raw = json.dumps(payload).encode()
    sig = sign_bytes(load_private_key(key), sign_sigstore_pb.pae(raw))
    doc["dsseEnvelope"]["payload"] = base64.b64encode(raw).decode()
    doc["dsseEnvelope"]["signatures"][0]["sig"] = base64.b64encode(sig).decode()
    signed.write_text(json.dumps(doc))


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda p: p["predicate"]["resources"].append(dict(p["predicate"]["resources"][0])), "duplicate"),
        (lambda p: p["predicate"]["resources"][0].update(name="../../etc/passwd"), "'..'"),
        (lambda p: p["predicate"]["resources"][0].update(name="/etc/passwd"), "absolute"),
        (lambda p: p["predicate"]["resources"][0].update(name="a/./b"), "non-canonical"),
        (lambda p: p["predicate"]["resources"][0].update(name="a\\..\\b"), "invalid path"),
    ],
)
def test_hostile_manifest_paths_are_rejected(
    model: Path, ec_key: KeyPair, signed: Path, mutate: Any, needle: str
) -> None:
    _resign(signed, ec_key.private, mutate)
    result = verify_model(model, signed, public_key=ec_key.public)
    assert rules_of(result) == ["supply.integrity.unsafe-path"]
    assert needle in result.problems[0].message


def test_inconsistent_root_digest(model: Path, ec_key: KeyPair, signed: Path) -> None:
    def break_root(p: dict[str, Any]) -> None:
        p["predicate"]["resources"][0]["digest"] = "1" * 64

    _resign(signed, ec_key.private, break_root)
    doc = json.loads(signed.read_text())
    payload = json.loads(base64.b64decode(doc["dsseEnvelope"]["payload"]))
    payload["subject"][0]["digest"]["sha256"] = "2" * 64
    raw = json.dumps(payload).encode()
    from model_signing._signing import sign_sigstore_pb

    from bastion.model._sign.signers import sign_bytes

    doc["dsseEnvelope"]["payload"] = base64.b64encode(raw).decode()
    doc["dsseEnvelope"]["signatures"][0]["sig"] = base64.b64encode(
        sign_bytes(load_private_key(ec_key.private), sign_sigstore_pb.pae(raw))
    ).decode()
    signed.write_text(json.dumps(doc))
    result = verify_model(model, signed, public_key=ec_key.public)
    assert rules_of(result) == ["supply.signature.malformed"]
    assert "inconsistent" in result.problems[0].message


# -- symlinks and special files ------------------------------------------------------------


def test_symlink_escaping_the_folder(model: Path, ec_key: KeyPair, tmp_path: Path) -> None:
    outside = tmp_path / "secret.bin"
    outside.write_bytes(b"outside")
    (model / "weights-link.bin").symlink_to(outside)
    with pytest.raises(UnsafePathError, match="symlink"):
        sign_model(model, private_key=ec_key.private)
    with pytest.raises(UnsafePathError, match="escapes the model folder"):
        sign_model(model, private_key=ec_key.private, allow_symlinks=True)


def test_symlink_added_after_signing(model: Path, ec_key: KeyPair, tmp_path: Path) -> None:
    sign_model(model, private_key=ec_key.private, allow_symlinks=True)
    (model / "evil").symlink_to(tmp_path)
    result = verify_model(model, public_key=ec_key.public)
    assert rules_of(result) == ["supply.integrity.unsafe-path"]
    assert result.problems[0].path == "evil"


def test_symlink_inside_folder_is_allowed_when_asked(model: Path, ec_key: KeyPair) -> None:
    (model / "alias.json").symlink_to(model / "config.json")
    sign_model(model, private_key=ec_key.private, allow_symlinks=True)
    assert verify_model(model, public_key=ec_key.public).ok


def test_fifo_is_refused(model: Path) -> None:
    os.mkfifo(model / "pipe")
    with pytest.raises(UnsafePathError, match="special file"):
        collect_files(model, HashSpec())


# -- certificates and PKCS#11 --------------------------------------------------------------


def test_certificate_chain_and_identity(model: Path, cert_chain: CertChain, tmp_path: Path) -> None:
    sig = tmp_path / "cert.sig"
    signed = sign_model(model, sig, private_key=cert_chain.leaf_key, signing_certificate=cert_chain.leaf_cert)
    assert signed.method == "certificate" and "ml-release" in signed.signer
    ok = verify_model(model, sig, certificate_chain=[cert_chain.root], identity=cert_chain.email)
    assert ok.ok, ok.problems
    assert ok.signer == cert_chain.email
    proc = run_upstream("verify", "certificate", model, "--signature", sig, "--certificate_chain", cert_chain.root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    wrong = verify_model(model, sig, certificate_chain=[cert_chain.root], identity="mallory@evil.example")
    assert rules_of(wrong) == ["supply.signature.untrusted"]
    assert "expected identity mallory@evil.example" in wrong.problems[0].message
    untrusted = verify_model(model, sig, certificate_chain=[cert_chain.other_root])
    assert rules_of(untrusted) == ["supply.signature.untrusted"]
    assert "trusted root" in untrusted.problems[0].message


def test_pkcs11_softhsm_signature(model: Path, softhsm: Token, tmp_path: Path) -> None:
    sig = tmp_path / "hsm.sig"
    signed = sign_model(model, sig, pkcs11_uri=softhsm.uri)
    assert signed.method == "pkcs11-key"
    assert verify_model(model, sig, public_key=softhsm.public).ok
    proc = run_upstream("verify", "key", model, "--signature", sig, "--public_key", softhsm.public)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("uri", "needle"),
    [
        ("slot=1", "missing 'pkcs11:' prefix"),
        ("pkcs11:token=x;object", "malformed"),
        ("pkcs11:token=x?module-path=relative.so", "absolute"),
    ],
)
def test_pkcs11_bad_uris(model: Path, uri: str, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        sign_model(model, pkcs11_uri=uri)


# -- usage errors --------------------------------------------------------------------------


def test_usage_errors(model: Path, ec_key: KeyPair, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="private key"):
        sign_model(model)
    with pytest.raises(ValueError, match="public key, a certificate chain"):
        verify_model(model)
    with pytest.raises(FileNotFoundError):
        verify_model(tmp_path / "nope", public_key=ec_key.public)
    with pytest.raises(ValueError, match="unsupported hash algorithm"):
        sign_model(model, private_key=ec_key.private, algorithm="md5")
    bad = tmp_path / "bad.pem"
    bad.write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ValueError, match="not a PEM private key"):
        sign_model(model, private_key=bad)


def test_every_rule_maps_to_catalog_controls() -> None:
    from bastion.core.controls import validate_refs

    for rule in RULES.values():
        assert rule.controls, rule.id
        assert validate_refs(rule.controls) == [], rule.id


# -- property tests for the parsers --------------------------------------------------------


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(doc=_json)
def test_payload_parser_fails_only_with_reasons(doc: Any) -> None:
    base = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "m", "digest": {"sha256": "00"}}],
        "predicateType": "https://model_signing/signature/v1.0",
        "predicate": doc,
    }
    for candidate in (doc, base):
        with contextlib.suppress(MalformedSignature, UnsafePathError):
            parse_payload("application/vnd.in-toto+json", json.dumps(candidate).encode())


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=300) | _json.map(lambda d: json.dumps(d).encode()))
def test_bundle_reader_fails_only_with_reasons(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    path = tmp_path_factory.mktemp("sig") / "x.sig"
    path.write_bytes(data)
    with contextlib.suppress(MalformedSignature):
        read_bundle(path)


@settings(max_examples=300, deadline=None)
@given(name=st.text(max_size=40))
def test_safe_names_never_escape(name: str) -> None:
    try:
        ok = safe_name(name)
    except UnsafePathError:
        return
    resolved = (Path("/model") / ok).resolve()
    assert resolved == Path("/model") or resolved.is_relative_to(Path("/model"))


# -- where the signature goes: only the real signature file is ever ignored ----------------


def test_relative_signature_outside_the_model_is_not_ignored_inside_it(
    model: Path, ec_key: KeyPair, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--signature sigs/model.sig` from a CWD outside the model names a file outside it.

    Re-rooting that path inside the model folder put `sigs/model.sig` on the signed
    ignore list, so a file planted at `<model>/sigs/model.sig` was never verified.
    """
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sigs").mkdir()
    signed = sign_model(model, Path("sigs/model.sig"), private_key=ec_key.private)
    assert (tmp_path / "sigs" / "model.sig").is_file()
    assert "ignore_paths" not in signed.serialization or "sigs/model.sig" not in signed.serialization["ignore_paths"]
    (model / "sigs").mkdir()
    (model / "sigs" / "model.sig").write_bytes(b"\x80\x04planted")
    result = verify_model(model, Path("sigs/model.sig"), public_key=ec_key.public)
    assert not result.ok
    assert "supply.integrity.added" in rules_of(result)
    assert any(p.path == "sigs/model.sig" for p in result.problems)


def test_relative_signature_inside_the_model_is_ignored(
    model: Path, ec_key: KeyPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(model)
    signed = sign_model(Path("."), Path("model.sig"), private_key=ec_key.private)
    assert "model.sig" in signed.serialization["ignore_paths"]
    assert verify_model(Path("."), Path("model.sig"), public_key=ec_key.public).ok


def test_write_keypair_never_loses_a_key(tmp_path: Path) -> None:
    from bastion.model.sign import generate, write_keypair

    key = generate("ecdsa-p256")
    with pytest.raises(ValueError, match="public key path is the private key path"):
        write_keypair(key, tmp_path / "k.pub", tmp_path / "k.pub")
    assert list(tmp_path.iterdir()) == []
    write_keypair(key, tmp_path / "k.pem", tmp_path / "k.pub")
    before = (tmp_path / "k.pem").read_bytes()
    with pytest.raises(FileExistsError):
        write_keypair(generate("ecdsa-p256"), tmp_path / "k.pem", tmp_path / "k.pub")
    assert (tmp_path / "k.pem").read_bytes() == before
    write_keypair(generate("ecdsa-p256"), tmp_path / "k.pem", tmp_path / "k.pub", overwrite=True)
    assert (tmp_path / "k.pem").read_bytes() != before


def test_signing_never_writes_through_a_planted_symlink(model: Path, ec_key: KeyPair, tmp_path: Path) -> None:
    """The signature used to go through a fixed `<sig>.tmp`, opened with a plain open()."""
    victim = tmp_path / "victim.txt"
    victim.write_text("do not overwrite\n")
    sig = tmp_path / "out" / "model.sig"
    sig.parent.mkdir()
    (sig.parent / "model.sig.tmp").symlink_to(victim)
    sign_model(model, sig, private_key=ec_key.private)
    assert victim.read_text() == "do not overwrite\n"
    assert not sig.is_symlink() and verify_model(model, sig, public_key=ec_key.public).ok


def test_sigstore_client_is_loaded_only_when_used() -> None:
    """Key signatures never need the `sigstore` client; upstream's Sigstore signer loads on first use."""
    import subprocess
    import sys

    probe = """
import sys, types
import bastion.model.sign
assert "sigstore" not in sys.modules, "sigstore imported eagerly"
from model_signing import signing, verifying
assert verifying.sigstore.Verifier.__module__ == "model_signing._signing.sign_sigstore"
assert signing.sigstore.Signer.__name__ == "Signer"
real = sys.modules["model_signing._signing.sign_sigstore"]
assert type(real) is types.ModuleType and hasattr(real, "Verifier")
assert "sigstore" in sys.modules
print("ok")
"""
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


def test_sigstore_verification_of_a_key_signature_is_refused(model: Path, ec_key: KeyPair) -> None:
    sign_model(model, private_key=ec_key.private)
    result = verify_model(model, identity="ci@bank.example", oidc_issuer="https://issuer.example")
    assert rules_of(result) == ["supply.signature.untrusted"]
    assert "not with Sigstore" in result.problems[0].message
