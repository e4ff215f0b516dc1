"""Cryptography engines: envelope keys, streaming AEAD, format-preserving encryption."""
