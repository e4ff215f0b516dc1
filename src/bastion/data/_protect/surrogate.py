"""Consistent surrogates: a realistic fake value, the same one for the same input and key.

The choice is driven by HMAC-SHA-256 of (entity type, value) under the surrogate
key, so it is deterministic (joins and repeated mentions stay consistent) yet
unlinkable to the original without the key. Formats are kept: digits stay digits,
letters keep their case, separators stay where they were, card numbers pass Luhn,
IBANs keep their country and valid check digits, emails stay emails.
"""

from __future__ import annotations

import hashlib
import hmac

FIRST = [
    "Alex",
    "Maria",
    "Jonas",
    "Lea",
    "Noah",
    "Emma",
    "Elias",
    "Mia",
    "Felix",
    "Sofia",
    "Paul",
    "Hanna",
    "Leon",
    "Lina",
    "Ben",
    "Clara",
    "Luca",
    "Ida",
    "Tom",
    "Nora",
    "Jan",
    "Lara",
    "Finn",
    "Emil",
    "Anna",
    "Max",
    "Rosa",
    "Oskar",
    "Greta",
    "Theo",
    "Lotte",
    "Karl",
    "Marta",
    "Henri",
    "Alma",
    "Vincent",
    "Jana",
    "Milan",
    "Eva",
]
LAST = [
    "Berger",
    "Fischer",
    "Keller",
    "Lang",
    "Meyer",
    "Vogel",
    "Wolf",
    "Brandt",
    "Hoffmann",
    "Krause",
    "Lorenz",
    "Schmitt",
    "Roth",
    "Kaiser",
    "Frank",
    "Beck",
    "Hahn",
    "Peters",
    "Lindner",
    "Sommer",
    "Jung",
    "Otto",
    "Winter",
    "Graf",
    "Busch",
    "Ernst",
    "Arnold",
    "Simon",
    "Kuhn",
    "Pohl",
    "Marx",
    "Haas",
    "Vos",
    "Dekker",
]
DOMAINS = ("example.com", "example.org", "example.net")
_LOWER = "abcdefghijklmnopqrstuvwxyz"


class _Stream:
    """Deterministic pseudo-random numbers from HMAC in counter mode."""

    def __init__(self, key: bytes, label: str, value: str) -> None:
        self._seed = hmac.digest(key, f"{label}\x00{value}".encode(), hashlib.sha256)
        self._buf = self._seed
        self._ctr = 0

    def below(self, n: int) -> int:
        if len(self._buf) < 8:
            self._ctr += 1
            self._buf = hmac.digest(self._seed, self._ctr.to_bytes(8, "big"), hashlib.sha256)
        x = int.from_bytes(self._buf[:8], "big")
        self._buf = self._buf[8:]
        return x % n


def _shape(value: str, rnd: _Stream) -> str:
    out = []
    for ch in value:
        if ch.isdigit() and ch.isascii():
            out.append(str(rnd.below(10)))
        elif ch.isalpha() and ch.isascii():
            c = _LOWER[rnd.below(26)]
            out.append(c.upper() if ch.isupper() else c)
        else:
            out.append(ch)
    return "".join(out)


def _luhn_fix(digits: list[int]) -> list[int]:
    total = 0
    for i, d in enumerate(reversed(digits[:-1])):
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    digits[-1] = (10 - total % 10) % 10
    return digits


def _card(value: str, rnd: _Stream) -> str:
    positions = [i for i, c in enumerate(value) if c.isdigit()]
    if len(positions) < 12:
        return _shape(value, rnd)
    digits = [int(value[positions[0]])] + [rnd.below(10) for _ in positions[1:]]  # keep the network digit
    digits = _luhn_fix(digits)
    chars = list(value)
    for p, d in zip(positions, digits, strict=True):
        chars[p] = str(d)
    return "".join(chars)


def _iban(value: str, rnd: _Stream) -> str:
    compact = value.replace(" ", "").upper()
    if len(compact) < 15 or not compact[:2].isalpha():
        return _shape(value, rnd)
    bban = _shape(compact[4:], rnd).upper()
    digits = "".join(str(int(c, 36)) for c in bban + compact[:2] + "00")
    check = 98 - int(digits) % 97
    new = f"{compact[:2]}{check:02d}{bban}"
    if " " in value:
        return " ".join(new[i : i + 4] for i in range(0, len(new), 4))
    return new


def _person(value: str, rnd: _Stream) -> str:
    parts = value.split()
    first = FIRST[rnd.below(len(FIRST))]
    if len(parts) <= 1:
        return first
    return f"{first} {LAST[rnd.below(len(LAST))]}"


def _email(value: str, rnd: _Stream) -> str:
    first = FIRST[rnd.below(len(FIRST))].lower()
    last = LAST[rnd.below(len(LAST))].lower()
    return f"{first}.{last}{rnd.below(100)}@{DOMAINS[rnd.below(len(DOMAINS))]}"


_BY_TYPE = {
    "PERSON": _person,
    "NAME": _person,
    "EMAIL_ADDRESS": _email,
    "EMAIL": _email,
    "CREDIT_CARD": _card,
    "IBAN_CODE": _iban,
    "IBAN": _iban,
}


def surrogate(key: bytes, entity_type: str, value: str) -> str:
    """The surrogate of `value` seen as `entity_type`; never equal to the input when it has letters or digits."""
    rnd = _Stream(key, entity_type.upper(), value)
    fake = _BY_TYPE.get(entity_type.upper(), _shape)(value, rnd)
    tries = 0
    while fake == value and any(c.isalnum() for c in value) and tries < 8:
        tries += 1
        rnd = _Stream(key, f"{entity_type.upper()}#{tries}", value)
        fake = _BY_TYPE.get(entity_type.upper(), _shape)(value, rnd)
    return fake
