"""The local keyring: key-encryption keys in one owner-only file, sealed by a master key.

The master key comes from a passphrase (scrypt) or from a 32-byte secret in the
environment (HKDF); it is never written anywhere. Each entry is AES-256-GCM sealed
with its own name as associated data, so entries cannot be moved between keys.
A check value sealed at creation turns a wrong passphrase into one clear error
instead of garbage. The file and its folder must be private to the owner (0600 /
0700): a keyring that others could read is refused, not silently used.

Writes take an exclusive `flock` and replace the file atomically (temp, fsync,
rename), so a crash or a concurrent writer never leaves a half-written keyring.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import json
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from bastion.crypto._errors import KeyringError

FORMAT = "bastion-keyring-v1"
CHECK = b"bastion-keyring-check-v1"
PASSPHRASE_ENV = "BASTION_KEYRING_PASSPHRASE"
SECRET_ENV = "BASTION_KEYRING_SECRET"
MAX_FILE = 16 * 1024 * 1024
# scrypt cost: 2**15 * 8 * 128 B = 32 MiB and ~0.1 s, the interactive-login figure from RFC 7914.
SCRYPT_N = 2**15


@dataclass(frozen=True, slots=True)
class MasterSecret:
    """Where the keyring's master key comes from: a passphrase or a raw environment secret."""

    kind: str  # "passphrase" | "secret"
    value: bytes
    scrypt_n: int = SCRYPT_N

    @classmethod
    def passphrase(cls, text: str, *, scrypt_n: int = SCRYPT_N) -> MasterSecret:
        if not text:
            raise KeyringError("empty keyring passphrase")
        return cls("passphrase", text.encode("utf-8"), scrypt_n)

    @classmethod
    def secret(cls, encoded: str) -> MasterSecret:
        raw = _decode_secret(encoded)
        if len(raw) < 32:
            raise KeyringError(f"{SECRET_ENV} must decode to at least 32 bytes (base64 or hex)")
        return cls("secret", raw)

    @classmethod
    def from_env(cls, environ: Any = None) -> MasterSecret | None:
        env = os.environ if environ is None else environ
        if env.get(SECRET_ENV):
            return cls.secret(env[SECRET_ENV])
        if env.get(PASSPHRASE_ENV):
            return cls.passphrase(env[PASSPHRASE_ENV])
        return None


def _decode_secret(text: str) -> bytes:
    text = text.strip()
    try:
        return bytes.fromhex(text)
    except ValueError:
        pass
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise KeyringError(f"{SECRET_ENV} is neither hex nor base64") from None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: Any) -> bytes:
    if not isinstance(text, str):
        raise KeyringError("corrupt keyring (field is not a string)")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise KeyringError("corrupt keyring (bad base64)") from None


class Keyring:
    """Named secret blobs sealed under a master key, in ``<dir>/keyring.json``."""

    def __init__(self, directory: Path, secret: MasterSecret | None) -> None:
        self.dir = Path(directory)
        self.path = self.dir / "keyring.json"
        self._secret = secret
        self._master: bytes | None = None

    # -- permissions and locking ----------------------------------------------------------------

    def check_permissions(self) -> None:
        """Refuse a keyring folder or file that anyone but the owner can reach."""
        for p, want in ((self.dir, 0o700), (self.path, 0o600)):
            try:
                st = p.lstat()
            except FileNotFoundError:
                continue
            if stat.S_ISLNK(st.st_mode):
                raise KeyringError(f"{p}: is a symbolic link; the keyring must be a plain private file")
            if st.st_uid != os.geteuid():
                raise KeyringError(f"{p}: owned by uid {st.st_uid}, not by this user")
            loose = stat.S_IMODE(st.st_mode) & 0o077
            if loose:
                raise KeyringError(
                    f"{p}: permissions {stat.S_IMODE(st.st_mode):04o} are too open "
                    f"(others can read key material); run: chmod {want:o} {p}"
                )

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.check_permissions()
        fd = os.open(self.dir / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    # -- file -----------------------------------------------------------------------------------

    def _load(self) -> dict[str, Any] | None:
        self.check_permissions()
        try:
            with self.path.open("rb") as fh:
                raw = fh.read(MAX_FILE + 1)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise KeyringError(f"{self.path}: cannot read keyring: {exc.strerror or exc}") from None
        if len(raw) > MAX_FILE:
            raise KeyringError(f"{self.path}: keyring larger than {MAX_FILE} bytes; refusing")
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise KeyringError(f"{self.path}: corrupt keyring (not JSON)") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("entries"), dict):
            raise KeyringError(f"{self.path}: not a {FORMAT} keyring")
        return data

    def _save(self, data: dict[str, Any]) -> None:
        tmp = self.path.with_name(f".keyring.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(json.dumps(data, sort_keys=True, indent=1).encode())
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise
        dfd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)

    # -- master key -----------------------------------------------------------------------------

    def _derive(self, kdf: dict[str, Any]) -> bytes:
        if self._secret is None:
            raise KeyringError(
                f"the local keyring needs a master secret: set {PASSPHRASE_ENV} (passphrase) "
                f"or {SECRET_ENV} (32+ random bytes, hex or base64)"
            )
        name = kdf.get("name")
        salt = _unb64(kdf.get("salt", ""))
        if name == "scrypt":
            if self._secret.kind != "passphrase":
                raise KeyringError(f"this keyring is sealed by a passphrase; set {PASSPHRASE_ENV}")
            n, r, p = int(kdf.get("n", 0)), int(kdf.get("r", 0)), int(kdf.get("p", 0))
            if not (2**10 <= n <= 2**22 and n & (n - 1) == 0 and 1 <= r <= 32 and 1 <= p <= 16):
                raise KeyringError("corrupt keyring (scrypt parameters out of range)")
            return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(self._secret.value)
        if name == "hkdf-secret":
            if self._secret.kind != "secret":
                raise KeyringError(f"this keyring is sealed by an environment secret; set {SECRET_ENV}")
            return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=b"bastion-keyring").derive(
                self._secret.value
            )
        raise KeyringError(f"corrupt keyring (unknown kdf {name!r})")

    def _unlock(self, data: dict[str, Any]) -> bytes:
        if self._master is None:
            kdf = data.get("kdf")
            if not isinstance(kdf, dict):
                raise KeyringError("corrupt keyring (no kdf)")
            master = self._derive(kdf)
            check = data.get("check")
            if not isinstance(check, dict):
                raise KeyringError("corrupt keyring (no check value)")
            try:
                ok = AESGCM(master).decrypt(_unb64(check.get("nonce")), _unb64(check.get("ct")), None) == CHECK
            except (InvalidTag, ValueError):
                ok = False
            if not ok:
                raise KeyringError(f"wrong passphrase or secret for keyring {self.path}")
            self._master = master
        return self._master

    def _new(self) -> dict[str, Any]:
        if self._secret is None:
            self._derive({})  # raises the "needs a master secret" error
        assert self._secret is not None
        salt = os.urandom(16)
        if self._secret.kind == "passphrase":
            kdf: dict[str, Any] = {"name": "scrypt", "salt": _b64(salt), "n": self._secret.scrypt_n, "r": 8, "p": 1}
        else:
            kdf = {"name": "hkdf-secret", "salt": _b64(salt)}
        master = self._derive(kdf)
        nonce = os.urandom(12)
        check = {"nonce": _b64(nonce), "ct": _b64(AESGCM(master).encrypt(nonce, CHECK, None))}
        self._master = master
        return {"format": FORMAT, "kdf": kdf, "check": check, "entries": {}}

    # -- entries --------------------------------------------------------------------------------

    def put(self, name: str, secret: bytes) -> None:
        """Seal and store one entry; refuses to overwrite (key material is never replaced in place)."""
        with self._locked():
            data = self._load() or self._new()
            master = self._unlock(data)
            if name in data["entries"]:
                raise KeyringError(f"keyring already holds {name!r}")
            nonce = os.urandom(12)
            ct = AESGCM(master).encrypt(nonce, secret, name.encode())
            data["entries"][name] = {"nonce": _b64(nonce), "ct": _b64(ct)}
            self._save(data)

    def get(self, name: str) -> bytes:
        data = self._load()
        if data is None:
            raise KeyringError(f"no keyring at {self.path}")
        master = self._unlock(data)
        entry = data["entries"].get(name)
        if not isinstance(entry, dict):
            raise KeyringError(f"keyring has no entry {name!r} (destroyed, or another keyring)")
        try:
            return AESGCM(master).decrypt(_unb64(entry.get("nonce")), _unb64(entry.get("ct")), name.encode())
        except (InvalidTag, ValueError):
            raise KeyringError(f"keyring entry {name!r} fails authentication (tampered)") from None

    def delete(self, name: str) -> bool:
        """Remove an entry (crypto-shredding); True if it existed."""
        with self._locked():
            data = self._load()
            if data is None or name not in data["entries"]:
                return False
            self._unlock(data)  # only the holder of the master secret may destroy keys
            del data["entries"][name]
            self._save(data)
            return True

    def names(self) -> list[str]:
        data = self._load()
        return sorted(data["entries"]) if data else []
