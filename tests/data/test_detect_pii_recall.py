"""PII recall regressions: dates of birth, passport and driver-licence numbers, NHS numbers in rows, names.

Each case is a sample that an earlier catalog missed (positive) next to one that
must stay quiet (negative), so a fix that simply widens a pattern shows up here.
All samples are made up; check digits are computed, not copied from a registry.
"""

from __future__ import annotations

import pytest

from bastion.data import detect


def _found(text: str, etype: str) -> list[str]:
    return [text[e.start : e.end] for e in detect(text) if e.entity_type == etype]


# --- dates of birth -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("DOB: 03/14/1985", "03/14/1985"),
        ("born 14 March 1985", "14 March 1985"),
        ("Date of birth 1985-03-14", "1985-03-14"),
        ("d.o.b. 14.03.1985", "14.03.1985"),
        ("birthday: March 14, 1985", "March 14, 1985"),
        ("DOB 3/14/85", "3/14/85"),
        ("date of birth: 14/03/85", "14/03/85"),
        ("born on the 14th of March 1985", "14th of March 1985"),
        ("Born: 14-Mar-1985", "14-Mar-1985"),
        ("Patient DOB 14 MAR 1985", "14 MAR 1985"),
        ("Geburtsdatum: 14.03.1985", "14.03.1985"),
        ("birth date 19850314", "19850314"),
        ("date de naissance : 14/03/1985", "14/03/1985"),
    ],
)
def test_birth_dates_in_common_formats(text: str, value: str) -> None:
    assert _found(text, "DATE_OF_BIRTH") == [value]


@pytest.mark.parametrize(
    "text",
    [
        "2019-05-01 page 3 of the usage report",  # "age" inside "page"/"usage" is no birth word
        "usage: 2019-05-01 is the cut-over",
        "account managed 2019-05-01 by ops",
        "2024-03-14 12:00:01 INFO message queue started",
        "the build number is 20240101",
        "released 14 March 1985 worldwide",  # a date with no birth word
        "DOB: 2999-01-01",  # not born yet
        "DOB 31/02/1985",  # no such day
    ],
)
def test_dates_without_birth_evidence_are_not_dob(text: str) -> None:
    assert _found(text, "DATE_OF_BIRTH") == []


# --- passports and driver licences --------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "etype", "value"),
    [
        ("passport X12345678", "US_PASSPORT", "X12345678"),
        ("Passport No: 123456789", "US_PASSPORT", "123456789"),
        ("passport number is 584213907", "US_PASSPORT", "584213907"),
        ("Reisepass Nr. C01X00T47", "PASSPORT_NUMBER", "C01X00T47"),
        ("California DL A1234567", "US_DRIVER_LICENSE", "A1234567"),
        ("driver's license number D123-4567-8901", "US_DRIVER_LICENSE", "D123-4567-8901"),
        ("Driver License: 12345678 (TX)", "US_DRIVER_LICENSE", "12345678"),
        ("FL driver license S123-456-78-901-0", "US_DRIVER_LICENSE", "S123-456-78-901-0"),
        ("WI driver's license A123-4567-8901-23", "US_DRIVER_LICENSE", "A123-4567-8901-23"),
        ("Washington driver licence WDLABCD1234E", "US_DRIVER_LICENSE", "WDLABCD1234E"),
        ("DLN: Y1234567", "US_DRIVER_LICENSE", "Y1234567"),
    ],
)
def test_document_numbers_after_their_keyword(text: str, etype: str, value: str) -> None:
    assert _found(text, etype) == [value]


@pytest.mark.parametrize(
    "text",
    [
        "passport expired last week",
        "renew your passport in 2024",
        "driver's license renewal is due",
        "Apache License 2.0 applies",
        "invoice A1234567 is attached",  # a DL shape with no licence word
    ],
)
def test_document_keywords_without_a_number_find_nothing(text: str) -> None:
    types = {e.entity_type for e in detect(text)}
    assert not types & {"US_PASSPORT", "PASSPORT_NUMBER", "US_DRIVER_LICENSE"}


# --- NHS numbers in delimited rows ---------------------------------------------------------

_HEADER = "patient_id,full_name,ward,admitted,nhs_number,notes\n"
_FILLER = "".join(f"{i},Patient {i},Ward {i % 7},2024-0{1 + i % 9}-1{i % 9},,none\n" for i in range(3))


@pytest.mark.parametrize(
    ("row", "value"),
    [
        ("17,Ann Smith,Ward 3,2024-05-01,4857773457,none", "4857773457"),
        ("17\tAnn Smith\t6123456784\tnone", "6123456784"),
        ("17|Ann Smith|943 476 5919|none", "943 476 5919"),
        ('17;"Ann Smith";"4857773457"', "4857773457"),
    ],
)
def test_nhs_numbers_as_table_fields_far_from_their_header(row: str, value: str) -> None:
    text = _HEADER + _FILLER + row + "\n"
    assert _found(text, "UK_NHS") == [value]


@pytest.mark.parametrize(
    "row",
    [
        "17,Ann Smith,Ward 3,2024-05-01,4857773458,none",  # check digit wrong
        "17,Ann Smith,Ward 3,1710417601,none",  # a Unix timestamp, not an NHS range
        "order 4857773457 shipped",  # prose, no table
        "17,Ann Smith,ref-4857773457,none",  # part of a longer id
    ],
)
def test_ten_digit_fields_that_are_not_nhs_numbers(row: str) -> None:
    assert _found(_FILLER + row + "\n", "UK_NHS") == []


# --- PERSON -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Mr. Smith called about the bill.", "Smith"),
        ("Please ask Dr. Okonkwo to call back.", "Okonkwo"),
        ("Mrs. Patel signed the form.", "Patel"),
        ("Signed: J. Smith", "J. Smith"),
        ("Name: Joanna Kowalczyk", "Joanna Kowalczyk"),
        ("Please ask Mrs. Green about the results.", "Green"),  # a surname that is also a word
        ("Please contact Joost de Graaf about the invoice.", "Joost de Graaf"),
        ("Signed by Zoey van der Pouw yesterday.", "Zoey van der Pouw"),
        ("4,Florence Wilson,x", "Florence Wilson"),  # a first name that is also a city, no naming cue
        ("Chelsea Lopez signed the lease.", "Chelsea Lopez"),
    ],
)
def test_person_after_titles_initials_and_name_labels(text: str, value: str) -> None:
    assert value in _found(text, "PERSON")


@pytest.mark.parametrize(
    "text",
    [
        "The U.S. Army base is closed.",
        "See Dr. The next step is to reboot.",
        "Mar 14 12:00:01 host sshd[123]: Accepted publickey for root",
        "We flew to Florence in May.",
    ],
)
def test_person_rules_do_not_fire_on_abbreviations(text: str) -> None:
    assert _found(text, "PERSON") == []


# --- phone numbers with their prefixes and extensions --------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Call me at +1-330-864-7434x99731.", "+1-330-864-7434x99731"),  # extension digits are not E.164 digits
        ("Mobile 001-891-240-6855.", "001-891-240-6855"),  # the US exit code written out
        ("Phone: (415) 555-0132 ext. 12", "(415) 555-0132 ext. 12"),
    ],
)
def test_phone_numbers_keep_prefix_and_extension(text: str, value: str) -> None:
    assert _found(text, "PHONE_NUMBER") == [value]


@pytest.mark.parametrize(
    "text",
    [
        "Mobile 658-349-4718.\nts,value\n1503652672,28\n",  # epoch seconds under a phone line
        "call me: 1234567890 is my locker code",  # no NANP area code starts with 0 or 1
    ],
)
def test_bare_ten_digit_runs_that_cannot_be_nanp_are_not_phones(text: str) -> None:
    assert all(not v.isdigit() for v in _found(text, "PHONE_NUMBER"))


# --- the header row as context for delimited text -------------------------------------------

_ROWS = "".join(f"{i},Patient {i},Ward {i % 7},none\n" for i in range(6))  # pushes rows past the context window


@pytest.mark.parametrize(
    ("header", "row", "etype", "value"),
    [
        ("id,name,ssn,notes", "17,Ann Smith,536221390,none", "US_SSN", "536221390"),
        ("id|name|passport_no|notes", "17|Ann Smith|584213907|none", "US_PASSPORT", "584213907"),
        # a 3xx number is outside the context-free NHS-field rule: only the header can vouch for it
        ("id\tname\tnhs_number\tnotes", "17\tAnn Smith\t3012345671\tnone", "UK_NHS", "3012345671"),
    ],
)
def test_header_cell_is_context_for_its_column(header: str, row: str, etype: str, value: str) -> None:
    sep = "|" if "|" in header else "\t" if "\t" in header else ","
    text = header + "\n" + _ROWS.replace(",", sep) + row + "\n"
    assert _found(text, etype) == [value]
    ent = next(e for e in detect(text) if e.entity_type == etype)
    assert "(header)" in ent.explanation


@pytest.mark.parametrize(
    "text",
    [
        "id,name,notes\n" + _ROWS + "17,Ann Smith,536221390\n",  # the column is "notes": no SSN word
        "id,name,ssn\n" + _ROWS + "17,536221390,x\n",  # the SSN word is over another column
        "ssn,name\n" + _ROWS + '17,"Smith, Ann",536221390\n',  # quoted comma: field counts differ
        "1,2,ssn\n" + _ROWS + "17,x,536221390\n",  # a data row is no header
    ],
)
def test_header_context_needs_the_same_column_of_a_header_row(text: str) -> None:
    assert _found(text, "US_SSN") == []
