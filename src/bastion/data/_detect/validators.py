"""Checksum and structure validators that turn a pattern hit into evidence.

A regex alone cannot tell a card number from an order id; a check digit can. Each
validator takes the matched value as text and returns True when the value is a
well-formed instance of its type. Validators never raise on hostile input: any
value they cannot parse is simply not valid, so a validator can be called on
whatever a pattern (or a user's custom recognizer) hands it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import json
import re
from collections.abc import Callable
from datetime import date

Validator = Callable[[str], bool]


_NON_DIGIT = re.compile(r"[^0-9]+")


def _digits(value: str) -> str:
    """ASCII digits of `value` (validators run per hit, so this is one C-level regex pass)."""
    return _NON_DIGIT.sub("", value)


def luhn(value: str) -> bool:
    """Luhn mod-10: cards, IMEI, Canadian SIN, South African ID, NPI."""
    digits = _digits(value)
    if len(digits) < 2:
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


_CARD_PREFIX = re.compile(
    r"^(?:4\d{12}(?:\d{3}){0,2}"  # Visa 13/16/19
    r"|5[1-5]\d{14}|2(?:2[2-9][1-9]|2[3-9]\d|[3-6]\d\d|7[01]\d|720)\d{12}"  # Mastercard
    r"|3[47]\d{13}"  # Amex
    r"|3(?:0[0-5]|[689]\d)\d{11}"  # Diners
    r"|6(?:011|5\d\d|4[4-9]\d)\d{12,15}"  # Discover
    r"|35(?:2[89]|[3-8]\d)\d{12,15}"  # JCB
    r"|62\d{14,17}"  # UnionPay
    r"|(?:5018|5020|5038|5893|6304|6759|676[1-3])\d{8,15}"  # Maestro
    r"|(?:2131|1800)\d{11}"  # JCB 15
    r"|35\d{14,17}|(?:5[06-9]|6\d)\d{10,17}|0604\d{8})$"  # other JCB / Maestro ranges
)


def credit_card(value: str) -> bool:
    digits = _digits(value)
    if not 12 <= len(digits) <= 19 or len(set(digits)) < 3:
        return False
    return bool(_CARD_PREFIX.match(digits)) and luhn(digits)


def iban(value: str) -> bool:
    """ISO 13616 mod-97 with the per-country length table."""
    s = "".join(value.split()).upper()
    if len(s) < 15 or len(s) > 34 or not s.isalnum() or not s.isascii():
        return False
    expected = _IBAN_LENGTHS.get(s[:2])
    if expected is None or expected != len(s):
        return False
    moved = s[4:] + s[:4]
    try:
        number = int("".join(str(int(ch, 36)) for ch in moved))
    except ValueError:
        return False
    return number % 97 == 1


_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
    "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29,
    "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28,
    "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
    "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29,
    "RO": 24, "RS": 22, "SA": 24, "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip

_VERHOEFF_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 2, 3, 4, 0, 6, 7, 8, 9, 5), (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7), (4, 0, 1, 2, 3, 9, 5, 6, 7, 8), (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2), (7, 6, 5, 9, 8, 2, 1, 0, 4, 3), (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)  # fmt: skip
_VERHOEFF_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 5, 7, 6, 2, 8, 3, 0, 9, 4), (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7), (9, 4, 5, 3, 1, 2, 6, 8, 7, 0), (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5), (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)  # fmt: skip


def verhoeff(value: str) -> bool:
    digits = _digits(value)
    if not digits:
        return False
    c = 0
    for i, ch in enumerate(reversed(digits)):
        c = _VERHOEFF_D[c][_VERHOEFF_P[i % 8][ord(ch) - 48]]
    return c == 0


def aadhaar(value: str) -> bool:
    d = _digits(value)
    return len(d) == 12 and d[0] not in "01" and verhoeff(d) and len(set(d)) > 2


def us_ssn(value: str) -> bool:
    """SSA rules: no 000/666/9xx area, no 00 group, no 0000 serial, no known test numbers."""
    d = _digits(value)
    if len(d) != 9:
        return False
    area, group, serial = d[:3], d[3:5], d[5:]
    if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
        return False
    return d not in {"078051120", "219099999", "123456789"} and len(set(d)) > 1


def us_itin(value: str) -> bool:
    d = _digits(value)
    if len(d) != 9 or d[0] != "9":
        return False
    group = int(d[3:5])
    return 50 <= group <= 65 or 70 <= group <= 88 or 90 <= group <= 92 or 94 <= group <= 99


def aba_routing(value: str) -> bool:
    d = _digits(value)
    if len(d) != 9 or d[:2] not in _ABA_PREFIXES:
        return False
    w = (3, 7, 1) * 3
    return sum(int(c) * k for c, k in zip(d, w, strict=True)) % 10 == 0


_ABA_PREFIXES = {f"{n:02d}" for n in [*range(0, 13), *range(21, 33), *range(61, 73), 80]}


def uk_nhs(value: str) -> bool:
    d = _digits(value)
    if len(d) != 10 or len(set(d)) == 1:
        return False
    total = sum(int(c) * (10 - i) for i, c in enumerate(d[:9]))
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == int(d[9])


def uk_nhs_field(value: str) -> bool:
    """An NHS number trusted without a context word: mod-11 and a first digit of 4-9.

    England/Wales issue 4xx and 6xx-7xx (9xx is test data, which is still worth
    flagging); Scottish CHI numbers (0xx-3xx) start with a birth date and Unix
    timestamps start with 1. Leaving those ranges to the context-gated rule keeps
    a table of epoch seconds from reading as health records.
    """
    d = _digits(value)
    return len(d) == 10 and d[0] in "456789" and uk_nhs(d)


_NINO = re.compile(r"^(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]\d{6}[A-D]$")


def uk_nino(value: str) -> bool:
    return bool(_NINO.match("".join(value.split()).upper()))


def de_tax_id(value: str) -> bool:
    """Steuer-IdNr: 11 digits, ISO 7064 MOD 11,10, one digit repeated 2-3 times."""
    d = _digits(value)
    if len(d) != 11 or d[0] == "0":
        return False
    counts = [d[:10].count(c) for c in set(d[:10])]
    if max(counts) not in (2, 3) or sum(1 for c in counts if c > 1) != 1:
        return False
    if max(counts) == 3 and any(d[i] == d[i + 1] == d[i + 2] for i in range(8)):
        return False  # a digit may occur three times, but never three in a row
    product = 10
    for ch in d[:10]:
        s = (int(ch) + product) % 10 or 10
        product = (s * 2) % 11
    check = 11 - product
    return (0 if check == 10 else check) == int(d[10])


def fr_nir(value: str) -> bool:
    """French social security number: 13 digits (Corsica 2A/2B) + 97 - n mod 97 key."""
    s = "".join(value.split()).upper()
    if len(s) != 15 or s[0] not in "12":
        return False
    body, key = s[:13], s[13:]
    body = body.replace("2A", "19").replace("2B", "18")
    if not body.isdigit() or not key.isdigit():
        return False
    return 97 - int(body) % 97 == int(key)


_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def es_dni(value: str) -> bool:
    s = "".join(value.replace("-", "").split()).upper()
    if len(s) != 9 or not s[:8].isdigit():
        return False
    return _DNI_LETTERS[int(s[:8]) % 23] == s[8]


def es_nie(value: str) -> bool:
    s = "".join(value.replace("-", "").split()).upper()
    if len(s) != 9 or s[0] not in "XYZ" or not s[1:8].isdigit():
        return False
    return _DNI_LETTERS[int(str("XYZ".index(s[0])) + s[1:8]) % 23] == s[8]


_CF_ODD = {
    **dict(zip("0123456789", (1, 0, 5, 7, 9, 13, 15, 17, 19, 21), strict=True)),
    **dict(zip("ABCDEFGHIJKLMNOPQRSTUVWXYZ",
               (1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23),
               strict=True)),
}  # fmt: skip


_OMOCODE = str.maketrans("LMNPQRSTUV", "0123456789")
_CF_DIGIT_POS = (6, 7, 9, 10, 12, 13, 14)


def it_fiscal_code(value: str) -> bool:
    """Codice fiscale: check character over the 15 others, and a real day of month.

    Omocodia (a clash between two people) replaces digits with L M N P-V from the
    right, so those letters are accepted wherever a digit belongs; the check
    character is computed on the code as written.
    """
    s = value.upper()
    if len(s) != 16 or not s.isalnum() or not s.isascii():
        return False
    plain = [s[i].translate(_OMOCODE) for i in _CF_DIGIT_POS]
    if not all(c.isdigit() for c in plain):
        return False
    day = int(plain[2] + plain[3])
    if not (1 <= day <= 31 or 41 <= day <= 71):  # women's day is + 40
        return False
    total = 0
    for i, ch in enumerate(s[:15]):
        if i % 2 == 0:
            total += _CF_ODD[ch]
        else:
            total += int(ch) if ch.isdigit() else ord(ch) - 65
    return chr(65 + total % 26) == s[15]


def nl_bsn(value: str) -> bool:
    d = _digits(value)
    if len(d) == 8:
        d = "0" + d
    if len(d) != 9 or d == "000000000":
        return False
    total = sum(int(c) * w for c, w in zip(d[:8], range(9, 1, -1), strict=True)) - int(d[8])
    return total % 11 == 0


_PAN = re.compile(r"^[A-Z]{3}[ABCFGHLJPTE][A-Z]\d{4}[A-Z]$")


def in_pan(value: str) -> bool:
    return bool(_PAN.match(value.upper()))


def ca_sin(value: str) -> bool:
    d = _digits(value)
    return len(d) == 9 and d[0] not in "08" and luhn(d)


def au_tfn(value: str) -> bool:
    d = _digits(value)
    if len(d) not in (8, 9):
        return False
    weights = (1, 4, 3, 7, 5, 8, 6, 9, 10) if len(d) == 9 else (10, 7, 8, 4, 6, 3, 5, 1)
    return sum(int(c) * w for c, w in zip(d, weights, strict=True)) % 11 == 0 and len(set(d)) > 1


def au_abn(value: str) -> bool:
    d = _digits(value)
    if len(d) != 11 or d[0] == "0":
        return False
    weights = (10, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19)
    nums = [int(c) for c in d]
    nums[0] -= 1
    return sum(n * w for n, w in zip(nums, weights, strict=True)) % 89 == 0


def au_medicare(value: str) -> bool:
    d = _digits(value)
    if len(d) not in (10, 11) or d[0] not in "23456":
        return False
    weights = (1, 3, 7, 9, 1, 3, 7, 9)
    return sum(int(c) * w for c, w in zip(d[:8], weights, strict=True)) % 10 == int(d[8])


def sg_nric(value: str) -> bool:
    s = value.upper()
    if len(s) != 9 or s[0] not in "STFGM" or not s[1:8].isdigit():
        return False
    weights = (2, 7, 6, 5, 4, 3, 2)
    total = sum(int(c) * w for c, w in zip(s[1:8], weights, strict=True))
    if s[0] in "TG":
        total += 4
    elif s[0] == "M":
        total += 3
    r = total % 11
    if s[0] in "ST":
        table = "JZIHGFEDCBA"
    elif s[0] in "FG":
        table = "XWUTRQPNMLK"
    else:
        table = "XWUTRQPNJLK"
        r = 10 - r
    return table[r] == s[8]


def br_cpf(value: str) -> bool:
    d = _digits(value)
    if len(d) != 11 or len(set(d)) == 1:
        return False
    for n in (9, 10):
        total = sum(int(d[i]) * (n + 1 - i) for i in range(n))
        check = (total * 10) % 11 % 10
        if check != int(d[n]):
            return False
    return True


def br_cnpj(value: str) -> bool:
    d = _digits(value)
    if len(d) != 14 or len(set(d)) == 1:
        return False
    for n, weights in ((12, (5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)), (13, (6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2))):
        r = sum(int(c) * w for c, w in zip(d[:n], weights, strict=True)) % 11
        if (0 if r < 2 else 11 - r) != int(d[n]):
            return False
    return True


def pl_pesel(value: str) -> bool:
    d = _digits(value)
    if len(d) != 11:
        return False
    weights = (1, 3, 7, 9, 1, 3, 7, 9, 1, 3)
    check = (10 - sum(int(c) * w for c, w in zip(d[:10], weights, strict=True)) % 10) % 10
    month = int(d[2:4]) % 20
    return check == int(d[10]) and 1 <= month <= 12 and 1 <= int(d[4:6]) <= 31


def se_personnummer(value: str) -> bool:
    d = _digits(value)
    if len(d) == 12:
        d = d[2:]
    if len(d) != 10:
        return False
    # day + 60 is a samordningsnummer (co-ordination number) for the same date; the year
    # is only known mod 100 in the 10-digit form, so a leap-year 29 February is allowed
    month, day = int(d[2:4]), int(d[4:6])
    if day > 60:
        day -= 60
    return _real_date(2000, month, day) and luhn(d)


def fi_hetu(value: str) -> bool:
    s = value.upper()
    if len(s) != 11 or not s[:6].isdigit() or s[6] not in "+-ABCDEFUVWXY" or not s[7:10].isdigit():
        return False
    # the separator encodes the century; a checksum-valid value whose date cannot exist
    # (31 February, month 13) is a coincidence, not an identity number
    century = 1800 if s[6] == "+" else 1900 if s[6] in "-UVWXY" else 2000
    if not _real_date(century + int(s[4:6]), int(s[2:4]), int(s[:2])):
        return False
    return "0123456789ABCDEFHJKLMNPRSTUVWXY"[int(s[:6] + s[7:10]) % 31] == s[10]


def _real_date(y: int, m: int, d: int) -> bool:
    """True when (y, m, d) is a day of the Gregorian calendar (no exception escapes)."""
    try:
        date(y, m, d)
    except ValueError:
        return False
    return True


def za_id(value: str) -> bool:
    d = _digits(value)
    return len(d) == 13 and 1 <= int(d[2:4]) <= 12 and 1 <= int(d[4:6]) <= 31 and luhn(d)


def cn_resident_id(value: str) -> bool:
    s = value.upper()
    if len(s) != 18 or not s[:17].isdigit() or not (s[17].isdigit() or s[17] == "X"):
        return False
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    r = sum(int(c) * w for c, w in zip(s[:17], weights, strict=True)) % 11
    return "10X98765432"[r] == s[17]


def il_id(value: str) -> bool:
    d = _digits(value).zfill(9)
    return len(d) == 9 and len(set(d)) > 2 and luhn(d)


def us_npi(value: str) -> bool:
    d = _digits(value)
    return len(d) == 10 and d[0] in "12" and luhn("80840" + d)


def imei(value: str) -> bool:
    d = _digits(value)
    return len(d) == 15 and len(set(d)) > 3 and luhn(d)


_VIN_MAP = {**{str(i): i for i in range(10)},
            **dict(zip("ABCDEFGH", range(1, 9), strict=True)), **dict(zip("JKLMN", range(1, 6), strict=True)),
            "P": 7, "R": 9, **dict(zip("STUVWXYZ", range(2, 10), strict=True))}  # fmt: skip
_VIN_W = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)


def vin(value: str) -> bool:
    s = value.upper()
    if len(s) != 17 or any(ch not in _VIN_MAP for ch in s):
        return False
    if not any(ch.isalpha() for ch in s) or not any(ch.isdigit() for ch in s):
        return False
    r = sum(_VIN_MAP[c] * w for c, w in zip(s, _VIN_W, strict=True)) % 11
    return ("X" if r == 10 else str(r)) == s[8]


def swift_bic(value: str) -> bool:
    s = value.upper()
    return len(s) in (8, 11) and s[:4].isalpha() and s[4:6] in _IBAN_LENGTHS.keys() | _EXTRA_COUNTRIES


_EXTRA_COUNTRIES = {"US", "CA", "AU", "JP", "CN", "IN", "SG", "HK", "NZ", "ZA", "MX", "AR", "CL", "KR", "RU"}

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {c: i for i, c in enumerate(_B58)}


def base58check_decode(value: str) -> bytes | None:
    if not value or len(value) > 128:
        return None
    n = 0
    for ch in value:
        i = _B58_INDEX.get(ch)
        if i is None:
            return None
        n = n * 58 + i
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    raw = b"\x00" * (len(value) - len(value.lstrip("1"))) + raw
    if len(raw) < 5:
        return None
    payload, check = raw[:-4], raw[-4:]
    if hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4] != check:
        return None
    return payload


_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def _bech32_polymod(values: list[int]) -> int:
    gen = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    chk = 1
    for v in values:
        b = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if (b >> i) & 1 else 0
    return chk


def bech32(value: str) -> bool:
    """BIP-173/BIP-350 checksum (bech32 and bech32m)."""
    if len(value) > 90 or (value.lower() != value and value.upper() != value):
        return False
    s = value.lower()
    pos = s.rfind("1")
    if pos < 1 or pos + 7 > len(s):
        return False
    hrp, data = s[:pos], s[pos + 1 :]
    if any(c not in _BECH32 for c in data):
        return False
    values = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp] + [_BECH32.index(c) for c in data]
    return _bech32_polymod(values) in (1, 0x2BC830A3)


def btc_address(value: str) -> bool:
    if value[:3].lower() in ("bc1", "tb1"):
        return bech32(value)
    payload = base58check_decode(value)
    return payload is not None and len(payload) == 21 and payload[0] in (0x00, 0x05, 0x6F, 0xC4)


def ltc_address(value: str) -> bool:
    if value[:4].lower() == "ltc1":
        return bech32(value)
    payload = base58check_decode(value)
    return payload is not None and len(payload) == 21 and payload[0] in (0x30, 0x32, 0x05)


def eth_address(value: str) -> bool:
    """Hex address; EIP-55 mixed case cannot be verified without keccak, so the shape is the test."""
    body = value[2:]
    return len(body) == 40 and all(c in "0123456789abcdefABCDEF" for c in body) and len(set(body.lower())) > 4


def _split_prefix(value: str, bits: int) -> tuple[str, bool]:
    """(address, prefix ok): a CIDR suffix `/n` is part of the value and must be 0..bits."""
    addr, slash, prefix = value.partition("/")
    if not slash:
        return addr, True
    return addr, prefix.isascii() and prefix.isdigit() and len(prefix) <= 3 and int(prefix) <= bits


def ipv4(value: str) -> bool:
    """A dotted quad (optionally with a CIDR suffix); 0.0.0.0 is no one's address."""
    text, ok = _split_prefix(value, 32)
    try:
        addr = ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return ok and not addr.is_unspecified


def ipv6(value: str) -> bool:
    """Any RFC 4291 text form (compressed, `::1`, an IPv4 tail, a zone, a CIDR suffix).

    A hex-letters-only value (`be::ef`, `a::b:c`) is almost always code (C++ scopes,
    Haskell, YAML), so at least one decimal digit is required; `::` alone is not an
    address.
    """
    text, ok = _split_prefix(value, 128)
    text = text.split("%", 1)[0]
    if not ok or text.count(":") < 2 or not any(c.isdigit() for c in text):
        return False
    try:
        addr = ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return not addr.is_unspecified


def mac(value: str) -> bool:
    s = value.replace("-", ":").replace(".", ":").lower()
    return s not in ("00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff")


def jwt(value: str) -> bool:
    parts = value.split(".")
    if len(parts) != 3:
        return False
    try:
        header = json.loads(base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return False
    return isinstance(header, dict) and ("alg" in header or "typ" in header)


_DATE_FORMATS = re.compile(r"^(\d{1,4})[-/.](\d{1,2})[-/.](\d{1,4})$")
_COMPACT_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")


def plausible_birth_date(value: str) -> bool:
    """A calendar date between 1900 and today, in Y-M-D, D-M-Y or M-D-Y order.

    Two-digit years (`3/14/85`) are read as the latest year not after today, and
    YYYYMMDD as one block; the patterns that produce those shapes only score with
    a birth context word, so the wider reading costs no precision elsewhere.
    """
    v = value.strip()
    m = _DATE_FORMATS.match(v)
    if not m:
        c8 = _COMPACT_DATE.match(v)
        if c8:
            return _in_life(int(c8.group(1)), int(c8.group(2)), int(c8.group(3)))
        return _textual_date(value)
    a, b, c = (int(x) for x in m.groups())
    candidates = []
    if len(m.group(1)) == 4:
        candidates.append((a, b, c))
    elif len(m.group(3)) == 4:
        candidates.extend([(c, b, a), (c, a, b)])
    elif len(m.group(3)) == 2 and len(m.group(1)) <= 2:
        y = 2000 + c if 2000 + c <= date.today().year else 1900 + c
        candidates.extend([(y, b, a), (y, a, b)])
    for y, mo, d in candidates:
        try:
            day = date(y, mo, d)
        except ValueError:
            continue
        if date(1900, 1, 1) <= day <= date.today():
            return True
    return False


_MONTHS = {m: i + 1 for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"))}  # fmt: skip


def _in_life(y: int, m: int, d: int) -> bool:
    """A real day from 1900 up to today (a birth date cannot be in the future)."""
    try:
        return date(1900, 1, 1) <= date(y, m, d) <= date.today()
    except ValueError:
        return False


def _textual_date(value: str) -> bool:
    tokens = re.findall(r"[A-Za-z]+|\d+", value)
    year = next((int(t) for t in tokens if t.isdigit() and len(t) == 4), None)
    month = next((_MONTHS.get(t[:3].lower()) for t in tokens if t.isalpha() and t[:3].lower() in _MONTHS), None)
    day = next((int(t) for t in tokens if t.isdigit() and len(t) <= 2), None)
    if year is None or month is None or day is None:
        return False
    return _in_life(year, month, day)


def phone(value: str) -> bool:
    """Parse with libphonenumber when present; otherwise accept 7-15 digits (E.164 bounds).

    An extension ("x53000") is not part of the E.164 number, so it does not count
    towards the 15-digit limit.
    """
    digits = _digits(_EXTENSION.sub("", value))
    if not 7 <= len(digits) <= 15 or len(set(digits)) < 3:
        return False
    if len(digits) == 11 and digits[0] == "1" and value.lstrip().startswith("+"):
        # +1: the NANP length is fixed, so libphonenumber's parse (~30 us, the costliest
        # validator on dense logs) would only confirm what the digit count already says
        return True
    try:
        import phonenumbers
    except ImportError:  # pragma: no cover - the detect extra ships it
        return True
    regions: tuple[str | None, ...] = (None,) if value.lstrip().startswith("+") else _PHONE_REGIONS
    for region in regions:
        try:
            num = phonenumbers.parse(value, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_possible_number(num):
            return True
    return False


_EXTENSION = re.compile(r"\s*(?:x|ext\.?)\s*\d{1,5}\s*$", re.IGNORECASE)

# Without a country prefix the region is unknown: a number is plausible if it is in any of these.
_PHONE_REGIONS: tuple[str | None, ...] = ("US", "GB", "DE", "FR", "ES", "IT", "NL", "IN", "AU", "BR")


def phone_nanp(value: str) -> bool:
    """North American shape: 10 digits (11 with a leading 1). Cheap on purpose: this is the hot path."""
    d = _digits(value.split("x")[0].split("ext")[0])
    if len(d) == 13 and d.startswith("001"):  # "001-" is the US international prefix written out
        d = d[3:]
    if len(d) == 11 and d[0] == "1":
        d = d[1:]
    if len(d) != 10 or len(set(d)) <= 2:
        return False
    # A UK NHS number is also ten digits written 3-3-4. When the digits carry a valid
    # NHS check digit and cannot be a NANP number (area and exchange codes never start
    # with 0 or 1), it is the NHS number, not a phone.
    return (d[0] in "23456789" and d[3] in "23456789") or not uk_nhs(d)


def phone_nanp_strict(value: str) -> bool:
    """Ten bare digits as a NANP number: area and exchange codes start with 2-9.

    An unformatted ten-digit run is more often an epoch second (1.5e9-1.8e9), an
    order number or an NHS number than a phone; the NANP numbering rules are the
    one cheap piece of evidence it can carry.
    """
    d = _digits(value)
    if len(d) == 11 and d[0] == "1":
        d = d[1:]
    return len(d) == 10 and d[0] in "23456789" and d[3] in "23456789" and phone_nanp(d)


def phone_national(value: str) -> bool:
    """Trunk-prefix national numbers (0...): 9-12 digits, not a date, not one repeated digit."""
    d = _digits(value)
    if not 9 <= len(d) <= 12 or d[0] != "0" or len(set(d)) < 3:
        return False
    return not _DATE_LIKE.match(value.strip())


_DATE_LIKE = re.compile(r"^\d{1,2}[./-]\d{1,2}[./-]\d{2,4}$")


def not_placeholder(value: str) -> bool:
    """Reject obvious placeholders (xxxx, your-key-here, ${VAR}, <token>)."""
    low = value.lower()
    if len(set(low)) < 4:
        return False
    bad = ("xxxx", "your", "example", "placeholder", "changeme", "<", "${", "{{", "redacted", "****", "dummy")
    return not any(b in low for b in bad)


def _kr_rrn_date(d: str) -> bool:
    """The birth date an RRN starts with; digit 7 gives sex and century (1-2, 5-6: 1900s; 3-4, 7-8: 2000s)."""
    if len(d) != 13 or d[6] not in "12345678":
        return False
    century = 1900 if d[6] in "1256" else 2000
    return _real_date(century + int(d[:2]), int(d[2:4]), int(d[4:6]))


def kr_rrn_date(value: str) -> bool:
    """Korean RRN shape with a real birth date (numbers issued since Oct 2020 carry no check digit)."""
    return _kr_rrn_date(_digits(value))


def kr_rrn(value: str) -> bool:
    """Korean resident registration number: birth date plus the weighted mod-11 check digit."""
    d = _digits(value)
    if not _kr_rrn_date(d):
        return False
    total = sum(int(c) * w for c, w in zip(d[:12], (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5), strict=True))
    return (11 - total % 11) % 10 == int(d[12])


def tr_tckn(value: str) -> bool:
    """Turkish T.C. Kimlik No: 11 digits, no leading zero, two check digits (positions 10 and 11)."""
    d = _digits(value)
    if len(d) != 11 or d[0] == "0" or len(set(d)) < 3:
        return False
    n = [int(c) for c in d]
    odd, even = sum(n[0:9:2]), sum(n[1:8:2])
    return (odd * 7 - even) % 10 == n[9] and sum(n[:10]) % 10 == n[10]


def email(value: str) -> bool:
    """An address whose local part is not dot-damaged (`a..b`, `.a`); the domain shape is the regex's."""
    local = value.rpartition("@")[0]
    return bool(local) and ".." not in local and not local.startswith(".") and not local.endswith(".")


def document_number(value: str) -> bool:
    """A passport/licence number after its keyword: 5-20 characters with at least four digits.

    Words ("expired", "renewal") and years ("2024") follow those keywords too; a
    document number has a run of digits and is not one digit repeated.
    """
    s = value.replace("-", "").replace(" ", "")
    digits = _digits(s)
    return 5 <= len(s) <= 20 and s.isalnum() and len(digits) >= 4 and len(set(digits)) > 1


# Top-level domains that make a bare `word.tld` worth reporting. Deliberately short:
# TLDs that double as file extensions or code (`.py`, `.sh`, `.rs`, `.md`, `.js`,
# `.ts`, `.go`, `.pl`, `.so`, `.gz`) are left out, because prose and code are full
# of `setup.py` and `obj.rs`.
DOMAIN_TLDS = frozenset(
    [
        "com", "org", "net", "edu", "gov", "mil", "int", "io", "ai", "co", "uk", "de", "fr", "es", "it", "nl", "be",
        "ch", "at", "se", "no", "dk", "fi", "ie", "pt", "gr", "cz", "hu", "ro", "bg", "sk", "si", "hr", "ee", "lv",
        "lt", "lu", "ru", "ua", "cn", "jp", "kr", "in", "au", "nz", "ca", "us", "br", "mx", "ar", "cl", "za", "sg",
        "hk", "tw", "il", "tr", "ae", "sa", "eu", "info", "biz", "app", "dev", "cloud", "tech", "online", "site", "xyz",
        "me", "tv", "shop", "store", "blog", "news", "email", "page"
    ]
)  # fmt: skip


def domain(value: str) -> bool:
    """A bare domain: two or more labels, a known TLD, and not a dotted code path (`os.path.join`)."""
    labels = value.lower().rstrip(".").split(".")
    if len(labels) < 2 or labels[-1] not in DOMAIN_TLDS:
        return False
    if all(lbl.isdigit() for lbl in labels[:-1]) or any(not lbl or len(lbl) > 63 for lbl in labels):
        return False
    return not any(lbl.startswith("-") or lbl.endswith("-") for lbl in labels)


# --- neighbourhood checks ---------------------------------------------------------------
# A validator sees only the value; some false alarms are only visible around it. A
# check takes (text, start, end, floor, ceil), where [floor, ceil) is the part of the
# text the hit may look at (a table cell, or the whole text), and returns True when
# the surroundings show the hit is not what its pattern claims. The engine runs the
# check registered under the pattern's validator name, after the validator passed.
NeighbourCheck = Callable[[str, int, int, int, int], bool]

_DOTTED = frozenset("0123456789")


def _in_dotted_chain(text: str, start: int, end: int, floor: int, ceil: int) -> bool:
    """`1.3.6.1.4.1.311` (an OID) or `1.2.3.4.5.6` (a version) holds four dotted numbers but is no IP."""
    if start - 2 >= floor and text[start - 1] == "." and text[start - 2] in _DOTTED:
        return True
    return end + 1 < ceil and text[end] == "." and text[end + 1] in _DOTTED


_HEX_COLON = frozenset("0123456789abcdefABCDEF:")


def _ipv6_partial(text: str, start: int, end: int, floor: int, ceil: int) -> bool:
    """The regex stopped inside a longer hex/colon run (`1:2:3:4:5:6:7:8:9`, a dotted tail): not an address."""
    if end < ceil and (text[end] in _HEX_COLON or (text[end] == "." and end + 1 < ceil and text[end + 1] in _DOTTED)):
        return True
    return start > floor and text[start - 1] in _HEX_COLON


_MSGID_HEADERS = ("message-id:", "in-reply-to:", "references:", "content-id:", "resent-message-id:",
                  "x-message-id:", "original-message-id:", "x-original-message-id:", "thread-index:")  # fmt: skip


def _message_id(text: str, start: int, end: int, floor: int, ceil: int) -> bool:
    """An `<id@host>` in a Message-ID/In-Reply-To/References header is a message id, not a mailbox.

    Folded header lines (continuations start with white space) belong to the header
    above them, so a long References list is followed back to its header name. A
    message id is always closed by ">", so any other address costs one comparison.
    """
    if end >= ceil or text[end] != ">":
        return False
    line = _line_start(text, start, floor)
    for _ in range(32):  # a References header rarely folds more often; bounded either way
        if line is None or line == floor or text[line] not in " \t":
            break
        line = _line_start(text, line - 1, floor)
    return line is not None and text[line : line + 24].lower().startswith(_MSGID_HEADERS)


_MAX_LINE = 998  # RFC 5322's line limit; also bounds every look-back on one-line megabyte inputs


def _line_start(text: str, pos: int, floor: int) -> int | None:
    """Start of the line holding `pos`, or None when it is further back than `_MAX_LINE`."""
    lo = max(floor, pos - _MAX_LINE)
    i = text.rfind("\n", lo, pos)
    if i >= 0:
        return i + 1
    return lo if lo == floor else None


_TIME_AFTER = re.compile(r"[ T]\d{1,2}:\d{2}")


def _timestamp(text: str, start: int, end: int, floor: int, ceil: int) -> bool:
    """A date followed by a clock time is a log or event timestamp; nobody records a birth to the second."""
    return _TIME_AFTER.match(text, end, min(ceil, end + 6)) is not None


_FIELD_DELIMS = ",;\t|"


def _not_a_field(text: str, start: int, end: int, floor: int, ceil: int) -> bool:
    """False unless the hit is a whole field of a delimited row (CSV, TSV, pipe, semicolon).

    The context-free UK NHS rule trusts the mod-11 check digit only where a table
    row shows the number is a value of its own, not part of prose or a longer id.
    """
    ls = _line_start(text, start, floor)
    if ls is None:
        return True
    hi = min(ceil, end + _MAX_LINE)
    le = text.find("\n", end, hi)
    le = hi if le < 0 else le
    i = start - 1
    while i >= ls and text[i] in ' "':
        i -= 1
    if i >= ls and text[i] not in _FIELD_DELIMS:
        return True
    k = end
    while k < le and text[k] in ' "\r':
        k += 1
    if k < le and text[k] not in _FIELD_DELIMS:
        return True
    line = text[ls:le]
    return not any(line.count(c) for c in _FIELD_DELIMS)


def _not_bare(text: str, start: int, end: int, floor: int, ceil: int) -> bool:
    """A host inside a URL, an email address or a path is reported (or not) as that, never as a bare domain."""
    if start > floor and text[start - 1] in "@/:.\\-_":
        return True
    return end < ceil and text[end] in "@_\\"


# (text, floor, header) for the last text whose header was read: a hit-dense CSV asks
# once per hit, the answer is per text. A tuple is replaced whole, so threads sharing
# the detector never see a half-written entry; only texts up to 4 MiB are kept alive.
_HEADER_CACHE: tuple[str, int, tuple[str, list[str]] | None] | None = None


def _header(text: str, floor: int, ceil: int) -> tuple[str, list[str]] | None:
    """(delimiter, lower-cased cells) of the first line of [floor, ceil) when it looks like a header row.

    A header has a delimiter and at most half its cells hold a digit (a data row used
    as a header would put values, not names, over each column).
    """
    global _HEADER_CACHE
    cached = _HEADER_CACHE
    if cached is not None and cached[0] is text and cached[1] == floor:
        return cached[2]
    end = text.find("\n", floor, min(ceil, floor + _MAX_LINE))
    result: tuple[str, list[str]] | None = None
    if end > floor:
        first = text[floor:end].rstrip("\r").lower()
        delim = max(_FIELD_DELIMS, key=first.count)
        if first.count(delim):
            cells = [c.strip(' "') for c in first.split(delim)]
            if 2 * sum(1 for c in cells if any(ch.isdigit() for ch in c)) <= len(cells):
                result = (delim, cells)
    if len(text) <= 1 << 22:
        _HEADER_CACHE = (text, floor, result)
    return result


def header_context(text: str, start: int, floor: int, ceil: int, words: tuple[str, ...]) -> str | None:
    """The context word in the header cell above a hit in a delimited table, or None.

    In a CSV/TSV/pipe text the word that says what a column holds ("ssn",
    "passport", "nhs") is in the first line, usually further away than the
    context window; a row with the header's field count inherits it for the
    field the hit sits in. Quoted delimiters make the counts differ, so such a row
    simply gets no header context.
    """
    hdr = _header(text, floor, ceil)
    if hdr is None:
        return None
    delim, cells = hdr
    ls = _line_start(text, start, floor)
    if ls is None or ls == floor:
        return None
    hi = min(ceil, start + _MAX_LINE)
    le = text.find("\n", start, hi)
    le = hi if le < 0 else le
    if text.count(delim, ls, le) != len(cells) - 1:
        return None
    cell = cells[text.count(delim, ls, start)]
    for w in words:
        if w in cell:
            return w
    return None


NEIGHBOUR_CHECKS: dict[str, NeighbourCheck] = {
    "ipv4": _in_dotted_chain,
    "ipv6": _ipv6_partial,
    "email": _message_id,
    "birth_date": _timestamp,
    "uk_nhs_field": _not_a_field,
    "domain": _not_bare,
}


REGISTRY: dict[str, Validator] = {
    "luhn": luhn,
    "credit_card": credit_card,
    "iban": iban,
    "verhoeff": verhoeff,
    "aadhaar": aadhaar,
    "us_ssn": us_ssn,
    "us_itin": us_itin,
    "aba_routing": aba_routing,
    "uk_nhs": uk_nhs,
    "uk_nino": uk_nino,
    "de_tax_id": de_tax_id,
    "fr_nir": fr_nir,
    "es_dni": es_dni,
    "es_nie": es_nie,
    "it_fiscal_code": it_fiscal_code,
    "nl_bsn": nl_bsn,
    "in_pan": in_pan,
    "ca_sin": ca_sin,
    "au_tfn": au_tfn,
    "au_abn": au_abn,
    "au_medicare": au_medicare,
    "sg_nric": sg_nric,
    "br_cpf": br_cpf,
    "br_cnpj": br_cnpj,
    "pl_pesel": pl_pesel,
    "se_personnummer": se_personnummer,
    "fi_hetu": fi_hetu,
    "za_id": za_id,
    "cn_resident_id": cn_resident_id,
    "il_id": il_id,
    "us_npi": us_npi,
    "imei": imei,
    "vin": vin,
    "swift_bic": swift_bic,
    "bech32": bech32,
    "btc_address": btc_address,
    "ltc_address": ltc_address,
    "eth_address": eth_address,
    "ipv4": ipv4,
    "ipv6": ipv6,
    "mac": mac,
    "jwt": jwt,
    "birth_date": plausible_birth_date,
    "phone": phone,
    "phone_nanp": phone_nanp,
    "phone_nanp_strict": phone_nanp_strict,
    "phone_national": phone_national,
    "not_placeholder": not_placeholder,
    "kr_rrn": kr_rrn,
    "kr_rrn_date": kr_rrn_date,
    "tr_tckn": tr_tckn,
    "email": email,
    "domain": domain,
    "document_number": document_number,
    "uk_nhs_field": uk_nhs_field,
}
