"""OIDC/JWT bearer tokens, validated against configured issuers only.

The header's algorithm is checked against the issuer's allowlist before any key
is looked at, so `alg: none` and the HS256-with-a-public-key confusion never
reach the verifier; issuer, audience, expiry and a maximum lifetime are all
required. The issuer is read from the unverified claims only to choose which
configuration (and so which keys) to verify with.
"""

from __future__ import annotations

import re
from typing import Any

import jwt
from jwt import PyJWK, PyJWKClient, PyJWKSet

from bastion.gateway._auth.principal import AuthError, Principal
from bastion.gateway._settings import OIDCIssuer

_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MAX_TOKEN = 8192


class OIDCVerifier:
    def __init__(self, issuers: list[OIDCIssuer]) -> None:
        self._issuers = {i.issuer: i for i in issuers}
        self._clients: dict[str, PyJWKClient] = {}
        self._sets: dict[str, PyJWKSet] = {}
        for issuer in issuers:
            if issuer.jwks is not None:
                self._sets[issuer.issuer] = PyJWKSet.from_dict(issuer.jwks)
            elif issuer.jwks_url is not None:
                self._clients[issuer.issuer] = PyJWKClient(issuer.jwks_url, cache_keys=True, lifespan=300, timeout=5)

    @property
    def enabled(self) -> bool:
        return bool(self._issuers)

    def _key(self, cfg: OIDCIssuer, kid: str | None) -> PyJWK:
        if cfg.issuer in self._sets:
            keys = self._sets[cfg.issuer].keys
            for k in keys:
                if kid is None or k.key_id == kid:
                    return k
            raise AuthError("token signed with an unknown key")
        client = self._clients.get(cfg.issuer)
        if client is None:
            raise AuthError("issuer has no keys configured")
        try:
            if kid is None:
                found = client.get_signing_keys()
                if len(found) != 1:
                    raise AuthError("token has no key id")
                return found[0]
            return client.get_signing_key(kid)
        except jwt.PyJWKClientError:
            raise AuthError("token signed with an unknown key") from None

    def verify(self, token: str) -> Principal:
        if len(token) > MAX_TOKEN or token.count(".") != 2:
            raise AuthError("malformed bearer token")
        try:
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise AuthError("malformed bearer token") from None
        cfg = self._issuers.get(str(claims.get("iss", "")))
        if cfg is None:
            raise AuthError("token from an untrusted issuer")
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in cfg.algorithms:
            raise AuthError("token algorithm not allowed")
        key = self._key(cfg, header.get("kid"))
        try:
            verified: dict[str, Any] = jwt.decode(
                token,
                key=key.key,
                algorithms=[alg],
                audience=cfg.audience,
                issuer=cfg.issuer,
                leeway=cfg.leeway_s,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("token expired") from None
        except jwt.PyJWTError as exc:
            raise AuthError(f"token rejected: {type(exc).__name__}") from None
        if float(verified["exp"]) - float(verified["iat"]) > cfg.max_lifetime_s:
            raise AuthError("token lifetime exceeds the allowed maximum")
        return _principal(cfg, verified)


def _listish(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(v for v in value.replace(",", " ").split() if v)
    if isinstance(value, list):
        return tuple(str(v) for v in value if isinstance(v, str | int))
    return ()


def _principal(cfg: OIDCIssuer, claims: dict[str, Any]) -> Principal:
    tenant = str(claims.get(cfg.tenant_claim, ""))
    if not _TENANT.match(tenant):
        raise AuthError("token carries no valid tenant claim", 403)
    models = claims.get(cfg.models_claim)
    return Principal(
        kind="oidc",
        id=str(claims["sub"])[:200],
        tenant=tenant,
        roles=_listish(claims.get(cfg.roles_claim)),
        scopes=frozenset(_listish(claims.get(cfg.scopes_claim))),
        models=None if models is None else _listish(models),
    )
