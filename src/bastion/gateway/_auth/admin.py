"""Administrator accounts: Argon2id passwords, mandatory TOTP, replay refusal, lockout.

The TOTP seed must be readable to verify a code, so it is stored encrypted
(AES-256-GCM) under a key kept in the state folder, not in the database: a
stolen database alone yields neither passwords nor seeds. A code's time step is
remembered and any step at or before it is refused, so an observed code cannot
be replayed inside its validity window. Sessions are short HS256 tokens signed
with a key derived from the same secret, carrying the admin's roles and tenant.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jwt
import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import select, update

from bastion.core.types import utcnow
from bastion.gateway._auth.apikeys import KNOWN_ROLES
from bastion.gateway._auth.principal import AuthError, Principal
from bastion.gateway._tables import admins

if TYPE_CHECKING:
    from bastion.core.store import Store

_HASHER = PasswordHasher()
_DUMMY = _HASHER.hash("bastion-dummy-password-for-timing")
MIN_PASSWORD = 12
SESSION_ISSUER = "bastion-gateway-admin"


class AdminError(ValueError):
    pass


def load_secret(state_dir: Path) -> bytes:
    """The gateway's 32-byte secret (state_dir/keys/gateway.secret, owner-only), created on first use."""
    folder = Path(state_dir) / "keys"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / "gateway.secret"
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        data = path.read_bytes()
        if len(data) != 32:
            raise AdminError(f"{path}: corrupt gateway secret") from None
        return data
    secret = secrets.token_bytes(32)
    with os.fdopen(fd, "wb") as fh:
        fh.write(secret)
    return secret


def _subkey(secret: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"bastion-gateway:" + purpose).derive(secret)


@dataclass(frozen=True, slots=True)
class Enrollment:
    username: str
    totp_uri: str  # shown once, to put in an authenticator app


class AdminStore:
    def __init__(self, store: Store, project: str, secret: bytes, *, lockout_after: int, lockout_s: int, ttl_s: int):
        self.store = store
        self.project = project
        self._aead = AESGCM(_subkey(secret, b"totp-seed"))
        self._session_key = _subkey(secret, b"admin-session")
        self.lockout_after = lockout_after
        self.lockout_s = lockout_s
        self.ttl_s = ttl_s

    def _seal(self, seed: str, username: str) -> str:
        nonce = secrets.token_bytes(12)
        ct = self._aead.encrypt(nonce, seed.encode(), f"{self.project}/{username}".encode())
        return base64.b64encode(nonce + ct).decode()

    def _open(self, sealed: str, username: str) -> str:
        raw = base64.b64decode(sealed)
        return self._aead.decrypt(raw[:12], raw[12:], f"{self.project}/{username}".encode()).decode()

    def create(
        self, username: str, password: str, *, roles: tuple[str, ...] = ("admin",), tenant: str, actor: str
    ) -> Enrollment:
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$", username):
            raise AdminError("invalid username")
        if len(password) < MIN_PASSWORD:
            raise AdminError(f"password must be at least {MIN_PASSWORD} characters")
        bad = [r for r in roles if r not in KNOWN_ROLES]
        if bad or not roles:
            raise AdminError(f"unknown role(s): {', '.join(bad) or '(none)'}")
        seed = pyotp.random_base32()
        with self.store._write() as conn:
            exists = conn.execute(
                select(admins.c.username).where(admins.c.project == self.project, admins.c.username == username)
            ).first()
            if exists:
                raise AdminError(f"admin {username!r} already exists")
            conn.execute(
                admins.insert().values(
                    project=self.project,
                    username=username,
                    tenant=tenant,
                    roles=list(roles),
                    password_hash=_HASHER.hash(password),
                    totp_seed=self._seal(seed, username),
                    totp_last_step=0,
                    failed_count=0,
                    locked_until=None,
                    created_at=utcnow(),
                )
            )
            self.store.audit.append(
                self.project,
                "gateway.admin.created",
                actor,
                username,
                {"roles": list(roles), "tenant": tenant},
                session=conn,
            )
        return Enrollment(username, pyotp.TOTP(seed).provisioning_uri(name=username, issuer_name="Bastion"))

    def totp_seed_for_tests(self, username: str) -> str:
        """The decrypted seed (for provisioning tooling and tests; never logged)."""
        with self.store._read() as conn:
            row = conn.execute(
                select(admins.c.totp_seed).where(admins.c.project == self.project, admins.c.username == username)
            ).first()
        if row is None:
            raise AdminError(f"unknown admin {username!r}")
        return self._open(row.totp_seed, username)

    def login(self, username: str, password: str, code: str, *, at: float | None = None) -> str:
        """A session token, or `AuthError` (401, or 423 while locked) with a generic reason."""
        now = utcnow()
        at = time.time() if at is None else at
        refusal: AuthError | None = None  # raised after commit, so the failure count and its event persist
        with self.store._write() as conn:
            row = conn.execute(
                select(admins).where(admins.c.project == self.project, admins.c.username == username)
            ).first()
            if row is None:
                _verify(_DUMMY, password)  # same cost as a real attempt: no user enumeration by timing
                self.store.audit.append(
                    self.project,
                    "gateway.admin.login_failed",
                    "anonymous",
                    "unknown-user",
                    {"reason": "credentials"},
                    session=conn,
                )
                refusal = AuthError("invalid credentials")
            elif row.locked_until is not None and row.locked_until > now:
                self.store.audit.append(
                    self.project,
                    "gateway.admin.login_failed",
                    "anonymous",
                    username,
                    {"reason": "locked"},
                    session=conn,
                )
                refusal = AuthError("account locked", 423)
            else:
                refusal = self._check(conn, row, username, password, code, at, now)
                roles, tenant = list(row.roles), row.tenant
        if refusal is not None:
            raise refusal
        claims = {
            "iss": SESSION_ISSUER,
            "sub": username,
            "aud": self.project,
            "iat": int(at),
            "exp": int(at) + self.ttl_s,
            "roles": roles,
            "tenant": tenant,
            "jti": secrets.token_hex(8),
        }
        return jwt.encode(claims, self._session_key, algorithm="HS256")

    def _check(
        self, conn: Any, row: Any, username: str, password: str, code: str, at: float, now: datetime
    ) -> AuthError | None:
        """Password, then TOTP (refusing replayed steps); records the outcome in the caller's transaction."""
        ok = _verify(row.password_hash, password)
        step = _totp_step(self._open(row.totp_seed, username), code, at) if ok else None
        reason = "credentials" if step is None else ("replayed_code" if step <= row.totp_last_step else None)
        where = (admins.c.project == self.project, admins.c.username == username)
        if reason is not None:
            failed = int(row.failed_count) + 1
            values: dict[str, Any] = {"failed_count": failed}
            if failed >= self.lockout_after:
                values["locked_until"] = now + timedelta(seconds=self.lockout_s)
                values["failed_count"] = 0
            conn.execute(update(admins).where(*where).values(**values))
            data = {"reason": reason, "locked": "locked_until" in values}
            self.store.audit.append(
                self.project, "gateway.admin.login_failed", "anonymous", username, data, session=conn
            )
            return AuthError("invalid credentials")
        conn.execute(update(admins).where(*where).values(failed_count=0, locked_until=None, totp_last_step=step))
        self.store.audit.append(
            self.project, "gateway.admin.login", f"admin:{username}", username, {"mfa": "totp"}, session=conn
        )
        return None

    def verify_session(self, token: str) -> Principal:
        try:
            claims = jwt.decode(
                token,
                self._session_key,
                algorithms=["HS256"],
                audience=self.project,
                issuer=SESSION_ISSUER,
                options={"require": ["exp", "iat", "sub", "aud", "iss"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("session expired") from None
        except jwt.PyJWTError:
            raise AuthError("invalid session") from None
        return Principal(
            kind="admin",
            id=str(claims["sub"]),
            tenant=str(claims.get("tenant", "")),
            roles=tuple(claims.get("roles", [])),
            scopes=frozenset({"admin", "llm", "predict", "embeddings"}),
        )

    def is_session(self, token: str) -> bool:
        try:
            return jwt.get_unverified_header(token).get("alg") == "HS256" and (
                jwt.decode(token, options={"verify_signature": False}).get("iss") == SESSION_ISSUER
            )
        except jwt.PyJWTError:
            return False


def _verify(hashed: str, password: str) -> bool:
    try:
        return _HASHER.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


def _totp_step(seed: str, code: str, at: float) -> int | None:
    """The time step `code` belongs to (current ±1), or None."""
    if not re.fullmatch(r"\d{6}", code or ""):
        return None
    totp = pyotp.TOTP(seed)
    now_step = int(at) // totp.interval
    for step in (now_step, now_step - 1, now_step + 1):
        if secrets.compare_digest(totp.at(step * totp.interval), code):
            return step
    return None
