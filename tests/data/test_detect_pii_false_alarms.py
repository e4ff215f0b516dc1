"""PII false-alarm regressions: timestamps, message ids, OIDs, IPv6 fragments, impossible dates, NHS vs phone.

Every negative sample here used to produce a finding; every positive sample next
to it is the real thing in the same shape, which must still be found.
"""

from __future__ import annotations

import pytest

from bastion.data import detect


def _found(text: str, etype: str) -> list[str]:
    return [text[e.start : e.end] for e in detect(text) if e.entity_type == etype]


@pytest.mark.parametrize(
    "line",
    [
        "Mar 14 12:00:01 host sshd[123]: Accepted publickey for root",
        '[14/Mar/2024:12:00:01 +0000] "GET / HTTP/1.1" 200',
        "Jan 5 2024 03:00 cron job finished",
        "2024-03-14 12:00:01 INFO age check passed",
        "2024-03-14T12:00:01Z birth-registry sync finished",
    ],
)
def test_log_timestamps_are_neither_dates_of_birth_nor_people(line: str) -> None:
    types = {e.entity_type for e in detect(line)}
    assert "DATE_OF_BIRTH" not in types and "PERSON" not in types


def test_a_name_that_is_also_a_month_is_still_a_name() -> None:
    assert "Jan Kowalski" in _found("Jan Kowalski signed the lease.", "PERSON")


@pytest.mark.parametrize(
    "headers",
    [
        "Message-ID: <abc.123@mail.example>",
        "Message-Id: <CAF=x9.123@mail.gmail.com>",
        "In-Reply-To: <20240314120001.GA1234@mail.example.org>",
        "References: <a1@b.example.com>\n <c2.d3@x.example.com>",
    ],
)
def test_message_ids_are_not_email_addresses(headers: str) -> None:
    assert _found(headers, "EMAIL_ADDRESS") == []


def test_addresses_in_other_headers_are_still_email() -> None:
    text = "Message-ID: <abc.123@mail.example>\nFrom: Ann <ann@corp.example.com>\nReply-To: ops@corp.example.com"
    assert _found(text, "EMAIL_ADDRESS") == ["ann@corp.example.com", "ops@corp.example.com"]


@pytest.mark.parametrize(
    "text",
    [
        "see 1.2.3.4.5.6 for the list",
        "snmp oid 1.3.6.1.4.1.311 is Microsoft",
        "release 10.1.2.3.4 is out",
    ],
)
def test_dotted_chains_are_not_ipv4(text: str) -> None:
    assert _found(text, "IP_ADDRESS") == []


@pytest.mark.parametrize(
    ("text", "value"),
    [("host 10.20.30.40, next", "10.20.30.40"), ("host 10.20.30.40.", "10.20.30.40")],
)
def test_ipv4_at_sentence_end_is_still_found(text: str, value: str) -> None:
    assert _found(text, "IP_ADDRESS") == [value]


@pytest.mark.parametrize(
    "text",
    [
        "std::vector a::b:c in C++",  # hex letters only: code, not an address
        "range 1:2:3:4:5:6:7:8:9 of the grid",  # nine groups: the regex stopped inside a longer run
        "mapped ::ffff:1.2.3.4.5 here",  # the IPv4 tail continues
    ],
)
def test_ipv6_fragments_are_not_addresses(text: str) -> None:
    assert _found(text, "IP_ADDRESS") == []


@pytest.mark.parametrize(
    "text",
    [
        "Henkilötunnus 310285-123H",  # 31 February: check character fits, date does not
        "hetu 301385-123B",  # month 13
    ],
)
def test_finnish_hetu_with_impossible_dates_is_not_reported(text: str) -> None:
    assert _found(text, "FI_HETU") == []


def test_finnish_hetu_with_a_real_date_is_reported() -> None:
    assert _found("henkilötunnus 140385-123B", "FI_HETU") == ["140385-123B"]


def test_swedish_personnummer_with_impossible_date_is_not_reported() -> None:
    assert _found("personnummer 850230-1230", "SE_PERSONNUMMER") == []


@pytest.mark.parametrize(
    "text",
    ["NHS number 401 023 2137", "ref 401 023 2137", "NHS: 943 476 5919, phone ext 12"],
)
def test_nhs_numbers_are_not_phone_numbers(text: str) -> None:
    assert _found(text, "PHONE_NUMBER") == []


def test_real_phone_numbers_still_are() -> None:
    assert _found("call me at 415 555 0132", "PHONE_NUMBER") == ["415 555 0132"]
    assert _found("NHS 111 or call 415-555-0132", "PHONE_NUMBER") == ["415-555-0132"]
