"""The detection engine end to end: catalog, spans, scores, explanations, hard negatives, hostile input."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.data import Detector, catalog, detect
from bastion.data._detect.engine import available_backends


def _types(text: str, **kw: object) -> dict[str, str]:
    return {e.entity_type: text[e.start : e.end] for e in detect(text, **kw)}  # type: ignore[arg-type]


def test_catalog_sizes_meet_the_issue() -> None:
    pii = {p.entity_type for p in catalog() if p.kind == "pii"} | {"PERSON", "LOCATION"}
    secrets = {p.entity_type for p in catalog() if p.kind == "secret"}
    assert len(pii) >= 40
    assert len(secrets) >= 100
    required = {"US_SSN", "US_ITIN", "US_PASSPORT", "US_DRIVER_LICENSE", "UK_NHS", "UK_NINO", "DE_TAX_ID", "FR_NIR",
                "ES_DNI", "ES_NIE", "IT_FISCAL_CODE", "NL_BSN", "IN_AADHAAR", "IN_PAN", "CA_SIN", "AU_TFN", "SG_NRIC",
                "BR_CPF", "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS", "MAC_ADDRESS",
                "URL", "CRYPTO_BTC_ADDRESS", "DATE_OF_BIRTH", "STREET_ADDRESS"}  # fmt: skip
    assert required <= pii


def test_entity_fields_and_offsets() -> None:
    text = "Contact: jane.doe@corp.example.org — SSN 536-22-1390."
    ents = detect(text)
    by = {e.entity_type: e for e in ents}
    email = by["EMAIL_ADDRESS"]
    assert text[email.start : email.end] == "jane.doe@corp.example.org"
    assert 0.0 < email.score <= 1.0 and "pattern=email" in email.explanation
    ssn = by["US_SSN"]
    assert text[ssn.start : ssn.end] == "536-22-1390"
    assert "validator=us_ssn:ok" in ssn.explanation and "context=+'ssn'" in ssn.explanation


def test_value_never_leaks_through_repr_or_dict() -> None:
    ent = next(e for e in detect("key ghp_abcdefghijklmnopqrstuvwxyz0123456789") if e.kind == "secret")
    assert "ghp_abcdefghijklmnopqrstuvwxyz0123456789" not in repr(ent)
    assert "ghp_abcdefghijklmnopqrstuvwxyz0123456789" not in str(ent.to_dict())
    assert ent.to_dict()["masked"].endswith("6789")


def test_offsets_are_characters_not_bytes() -> None:
    text = "Grüße aus Köln 🎉 — écrivez à marie.curie@exemple.fr svp"
    ent = next(e for e in detect(text) if e.entity_type == "EMAIL_ADDRESS")
    assert text[ent.start : ent.end] == "marie.curie@exemple.fr"


@pytest.mark.parametrize(
    ("text", "etype", "value"),
    [
        ("card: 4539 1488 0343 6467", "CREDIT_CARD", "4539 1488 0343 6467"),
        ("IBAN DE89 3704 0044 0532 0130 00 please", "IBAN_CODE", "DE89 3704 0044 0532 0130 00"),
        ("host 10.20.30.40 is down", "IP_ADDRESS", "10.20.30.40"),
        ("ipv6 2001:db8::8a2e:370:7334 ok", "IP_ADDRESS", "2001:db8::8a2e:370:7334"),
        ("mac 00:1A:2B:3C:4D:5E", "MAC_ADDRESS", "00:1A:2B:3C:4D:5E"),
        ("see https://intranet.corp.io/a?b=1.", "URL", "https://intranet.corp.io/a?b=1"),
        ("send to 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "CRYPTO_BTC_ADDRESS", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"),
        ("born on 12 March 1984 in", "DATE_OF_BIRTH", "12 March 1984"),
        ("NHS number 943 476 5919", "UK_NHS", "943 476 5919"),
        ("NINO AB 12 34 56 C", "UK_NINO", "AB 12 34 56 C"),
        ("Steuer-IdNr 86095742719", "DE_TAX_ID", "86095742719"),
        ("codice fiscale RSSMRA85T10A562S", "IT_FISCAL_CODE", "RSSMRA85T10A562S"),
        ("DNI 12345678Z", "ES_DNI", "12345678Z"),
        ("BSN 111222333", "NL_BSN", "111222333"),
        ("Aadhaar 2341 2341 2346", "IN_AADHAAR", "2341 2341 2346"),
        ("PAN ABCPE1234F", "IN_PAN", "ABCPE1234F"),
        ("TFN 123 456 782", "AU_TFN", "123 456 782"),
        ("NRIC S1234567D", "SG_NRIC", "S1234567D"),
        ("CPF 187.244.670-14", "BR_CPF", "187.244.670-14"),
        ("call me at (415) 555-0132 tonight", "PHONE_NUMBER", "(415) 555-0132"),
        ("lives at 221 Baker Street, London", "STREET_ADDRESS", "221 Baker Street"),
        ("passport number 584213907", "US_PASSPORT", "584213907"),
    ],
)
def test_pii_examples(text: str, etype: str, value: str) -> None:
    assert _types(text).get(etype) == value


@pytest.mark.parametrize(
    ("secret", "etype"),
    [
        ("AKIAQYLPMN5HHHFPZAM2", "AWS_ACCESS_KEY_ID"),
        ("ghp_R4nd0mT0k3nV4lu3Xyz0123456789abcdEFG", "GITHUB_PAT"),
        ("glpat-Zx9yW8vU7tS6rQ5pO4nM", "GITLAB_PAT"),
        ("xoxb-1234567890123-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", "SLACK_BOT_TOKEN"),
        ("sk_live_51HxYzAbCdEfGhIjKlMnOpQrSt", "STRIPE_SECRET_KEY"),
        ("SG.aBcDeFgHiJkLmNoPqRsTuV.aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789aBcDeFg", "SENDGRID_API_KEY"),
        ("hf_AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEfGh", "HUGGINGFACE_TOKEN"),
        ("npm_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789", "NPM_ACCESS_TOKEN"),
        ("postgres://app:Sup3rS3cret!@db.internal:5432/prod", "POSTGRES_CONNECTION_STRING"),
    ],
)
def test_secret_examples(secret: str, etype: str) -> None:
    assert etype in _types(f"config value = {secret} end")


def test_private_key_block() -> None:
    body = "MIIEowIBAAKCAQEA" + "q" * 300
    text = f"-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----\n"
    assert "PRIVATE_KEY_RSA" in _types(text)


def test_generic_assignment_needs_entropy() -> None:
    assert "GENERIC_SECRET_ASSIGNMENT" in _types('api_key = "h7Gk2pQx9LmZ4vB8nR1sT6wY"')
    assert "GENERIC_SECRET_ASSIGNMENT" not in _types('api_key = "aaaaaaaaaaaaaaaaaaaaaaaa"')


@pytest.mark.parametrize(
    "text",
    [
        "order 4539 1488 0343 6468 shipped",  # Luhn fails
        "request id 123e4567-e89b-12d3-a456-426614174000",
        "commit 9fceb02d0ae598e95dc970b74767f19372d61af8",
        "upgrade to version 1.2.3.4 today",
        "the build number is 20240101",
        "AKIAIOSFODNN7EXAMPLE is the documented example key",
        'password = "${DB_PASSWORD}"',
    ],
)
def test_hard_negatives(text: str) -> None:
    found = {e.entity_type for e in detect(text, names=False)}
    assert not found & {"CREDIT_CARD", "IP_ADDRESS", "AWS_ACCESS_KEY_ID", "PHONE_NUMBER", "GENERIC_PASSWORD_ASSIGNMENT"}


def test_context_raises_score() -> None:
    plain = [e for e in detect("ref 111222333", min_score=0.0, names=False) if e.entity_type == "NL_BSN"]
    ctx = [e for e in detect("BSN 111222333", min_score=0.0, names=False) if e.entity_type == "NL_BSN"]
    assert plain and ctx and ctx[0].score > plain[0].score >= 0.0
    assert "NL_BSN" not in _types("ref 111222333")


def test_entities_filter_and_min_score() -> None:
    text = "mail a@b.io ssn 536-22-1390"
    assert {e.entity_type for e in detect(text, entities=["US_SSN"])} == {"US_SSN"}
    assert detect(text, min_score=1.01) == []


def test_no_overlapping_results() -> None:
    text = "postgres://u:Sup3rS3cret!@db.corp.io/x and https://user:hunter22x@site.io/p 4539 1488 0343 6467"
    ents = detect(text)
    for a, b in itertools.pairwise(ents):
        assert a.end <= b.start


def test_names_layer_person_and_location() -> None:
    ents = {e.entity_type: e for e in detect("Yesterday Maria Garcia flew from Madrid to New York.")}
    assert ents["PERSON"].explanation.startswith("gazetteer")
    assert "LOCATION" in ents
    assert "PERSON" not in {e.entity_type for e in detect("Maria Garcia", names=False)}


@pytest.mark.skipif(len(available_backends()) < 3, reason="needs hyperscan and re2")
def test_backends_agree() -> None:
    text = ("Email bob@corp.io, card 4539 1488 0343 6467, ghp_R4nd0mT0k3nV4lu3Xyz0123456789abcdEFG, "
            "IBAN GB82 WEST 1234 5698 7654 32, host 10.0.0.7, born 1990-02-03") * 3  # fmt: skip
    results = []
    for backend in ("hyperscan", "re2", "python"):
        det = Detector(backend=backend, names=False)  # type: ignore[arg-type]
        results.append([(e.entity_type, e.start, e.end, e.score) for e in det.detect(text)])
    assert results[0] == results[1] == results[2]
    assert len(results[0]) >= 15


@pytest.mark.parametrize(
    "text",
    [
        "a" * 1_000_000,
        "1" * 200_000,
        "-" * 100_000 + "BEGIN",
        "-----BEGIN RSA PRIVATE KEY-----" + "A" * 300_000,
        ("password=" + "x" * 50 + " ") * 5000,
        "@" * 100_000 + "a@" * 50_000,
        "\x00" * 100_000 + "\ud800" + "é" * 10_000,
        ("1.1." * 50_000),
    ],
)
@pytest.mark.timeout(120)
def test_pathological_inputs_are_linear(text: str) -> None:
    """Backtracking on these inputs would run for hours; the timeout catches that, not a slow machine."""
    detect(text)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=400))
def test_detect_is_total_and_spans_are_valid(text: str) -> None:
    ents = detect(text)
    for e in ents:
        assert 0 <= e.start < e.end <= len(text)
        assert e.value == text[e.start : e.end]
        assert 0.0 <= e.score <= 1.0


def test_detect_rejects_bytes() -> None:
    with pytest.raises(TypeError):
        detect(b"bytes")  # type: ignore[arg-type]
