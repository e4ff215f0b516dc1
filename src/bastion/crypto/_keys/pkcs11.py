"""KEKs inside a PKCS#11 token (an HSM, or SoftHSM2 in tests).

The AES-256 KEK is generated on the token as sensitive and non-extractable, and
the token itself runs AES-GCM over each data key, so KEK material never enters
this process. Configuration comes from the environment (``BASTION_PKCS11_MODULE``,
``BASTION_PKCS11_TOKEN``, ``BASTION_PKCS11_PIN``) or explicit arguments; an absent
module, token or wrong PIN is a `ProviderUnavailable` with one line saying which.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bastion.crypto._errors import IntegrityError, KeyError_, ProviderUnavailable
from bastion.crypto._keys.providers import KekRef

DEFAULT_MODULES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
)
_LIBS: dict[str, Any] = {}
_LOCK = threading.Lock()


def default_module() -> str | None:
    env = os.environ.get("BASTION_PKCS11_MODULE")
    if env:
        return env
    return next((m for m in DEFAULT_MODULES if Path(m).is_file()), None)


def _load(module: str) -> Any:
    with _LOCK:
        if module not in _LIBS:
            if not Path(module).is_file():
                raise ProviderUnavailable(f"PKCS#11 module {module} not found")
            try:
                import pkcs11
            except ImportError:
                raise ProviderUnavailable("python-pkcs11 is not installed (pip install python-pkcs11)") from None
            try:
                _LIBS[module] = pkcs11.lib(module)
            except Exception as exc:
                raise ProviderUnavailable(f"cannot load PKCS#11 module {module}: {exc}") from None
        return _LIBS[module]


class Pkcs11Provider:
    name = "pkcs11"
    pq_hybrid = False

    def __init__(self, module: str | None = None, token: str | None = None, pin: str | None = None) -> None:
        self.module = module or default_module()
        self.token_label = token or os.environ.get("BASTION_PKCS11_TOKEN")
        self.pin = pin if pin is not None else os.environ.get("BASTION_PKCS11_PIN")
        if not self.module:
            raise ProviderUnavailable("no PKCS#11 module: set BASTION_PKCS11_MODULE (e.g. libsofthsm2.so)")
        if not self.token_label:
            raise ProviderUnavailable("no PKCS#11 token: set BASTION_PKCS11_TOKEN to the token label")
        if not self.pin:
            raise ProviderUnavailable("no PKCS#11 user PIN: set BASTION_PKCS11_PIN")

    @contextlib.contextmanager
    def _session(self) -> Iterator[Any]:
        import pkcs11
        from pkcs11 import exceptions as pe

        lib = _load(str(self.module))
        try:
            token = lib.get_token(token_label=self.token_label)
        except (pe.NoSuchToken, pe.MultipleTokensReturned):
            raise ProviderUnavailable(f"PKCS#11 token {self.token_label!r} is not present") from None
        except pkcs11.PKCS11Error as exc:
            raise ProviderUnavailable(f"PKCS#11 token {self.token_label!r}: {type(exc).__name__}") from None
        try:
            session = token.open(user_pin=self.pin, rw=True)
        except pe.PinIncorrect:
            raise ProviderUnavailable(f"wrong PIN for PKCS#11 token {self.token_label!r}") from None
        except pkcs11.PKCS11Error as exc:
            raise ProviderUnavailable(f"cannot open PKCS#11 token {self.token_label!r}: {type(exc).__name__}") from None
        try:
            yield session
        finally:
            session.close()

    @staticmethod
    def _label(ref: KekRef) -> str:
        return f"bastion:{ref.name}"

    def _key(self, session: Any, ref: KekRef) -> Any:
        from pkcs11 import KeyType, ObjectClass
        from pkcs11 import exceptions as pe

        try:
            return session.get_key(object_class=ObjectClass.SECRET_KEY, key_type=KeyType.AES, label=self._label(ref))
        except pe.NoSuchKey:
            raise KeyError_(f"PKCS#11 token {self.token_label!r} holds no key for {ref.name}") from None

    def create(self, ref: KekRef) -> dict[str, Any]:
        from pkcs11 import Attribute, KeyType, MechanismFlag

        with self._session() as s:
            with contextlib.suppress(KeyError_):
                self._key(s, ref)
                raise KeyError_(f"PKCS#11 token already holds a key labelled {self._label(ref)!r}")
            s.generate_key(
                KeyType.AES,
                256,
                label=self._label(ref),
                store=True,
                capabilities=MechanismFlag.ENCRYPT | MechanismFlag.DECRYPT,
                template={Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False},
            )
        return {"token": self.token_label, "label": self._label(ref)}

    def wrap(self, ref: KekRef, meta: dict[str, Any], dek: bytes, aad: bytes) -> bytes:
        from pkcs11 import GCMParams, Mechanism

        nonce = os.urandom(12)
        with self._session() as s:
            ct = self._key(s, ref).encrypt(dek, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(nonce, aad))
        return nonce + bytes(ct)

    def unwrap(self, ref: KekRef, meta: dict[str, Any], wrapped: bytes, aad: bytes) -> bytes:
        import pkcs11
        from pkcs11 import GCMParams, Mechanism

        if len(wrapped) < 28:
            raise IntegrityError("wrapped data key is truncated")
        with self._session() as s:
            key = self._key(s, ref)
            try:
                out = key.decrypt(
                    wrapped[12:], mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(wrapped[:12], aad)
                )
            except pkcs11.PKCS11Error:
                raise IntegrityError("data key does not unwrap on the token: wrong key or tampered record") from None
        return bytes(out)

    def destroy(self, ref: KekRef, meta: dict[str, Any]) -> bool:
        with self._session() as s:
            try:
                key = self._key(s, ref)
            except KeyError_:
                return False
            key.destroy()
        return True

    def check(self, ref: KekRef, meta: dict[str, Any]) -> None:
        with self._session() as s:
            self._key(s, ref)
