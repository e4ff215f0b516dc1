"""Format-preserving encryption: FF1 (NIST SP 800-38G) on AES.

A 16-digit card number encrypts to another 16-digit string, so protected data
still fits the schema, the validators and the joins of the systems around it,
and an authorised holder of the key gets the exact value back. Use the batch
calls (`encrypt_many`) for columns: they are an order of magnitude faster.

    ff1 = FF1(key, radix=10)
    ct = ff1.encrypt("4111111111111111", tweak=b"card_number")
"""

from __future__ import annotations

from bastion.crypto._ff1 import FF1, FPEError

__all__ = ["FF1", "FPEError"]
