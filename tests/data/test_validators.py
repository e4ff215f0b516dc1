"""Validators: published valid examples, Faker as an independent oracle, and hostile input."""

from __future__ import annotations

import pytest
from faker import Faker
from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.data._detect import validators as v

VALID = [
    ("uk_nhs", "943 476 5919"), ("de_tax_id", "86095742719"), ("sg_nric", "S1234567D"), ("au_tfn", "123456782"),
    ("in_pan", "ABCPE1234F"), ("aadhaar", "2341 2341 2346"), ("btc_address", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"),
    ("btc_address", "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy"),
    ("btc_address", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"), ("iban", "GB82 WEST 1234 5698 7654 32"),
    ("iban", "DE89370400440532013000"), ("vin", "1M8GDM9AXKP042788"), ("aba_routing", "021000021"),
    ("it_fiscal_code", "RSSMRA85T10A562S"), ("es_dni", "12345678Z"), ("nl_bsn", "111222333"),
    ("pl_pesel", "44051401359"), ("cn_resident_id", "11010519491231002X"), ("fi_hetu", "131052-308T"),
    ("au_abn", "51 824 753 556"), ("us_npi", "1234567893"), ("imei", "490154203237518"),
    ("za_id", "8001015009087"), ("se_personnummer", "811218-9876"), ("fr_nir", "255081416802538"),
    ("ltc_address", "LVg2kJoFNg45Nbpy53h7Fe1wKyeXVRhMH9"), ("uk_nino", "AB123456C"),
    ("credit_card", "4539 1488 0343 6467"), ("us_ssn", "536-22-1390"), ("ipv4", "192.168.1.20"),
    ("ipv6", "2001:db8::8a2e:370:7334"), ("mac", "00:1A:2B:3C:4D:5E"), ("birth_date", "1984-03-12"),
    ("birth_date", "12 March 1984"), ("phone", "+44 20 7946 0958"),
    ("jwt", "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"),  # noqa: E501
]  # fmt: skip

INVALID = [
    ("uk_nhs", "943 476 5918"), ("de_tax_id", "86095742718"), ("sg_nric", "S1234567A"), ("au_tfn", "123456781"),
    ("aadhaar", "2341 2341 2345"), ("btc_address", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb"),
    ("btc_address", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdx"), ("iban", "GB82 WEST 1234 5698 7654 33"),
    ("vin", "1M8GDM9AXKP042789"), ("it_fiscal_code", "RSSMRA85T10A562T"), ("es_dni", "12345678A"),
    ("nl_bsn", "111222334"), ("cn_resident_id", "110105194912310021"), ("credit_card", "4539 1488 0343 6468"),
    ("us_ssn", "000-12-3456"), ("us_ssn", "666-12-3456"), ("us_ssn", "900-12-3456"), ("us_ssn", "123-00-4567"),
    ("uk_nino", "QQ123456C"), ("ipv4", "256.1.1.1"), ("ipv6", "12:30:45"), ("mac", "ff:ff:ff:ff:ff:ff"),
    ("birth_date", "2999-01-01"), ("birth_date", "1984-13-40"), ("jwt", "eyJub3Rqc29u.eyJ4.abc"),
    ("credit_card", "1111111111111111"), ("phone", "12"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "value"), VALID)
def test_published_examples_validate(name: str, value: str) -> None:
    assert v.REGISTRY[name](value), (name, value)


@pytest.mark.parametrize(("name", "value"), INVALID)
def test_corrupted_examples_fail(name: str, value: str) -> None:
    assert not v.REGISTRY[name](value), (name, value)


ORACLE = [
    ("fr_FR", "ssn", "fr_nir"), ("es_ES", "nif", "es_dni"), ("es_ES", "nie", "es_nie"),
    ("it_IT", "ssn", "it_fiscal_code"), ("nl_NL", "ssn", "nl_bsn"), ("pt_BR", "cpf", "br_cpf"),
    ("pt_BR", "cnpj", "br_cnpj"), ("en_CA", "ssn", "ca_sin"), ("pl_PL", "pesel", "pl_pesel"),
    ("sv_SE", "ssn", "se_personnummer"), ("fi_FI", "ssn", "fi_hetu"), ("zh_CN", "ssn", "cn_resident_id"),
    ("en_US", "credit_card_number", "credit_card"), ("en_US", "iban", "iban"), ("de_DE", "iban", "iban"),
    ("en_US", "vin", "vin"), ("en_US", "aba", "aba_routing"), ("en_US", "ssn", "us_ssn"), ("en_US", "itin", "us_itin"),
]  # fmt: skip


@pytest.mark.parametrize(("locale", "method", "validator"), ORACLE)
def test_faker_generated_values_validate(locale: str, method: str, validator: str) -> None:
    """Faker's generators compute check digits independently of ours."""
    fake = Faker(locale)
    fake.seed_instance(7)
    for _ in range(200):
        value = getattr(fake, method)()
        assert v.REGISTRY[validator](value), (validator, value)


LUHN_LIKE = ["luhn", "credit_card", "imei", "uk_nhs", "iban", "br_cpf", "aadhaar", "verhoeff"]


@pytest.mark.parametrize(("locale", "method", "validator", "digits"), [
    ("en_US", "credit_card_number", "credit_card", None), ("pt_BR", "cpf", "br_cpf", None),
    ("en_US", "iban", "iban", None), ("nl_NL", "ssn", "nl_bsn", None), ("it_IT", "ssn", "it_fiscal_code", None),
])  # fmt: skip
def test_single_digit_errors_are_caught(locale: str, method: str, validator: str, digits: None) -> None:
    """Check digits exist to catch single-character typos; every one must be caught."""
    fake = Faker(locale)
    fake.seed_instance(3)
    for _ in range(40):
        value = getattr(fake, method)()
        idx = [i for i, c in enumerate(value) if c.isdigit()]
        for i in idx[:6]:
            bad = value[:i] + str((int(value[i]) + 5) % 10) + value[i + 1 :]
            assert not v.REGISTRY[validator](bad), (validator, value, bad)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_no_validator_raises_on_arbitrary_text(text: str) -> None:
    for fn in v.REGISTRY.values():
        assert fn(text) in (True, False)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789 -", min_size=1, max_size=30))
def test_luhn_check_digit_is_unique(body: str) -> None:
    digits = "".join(c for c in body if c.isdigit())
    if len(digits) < 1:
        return
    valid = [d for d in "0123456789" if v.luhn(digits + d)]
    assert len(valid) == 1


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789", min_size=11, max_size=11))
def test_verhoeff_check_digit_is_unique(body: str) -> None:
    assert sum(v.verhoeff(body + d) for d in "0123456789") == 1


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=0, max_size=40))
def test_base58check_never_raises(raw: bytes) -> None:
    text = raw.decode("latin-1")
    assert v.base58check_decode(text) is None or isinstance(v.base58check_decode(text), bytes)
