"""Sign and verify a model: hash with `hashing`, sign with upstream's format, compare and explain."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Sequence
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from model_signing._signing import sign_certificate, sign_sigstore_pb, signing

from bastion.model._sign import rules as R
from bastion.model._sign.hashing import (
    GIT_PATHS,
    FileEntry,
    HashSpec,
    UnsafePathError,
    collect_files,
    hash_model,
    model_name_of,
)
from bastion.model._sign.keys import PrivateKey, check_public, fingerprint, load_private_key, load_public_key
from bastion.model._sign.model import SignResult, VerifyResult
from bastion.model._sign.payload import MalformedSignature, SignedManifest, parse_payload, read_bundle
from bastion.model._sign.signers import KeyMismatch, KeySigner, KeyVerifier, Pkcs11Signer


def default_signature_path(model: Path) -> Path:
    """`<model>.sig` next to the model: outside a signed folder, so it never signs itself."""
    model = Path(model)
    name = model_name_of(model)
    return model.resolve().parent / f"{name}.sig"


def _relative_inside(model: Path, path: Path) -> str | None:
    try:
        rel = path.resolve().relative_to(model.resolve())
    except ValueError:
        return None
    return rel.as_posix() if str(rel) != "." else None


def _ignores(model: Path, signature: Path, ignore_paths: Iterable[str | Path], ignore_git_paths: bool) -> list[str]:
    """Ignore list as upstream records it: relative posix paths inside the model folder.

    Relative paths are resolved against the working directory, exactly as the upstream
    CLI does, and a path is ignored only if it really lies inside the model folder.
    Re-rooting a relative path that points elsewhere (`--signature ../out/model.sig`)
    inside the model would put an unrelated name on the signed ignore list, and a file
    planted there later would never be verified, by Bastion or by upstream.
    """
    out: set[str] = set()
    if model.is_dir():
        cwd = Path.cwd()
        for p in [*ignore_paths, signature]:
            pp = Path(p)
            rel = _relative_inside(model, pp if pp.is_absolute() else cwd / pp)
            if rel:
                out.add(rel)
        if ignore_git_paths:
            out.update(GIT_PATHS)
    return sorted(out)


def sign_model(
    model: str | Path,
    signature: str | Path | None = None,
    *,
    private_key: str | Path | PrivateKey | None = None,
    password: str | None = None,
    signing_certificate: str | Path | None = None,
    certificate_chain: Sequence[str | Path] = (),
    pkcs11_uri: str | None = None,
    module_paths: Sequence[str] = (),
    method: str = "files",
    algorithm: str = "sha256",
    shard_size: int = 1_000_000_000,
    allow_symlinks: bool = False,
    ignore_paths: Sequence[str | Path] = (),
    ignore_git_paths: bool = True,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
    extra_predicate: dict[str, Any] | None = None,
) -> SignResult:
    """Sign a model file or folder in the OpenSSF model-signing format; returns what was signed.

    `extra_predicate` adds fields next to `serialization` and `resources` (v1.0
    verifiers ignore unknown predicate fields, so upstream still verifies it);
    dataset manifests carry their provenance and chunk digests this way.
    """
    started = time.perf_counter()
    root = Path(model)
    sig_path = Path(signature) if signature is not None else default_signature_path(root)
    spec = HashSpec(
        method=method,
        algorithm=algorithm,
        shard_size=shard_size,
        allow_symlinks=allow_symlinks,
        ignore_paths=tuple(_ignores(root, sig_path, ignore_paths, ignore_git_paths)),
    )
    signer: signing.Signer
    pkcs11_signer: Pkcs11Signer | None = None
    if pkcs11_uri is not None:
        if private_key is not None:
            raise ValueError("give either a private key or a PKCS#11 URI, not both")
        pkcs11_signer = Pkcs11Signer(pkcs11_uri, tuple(module_paths))
        signer, who, how = pkcs11_signer, fingerprint(pkcs11_signer.public_key()), "pkcs11-key"
    elif private_key is None:
        raise ValueError("a private key (or a PKCS#11 URI) is required to sign")
    elif signing_certificate is not None:
        if not isinstance(private_key, str | Path):
            raise ValueError("certificate signing needs the private key as a PEM file path")
        chain = [Path(c) for c in certificate_chain]
        cert_signer = sign_certificate.Signer(
            Path(private_key), Path(signing_certificate), chain or [Path(signing_certificate)]
        )
        if not chain:  # upstream cannot parse an empty chain file list; a root-issued leaf needs none
            cert_signer._trust_chain = []
        signer = cert_signer
        cert = x509.load_pem_x509_certificate(Path(signing_certificate).read_bytes())
        who, how = cert.subject.rfc4514_string(), "certificate"
    else:
        key = private_key if not isinstance(private_key, str | Path) else load_private_key(Path(private_key), password)
        signer, who, how = KeySigner(key), fingerprint(key.public_key()), "key"
    try:
        files = collect_files(root, spec)
        manifest, _digests = hash_model(root, spec, workers=workers, files=files, progress=progress)
        payload = _payload(manifest, extra_predicate)
        sig = signer.sign(payload)
    finally:
        if pkcs11_signer is not None:
            pkcs11_signer.close()
    _write_signature(sig, sig_path)
    root_digest = dict(payload.statement.pb.subject[0].digest)["sha256"]
    return SignResult(
        model=str(root),
        signature=str(sig_path),
        method=how,
        signer=who,
        root_digest=root_digest,
        files=len(files),
        bytes_hashed=sum(f.size for f in files),
        seconds=time.perf_counter() - started,
        serialization=spec.parameters(),
    )


def _write_signature(sig: signing.Signature, sig_path: Path) -> None:
    """Write the bundle through an exclusively created temp file, then rename (0644).

    A fixed `<sig>.tmp` name was opened by upstream's `write` with a plain `open`,
    which follows a symlink planted there and overwrites whatever it points to.
    """
    import os

    from bastion.crypto._files import create_private_temp

    sig_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = create_private_temp(sig_path.parent, sig_path.name, 0o644)
    os.close(fd)
    try:
        sig.write(tmp)  # our own new regular file (O_EXCL): truncating it follows nothing
        os.replace(tmp, sig_path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _payload(manifest: Any, extra: dict[str, Any] | None) -> signing.Payload:
    payload = signing.Payload(manifest)
    if extra:
        from google.protobuf import json_format
        from in_toto_attestation.v1 import statement

        predicate = json_format.MessageToDict(payload.statement.pb.predicate)
        clash = set(extra) & set(predicate)
        if clash:
            raise ValueError(f"extra predicate fields clash with the model signature: {sorted(clash)}")
        predicate.update(extra)
        payload.statement = statement.Statement(
            subjects=list(payload.statement.pb.subject),
            predicate_type=signing._PREDICATE_TYPE,
            predicate=predicate,
        )
    return payload


# -- verification -------------------------------------------------------------------------


def verify_model(
    model: str | Path,
    signature: str | Path | None = None,
    *,
    public_key: str | Path | None = None,
    certificate_chain: Sequence[str | Path] = (),
    identity: str | None = None,
    oidc_issuer: str | None = None,
    trust_config: str | Path | None = None,
    use_staging: bool = False,
    revoked: Collection[str] = (),
    trusted_signers: Collection[str] | None = None,
    ignore_paths: Sequence[str | Path] = (),
    ignore_git_paths: bool = True,
    ignore_unsigned_files: bool = False,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> VerifyResult:
    """Verify a model against its signature; every failure is a named `Problem`, never an exception.

    Exactly one trust anchor is used: a pinned public key, a certificate chain (with an
    optional expected `identity`), or a Sigstore identity plus OIDC issuer (verified
    offline against `trust_config` or the cached public-good trust root). `revoked`
    lists key fingerprints that must no longer be accepted; `trusted_signers`, when
    given, lists the only fingerprints or identities allowed to have signed.
    """
    started = time.perf_counter()
    root = Path(model)
    sig_path = Path(signature) if signature is not None else default_signature_path(root)
    anchors = sum(x is not None and x != () for x in (public_key, tuple(certificate_chain) or None, oidc_issuer))
    if public_key is not None:
        method = "key"
    elif certificate_chain:
        method = "certificate"
    elif identity is not None and oidc_issuer is not None:
        method = "sigstore"
    else:
        raise ValueError("verification needs a public key, a certificate chain, or a Sigstore identity and issuer")
    if anchors > 1:
        raise ValueError("give exactly one of: public key, certificate chain, Sigstore identity")
    result = VerifyResult(model=str(root), signature=str(sig_path), method=method)
    revoked_set = {r.lower() for r in revoked}
    if not root.exists() and not root.is_symlink():
        raise FileNotFoundError(2, "No such file or directory", str(root))
    if not sig_path.is_file():
        return result.fail(R.UNSIGNED.id, f"no signature at {sig_path.name}")
    try:
        info = read_bundle(sig_path)
        verified = _verify_crypto(
            method,
            sig_path,
            info.kind,
            info.key_hint,
            info.certificates,
            result,
            public_key=public_key,
            certificate_chain=certificate_chain,
            identity=identity,
            oidc_issuer=oidc_issuer,
            trust_config=trust_config,
            use_staging=use_staging,
            revoked=revoked_set,
            trusted=trusted_signers,
        )
        if verified is None:
            return _done(result, started)
        signed = parse_payload(*verified)
    except MalformedSignature as exc:
        return _done(result.fail(R.MALFORMED.id, f"malformed signature: {exc}"), started)
    except UnsafePathError as exc:
        return _done(result.fail(R.UNSAFE_PATH.id, f"unsafe manifest: {exc}", exc.path), started)
    result.root_digest = signed.root_digest
    result.serialization = signed.spec.parameters()
    result.extra = signed.extra
    _compare(root, sig_path, signed, result, ignore_paths, ignore_git_paths, ignore_unsigned_files, workers, progress)
    result.ok = not result.problems
    return _done(result, started)


def _done(result: VerifyResult, started: float) -> VerifyResult:
    result.seconds = time.perf_counter() - started
    result.ok = not result.problems
    return result


def _verify_crypto(
    method: str,
    sig_path: Path,
    kind: str,
    hint: str | None,
    certs: tuple[bytes, ...],
    result: VerifyResult,
    *,
    public_key: str | Path | None,
    certificate_chain: Sequence[str | Path],
    identity: str | None,
    oidc_issuer: str | None,
    trust_config: str | Path | None,
    use_staging: bool,
    revoked: set[str],
    trusted: Collection[str] | None,
) -> tuple[str, bytes] | None:
    """Check the signature with the chosen anchor; returns (payload type, payload) or records why not."""
    if method == "key":
        if kind != "key":
            result.fail(R.UNTRUSTED.id, f"signature was made with a {kind}, but a public key was pinned")
            return None
        verifier = KeyVerifier(load_public_key(Path(str(public_key))))
        pinned = verifier.fingerprint
        if hint and hint.lower() in revoked:
            result.fail(R.REVOKED.id, f"signed by revoked key {hint[:16]}...")
            return None
        if pinned in revoked:
            result.fail(R.REVOKED.id, f"the pinned key {pinned[:16]}... is revoked")
            return None
        if trusted is not None and pinned not in {t.lower() for t in trusted}:
            result.fail(R.UNTRUSTED.id, f"key {pinned[:16]}... is not a trusted signer")
            return None
        try:
            out = verifier._verify_signed_content(_read_pb(sig_path))
        except KeyMismatch as exc:
            result.fail(
                R.UNTRUSTED.id, f"signature was made by key {exc.hint[:16]}..., not the pinned key {pinned[:16]}..."
            )
            return None
        except InvalidSignature:
            result.fail(R.INVALID.id, "signature does not verify with the pinned key (payload or signature altered)")
            return None
        result.signer = pinned
        return out
    if method == "certificate":
        if kind != "certificate":
            result.fail(R.UNTRUSTED.id, f"signature was made with a {kind}, but a certificate chain was given")
            return None
        leaf = _load_der(certs[0])
        if leaf is None:
            result.fail(R.MALFORMED.id, "malformed signature: signing certificate is not DER X.509")
            return None
        leaf_fp = fingerprint(check_public(leaf.public_key(), "signing certificate"))
        cert_fp = leaf.fingerprint(hashes.SHA256())
        if leaf_fp in revoked or cert_fp.hex() in revoked:
            result.fail(R.REVOKED.id, f"signing certificate key {leaf_fp[:16]}... is revoked")
            return None
        names = _identities(leaf)
        if identity is not None and identity not in names:
            shown = ", ".join(sorted(names)[:3]) or "no identity"
            result.fail(R.UNTRUSTED.id, f"signed by {shown}, expected identity {identity}")
            return None
        if trusted is not None and not (set(trusted) & (names | {leaf_fp})):
            result.fail(R.UNTRUSTED.id, "signing certificate identity is not a trusted signer")
            return None
        pb = _read_pb(sig_path)
        try:
            cverifier = sign_certificate.Verifier([Path(c) for c in certificate_chain])
            out = cverifier._verify_signed_content(pb)
        except InvalidSignature:
            result.fail(R.INVALID.id, "signature does not verify with the signing certificate's key")
            return None
        except Exception as exc:  # OpenSSL raises X509StoreContextError; upstream raises ValueError
            if type(exc).__name__ == "X509StoreContextError":
                result.fail(R.UNTRUSTED.id, f"certificate chain does not lead to a trusted root: {_short(exc)}")
            elif isinstance(exc, ValueError):
                result.fail(R.UNTRUSTED.id, f"certificate rejected: {_short(exc)}")
            else:
                raise
            return None
        result.signer = identity or leaf.subject.rfc4514_string()
        return out
    # Sigstore: verified offline against the given trust root or the cached public-good one.
    from sigstore import models as sigstore_models
    from sigstore import verify as sigstore_verify
    from sigstore.errors import Error as SigstoreError

    if kind != "sigstore":
        result.fail(R.UNTRUSTED.id, f"signature was made with a {kind}, not with Sigstore")
        return None
    assert identity is not None and oidc_issuer is not None
    try:
        if trust_config is not None:
            tc = sigstore_models.ClientTrustConfig.from_json(Path(trust_config).read_text())
        elif use_staging:
            tc = sigstore_models.ClientTrustConfig.staging(offline=True)
        else:
            tc = sigstore_models.ClientTrustConfig.production(offline=True)
        verifier3 = sigstore_verify.Verifier(trusted_root=tc.trusted_root)
        bundle = sigstore_models.Bundle.from_json(sig_path.read_text(encoding="utf-8"))
    except (SigstoreError, ValueError) as exc:
        result.fail(R.MALFORMED.id, f"malformed signature: Sigstore bundle rejected: {_short(exc)}")
        return None
    leaf_fp = fingerprint(check_public(bundle.signing_certificate.public_key(), "Sigstore certificate"))
    if leaf_fp in revoked:
        result.fail(R.REVOKED.id, f"Sigstore signing key {leaf_fp[:16]}... is revoked")
        return None
    policy = sigstore_verify.policy.Identity(identity=identity, issuer=oidc_issuer)
    try:
        out3: tuple[str, bytes] = verifier3.verify_dsse(bundle=bundle, policy=policy)
    except SigstoreError as exc:
        text = _short(exc)
        rule = R.UNTRUSTED.id if "identity" in text.lower() or "issuer" in text.lower() else R.INVALID.id
        result.fail(rule, f"Sigstore verification failed: {text}")
        return None
    result.signer = identity
    return out3


def _load_der(data: bytes) -> x509.Certificate | None:
    try:
        return x509.load_der_x509_certificate(data)
    except ValueError:
        return None


def _identities(cert: x509.Certificate) -> set[str]:
    """Names a certificate vouches for: SAN emails, URIs and DNS names, and the subject CN."""
    names: set[str] = set()
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        for kind in (x509.RFC822Name, x509.UniformResourceIdentifier, x509.DNSName):
            names.update(str(v) for v in san.get_values_for_type(kind))
    except x509.ExtensionNotFound:
        pass
    for attr in cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME):
        names.add(str(attr.value))
    return names


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


def _compare(
    root: Path,
    sig_path: Path,
    signed: SignedManifest,
    result: VerifyResult,
    ignore_paths: Sequence[str | Path],
    ignore_git_paths: bool,
    ignore_unsigned_files: bool,
    workers: int | None,
    progress: Callable[[int], None] | None,
) -> None:
    extra = _ignores(root, sig_path, ignore_paths, ignore_git_paths)
    spec = HashSpec(
        method=signed.spec.method,
        algorithm=signed.spec.algorithm,
        shard_size=signed.spec.shard_size,
        allow_symlinks=signed.spec.allow_symlinks,
        ignore_paths=tuple(sorted({*signed.spec.ignore_paths, *extra})),
    )
    try:
        files = collect_files(root, spec)
    except UnsafePathError as exc:
        result.fail(R.UNSAFE_PATH.id, f"unsafe artifact: {exc}", exc.path)
        return
    if signed.compat and root.is_file():
        files = [FileEntry(next(iter(signed.items), "."), root, files[0].size)] if files else files
    expected_files = signed.files()
    if ignore_unsigned_files:
        files = [f for f in files if f.identifier in expected_files]
    _manifest, actual = hash_model(root, spec, workers=workers, files=files, progress=progress)
    result.files_checked = len(files)
    result.bytes_hashed = sum(f.size for f in files)
    actual_hex = {k: v.hex() for k, v in actual.items()}
    _diff(signed, actual_hex, {f.identifier for f in files}, result)


def _by_file(items: dict[str, str], method: str) -> dict[str, dict[str, str]]:
    grouped: dict[str, dict[str, str]] = defaultdict(dict)
    for ident, digest in items.items():
        path = ident.rsplit(":", 2)[0] if method == "shards" else ident
        grouped[path][ident] = digest
    return grouped


def _diff(signed: SignedManifest, actual: dict[str, str], actual_files: set[str], result: VerifyResult) -> None:
    method = signed.spec.method
    exp = _by_file(signed.items, method)
    act = _by_file(actual, method)
    # Files with no content have no shards: present on disk, absent from a shard manifest.
    for f in actual_files:
        act.setdefault(f, {})
    if method == "shards":
        for f in [f for f, shards in act.items() if not shards and f not in exp]:
            del act[f]
    expected_digests = set(signed.items.values())
    if exp and act and not (expected_digests & set(actual.values())) and set(exp) != set(act):
        result.fail(
            R.INVALID.id,
            f"signature is for another model ({signed.model_name!r}): none of its {len(exp)} file(s) match",
        )
        return
    missing = sorted(set(exp) - set(act))
    added = sorted(set(act) - set(exp))
    # A missing and an added file with identical content: a rename, i.e. a replayed signature.
    content_of_missing = {_content_key(exp[m], method): m for m in missing}
    renamed: dict[str, str] = {}
    for a in added:
        key = _content_key(act[a], method)
        if key in content_of_missing and act[a]:
            renamed[a] = content_of_missing.pop(key)
    for new, old in sorted(renamed.items()):
        result.fail(R.MODIFIED.id, f"{old} was renamed to {new} after signing", new)
    for m in missing:
        if m not in renamed.values():
            result.fail(R.REMOVED.id, f"{m} is missing (signed but not present)", m)
    for a in added:
        if a not in renamed:
            result.fail(R.ADDED.id, f"{a} was added after signing", a)
    for f in sorted(set(exp) & set(act)):
        if exp[f] != act[f]:
            result.fail(R.MODIFIED.id, f"{f} has changed since signing{_where(exp[f], act[f])}", f)


def _content_key(shards: dict[str, str], method: str) -> tuple[str, ...]:
    """What a file's content looks like in the manifest, independent of its name."""
    if method != "shards":
        return tuple(shards.values())
    return tuple(sorted(f"{':'.join(k.rsplit(':', 2)[1:])}={v}" for k, v in shards.items()))


def _where(expected: dict[str, str], actual: dict[str, str]) -> str:
    if len(expected) <= 1 and len(actual) <= 1:
        return ""
    keys = set(expected) | set(actual)
    changed = sorted(
        (int(k.rsplit(":", 2)[1]), int(k.rsplit(":", 2)[2]))
        for k in keys
        if ":" in k and expected.get(k) != actual.get(k)
    )
    if not changed:
        return ""
    start, end = changed[0]
    return f" (first changed shard: bytes {start}-{end})"


def _read_pb(sig_path: Path) -> sign_sigstore_pb.Signature:
    """Upstream's reader, with its KeyError/TypeError on odd bundles turned into a reason."""
    try:
        return sign_sigstore_pb.Signature.read(sig_path)
    except Exception as exc:
        raise MalformedSignature(f"bundle does not parse: {_short(exc)}") from None


def manifest_of(model: str | Path, **kwargs: Any) -> dict[str, str]:
    """Digest every file of a model without signing: {identifier: hex digest}."""
    spec = HashSpec(**kwargs)
    _m, digests = hash_model(Path(model), spec)
    return {k: v.hex() for k, v in digests.items()}


def root_digest(digests: dict[str, bytes]) -> str:
    """The statement subject's digest: SHA-256 over every item digest in identifier order."""
    import hashlib

    h = hashlib.sha256()
    for _ident, digest in sorted(digests.items()):
        h.update(digest)
    return h.hexdigest()


def content_digest(model: str | Path, *, ignore_paths: Sequence[str | Path] = (), workers: int | None = None) -> str:
    """The registry identity of an artifact: the root digest of its default (files, SHA-256) manifest.

    Equal to the signed root digest of a default signature, so a verified signature
    gives the registry key without hashing twice.
    """
    root = Path(model)
    sig = default_signature_path(root)
    spec = HashSpec(ignore_paths=tuple(_ignores(root, sig, ignore_paths, True)))
    _m, digests = hash_model(root, spec, workers=workers)
    return f"sha256:{root_digest(digests)}"


def record_event(store: Any, project: str, actor: str, result: SignResult | VerifyResult) -> None:
    """Append the audit event for a signing or a verification (digests and counts only)."""
    if isinstance(result, SignResult):
        store.audit.append(
            project,
            "model.signed",
            actor,
            result.model[:512],
            {
                "method": result.method,
                "signer": result.signer[:256],
                "root_digest": result.root_digest,
                "files": result.files,
            },
        )
    else:
        store.audit.append(
            project,
            "model.verified",
            actor,
            result.model[:512],
            {
                "ok": result.ok,
                "method": result.method,
                "signer": (result.signer or "")[:256],
                "root_digest": result.root_digest,
                "problems": sorted({p.rule_id for p in result.problems}),
            },
        )
