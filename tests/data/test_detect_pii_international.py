"""International identifiers (EU/GDPR and others), IPv6/CIDR forms and bare domain names.

Valid samples carry check digits computed here from each scheme's published rule;
each has a one-character-off twin that the checksum must reject.
"""

from __future__ import annotations

import pytest

from bastion.data import detect
from bastion.data._detect import validators as v


def _found(text: str, etype: str) -> list[str]:
    return [text[e.start : e.end] for e in detect(text) if e.entity_type == etype]


VALID = [
    ("DE_TAX_ID", "Steuer-ID 72328601290", "72328601290"),
    ("DE_TAX_ID", "Steuerliche IdNr: 54 610 924 836", "54 610 924 836"),
    ("SE_PERSONNUMMER", "personnummer 850314-1239", "850314-1239"),
    ("SE_PERSONNUMMER", "personnummer 19850314-1239", "19850314-1239"),
    ("SE_PERSONNUMMER", "personnummer 120229+9879", "120229+9879"),  # "+" : 100 years or older
    ("SE_PERSONNUMMER", "samordningsnummer 850374-1236", "850374-1236"),  # day + 60
    ("ES_DNI", "DNI 87654321X", "87654321X"),
    ("ES_DNI", "NIF 87654321 X", "87654321 X"),
    ("ES_NIE", "NIE Y7654321G", "Y7654321G"),
    ("ES_NIE", "NIE Z-1234567-R", "Z-1234567-R"),
    ("IT_FISCAL_CODE", "codice fiscale BNCGNN90A41F205C", "BNCGNN90A41F205C"),
    ("IT_FISCAL_CODE", "codice fiscale RSSMRA85T10A56NH", "RSSMRA85T10A56NH"),  # omocodia
    ("KR_RRN", "주민등록번호 850314-1234562", "850314-1234562"),
    ("KR_RRN", "RRN 021130-4567891", "021130-4567891"),
    ("TR_TCKN", "TC Kimlik No: 31728459054", "31728459054"),
    ("IN_AADHAAR", "Aadhaar 4918 3726 5017", "4918 3726 5017"),
    ("IN_PAN", "PAN ABCPE1234F", "ABCPE1234F"),
    ("UK_POSTCODE", "postcode SW1A 1AA", "SW1A 1AA"),
    ("UK_POSTCODE", "address: 10 High St, Leeds LS1 4AP", "LS1 4AP"),
    ("UK_NINO", "nino ab 12 34 56 c", "ab 12 34 56 c"),
    ("UK_NINO", "NI number: AB123456C", "AB123456C"),
]


@pytest.mark.parametrize(("etype", "text", "value"), VALID)
def test_international_ids_are_found(etype: str, text: str, value: str) -> None:
    assert _found(text, etype) == [value]


INVALID = [
    ("DE_TAX_ID", "Steuer-ID 72328601291"),  # check digit
    ("DE_TAX_ID", "Steuer-ID 11123456788"),  # a digit three times in a row
    ("ES_DNI", "DNI 87654321A"),
    ("ES_NIE", "NIE Y7654321A"),
    ("IT_FISCAL_CODE", "codice fiscale BNCGNN90A41F205D"),
    ("IT_FISCAL_CODE", "codice fiscale BNCGNN90A91F205C"),  # day 91
    ("KR_RRN", "resident registration 850332-1234562"),  # day 32: no date, no number
    ("KR_RRN", "RRN 851314-1234562"),  # month 13
    ("TR_TCKN", "TC Kimlik No: 31728459055"),
    ("TR_TCKN", "TC Kimlik No: 01728459054"),  # leading zero
    ("IN_AADHAAR", "Aadhaar 4918 3726 5018"),
    ("UK_POSTCODE", "postcode QV1 1AA"),  # Q never starts a postcode
    ("UK_NINO", "nino qq 12 34 56 c"),  # QQ is not an issued prefix
    ("SE_PERSONNUMMER", "personnummer 850314-1238"),
]


@pytest.mark.parametrize(("etype", "text"), INVALID)
def test_failing_checksums_are_not_found(etype: str, text: str) -> None:
    assert _found(text, etype) == []


def test_tckn_without_context_stays_below_threshold() -> None:
    """Eleven digits are also PESEL, CPF, Steuer-ID and order numbers: the TCKN needs its word."""
    assert _found("order 31728459054 shipped", "TR_TCKN") == []


def test_kr_rrn_after_2020_has_no_check_digit_but_a_date_and_context() -> None:
    assert _found("주민등록번호 850314-1234563", "KR_RRN") == ["850314-1234563"]
    assert _found("ref 850314-1234563", "KR_RRN") == []


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("loopback ::1 is up", "::1"),
        ("link-local fe80::1%eth0 here", "fe80::1%eth0"),
        ("host 2001:db8::ff00:42:8329 ok", "2001:db8::ff00:42:8329"),
        ("mapped ::ffff:192.0.2.128 ok", "::ffff:192.0.2.128"),
        ("route 2001:db8::/32 via", "2001:db8::/32"),
        ("allow 10.0.0.0/8 and", "10.0.0.0/8"),
        ("allow 192.168.1.0/24, deny", "192.168.1.0/24"),
    ],
)
def test_ipv6_forms_and_cidr_suffixes(text: str, value: str) -> None:
    assert _found(text, "IP_ADDRESS") == [value]


@pytest.mark.parametrize("text", ["mask 10.0.0.0/33 bad", "prefix 2001:db8::/129 bad", "any :: route"])
def test_out_of_range_prefixes_and_unspecified_addresses(text: str) -> None:
    assert all("/" not in x and x != "::" for x in _found(text, "IP_ADDRESS"))


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("visit example.com for the docs", "example.com"),
        ("the domain mail.google.co.uk resolves", "mail.google.co.uk"),
        ("website: shop.example.de", "shop.example.de"),
    ],
)
def test_bare_domains_with_context(text: str, value: str) -> None:
    assert _found(text, "DOMAIN_NAME") == [value]


@pytest.mark.parametrize(
    "text",
    [
        "I read about example.com yesterday",  # no context word: stays below threshold
        "visit setup.py and os.path.join",  # file names and code, not hosts
        "visit the site e.g. today",
        "write to ann@corp.example.com",  # an email, not a bare domain
        "version 9.1.5 is out. Visit https://shop.example.com/ for details",  # the host of a URL
    ],
)
def test_bare_domains_do_not_flood_prose(text: str) -> None:
    assert _found(text, "DOMAIN_NAME") == []


def test_domain_names_score_low() -> None:
    ent = next(e for e in detect("visit example.com") if e.entity_type == "DOMAIN_NAME")
    assert ent.score < 0.7


@pytest.mark.parametrize(
    ("name", "value", "ok"),
    [
        ("tr_tckn", "11111111110", False),
        ("kr_rrn", "8503141234562", True),
        ("document_number", "2024", False),
        ("document_number", "X12345678", True),
        ("domain", "a.b.c", False),
        ("ipv4", "1.2.3.4/32", True),
        ("ipv4", "0.0.0.0/0", False),
        ("ipv6", "be::ef", False),
    ],
)
def test_new_validators(name: str, value: str, ok: bool) -> None:
    assert v.REGISTRY[name](value) is ok
