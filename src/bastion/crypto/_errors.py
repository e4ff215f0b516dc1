"""Errors of the crypto engine; all are `ValueError`s so surfaces report them as bad input."""

from __future__ import annotations


class CryptoError(ValueError):
    """Something cryptographic cannot be done; the message says what and never holds key material."""


class FormatError(CryptoError):
    """The input is not a Bastion-encrypted stream, or its header is malformed."""


class IntegrityError(CryptoError):
    """Authentication failed: wrong key, or the data was truncated, reordered or modified."""


class KeyError_(CryptoError):
    """A key cannot be found, used or created (unknown id, shredded, provider missing)."""


class KeyShreddedError(KeyError_):
    """The key was crypto-shredded: everything under it is unrecoverable by design."""


class AccessDenied(CryptoError):
    """The principal's roles do not allow this key operation (RBAC)."""


class KeyringError(CryptoError):
    """The local keyring cannot be opened: wrong passphrase, loose permissions, corrupt file."""


class ProviderUnavailable(KeyError_):
    """A key provider (PKCS#11 token, ML-KEM support) is not present on this system."""
