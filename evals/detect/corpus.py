"""Labelled synthetic text for the detection eval: templates, Faker (several locales), hard negatives.

Each document is a few sentences; each inserted value is labelled with its exact
character span and type. Hard-negative sentences (Luhn-failing numbers, UUIDs, git
SHAs, version strings, order numbers, timestamps, syslog lines, Message-ID headers,
SNMP OIDs, C++ scopes, epoch-second table rows) carry no labels, so anything found
in them is a false positive. Names are tagged with whether the shipped
gazetteer held them out, so PERSON recall can be reported on unseen names.
"""

# ruff: noqa: E501
from __future__ import annotations

import hashlib
import random
import string
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from faker import Faker

LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pt_BR", "en_IN")


@dataclass
class Doc:
    text: str = ""
    labels: list[tuple[int, int, str]] = field(default_factory=list)
    meta: list[dict[str, object]] = field(default_factory=list)

    def add(self, s: str) -> None:
        self.text += s

    def put(self, value: str, etype: str, **meta: object) -> None:
        start = len(self.text)
        self.text += value
        self.labels.append((start, start + len(value), etype))
        self.meta.append({"type": etype, **meta})


def _held_out(name: str) -> bool:
    return int(hashlib.sha256(name.lower().encode()).hexdigest(), 16) % 5 == 0


def _check_digit(body: str, ok: Callable[[str], bool], alphabet: str = string.digits) -> str:
    for d in alphabet:
        if ok(body + d):
            return body + d
    return ""


class Gen:
    def __init__(self, seed: int) -> None:
        self.r = random.Random(seed)
        self.fakers = {loc: Faker(loc) for loc in LOCALES}
        for i, f in enumerate(self.fakers.values()):
            f.seed_instance(seed + i)

    def f(self, loc: str | None = None) -> Faker:
        return self.fakers[loc or self.r.choice(LOCALES)]

    def rand(self, alphabet: str, n: int) -> str:
        return "".join(self.r.choice(alphabet) for _ in range(n))

    # --- values -------------------------------------------------------------------------------
    def nhs(self) -> str:
        from bastion.data._detect.validators import uk_nhs

        while True:
            v = _check_digit(self.rand(string.digits, 9), uk_nhs)
            if v:
                return f"{v[:3]} {v[3:6]} {v[6:]}"

    def nhs_england(self) -> str:
        """An NHS number in the ranges England and Wales issue (4xx, 6xx-7xx), unformatted."""
        from bastion.data._detect.validators import uk_nhs

        while True:
            v = _check_digit(self.r.choice("467") + self.rand(string.digits, 8), uk_nhs)
            if v:
                return v

    def steuer_id(self) -> str:
        """Computed here (one digit twice or thrice, never thrice in a row; ISO 7064 MOD 11,10), so the
        corpus is the same whichever version of the validator runs the eval."""
        while True:
            body = self.r.choice("123456789") + self.rand(string.digits, 9)
            counts = sorted((body.count(c) for c in set(body)), reverse=True)
            if counts[0] not in (2, 3) or (len(counts) > 1 and counts[1] > 1):
                continue
            if any(body[i] == body[i + 1] == body[i + 2] for i in range(8)):
                continue
            product = 10
            for ch in body:
                product = (((int(ch) + product) % 10 or 10) * 2) % 11
            return body + str((11 - product) % 10)

    def personnummer(self) -> str:
        from bastion.data._detect.validators import se_personnummer

        born = self.f().date_of_birth(minimum_age=18, maximum_age=90)
        v = _check_digit(born.strftime("%y%m%d") + self.rand(string.digits, 3), se_personnummer)
        return f"{v[:6]}-{v[6:]}"

    def kr_rrn(self) -> str:
        """Computed here (weights 2-9,2-5, mod 11), not by the validator under test."""
        born = self.f().date_of_birth(minimum_age=18, maximum_age=90)
        sex = self.r.choice("12" if born.year < 2000 else "34")
        body = born.strftime("%y%m%d") + sex + self.rand(string.digits, 5)
        total = sum(int(c) * w for c, w in zip(body, (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5), strict=True))
        return f"{body[:6]}-{body[6:]}{(11 - total % 11) % 10}"

    def tckn(self) -> str:
        n = [self.r.randint(1, 9)] + [self.r.randint(0, 9) for _ in range(8)]
        n.append((sum(n[0:9:2]) * 7 - sum(n[1:8:2])) % 10)
        n.append(sum(n) % 10)
        return "".join(map(str, n))

    def postcode(self) -> str:
        return self.r.choice(["SW1A 1AA", "EC1A 1BB", "W1A 0AX", "M1 1AE", "B33 8TH", "CR2 6XH", "DN55 1PT",
                              "LS1 4AP", "G2 3QR", "EH1 1YZ", "BS1 5TR", "CF10 3NQ"])  # fmt: skip

    def nino(self) -> str:
        first, second = "ABCEGHJKLMNOPRSTWXYZ", "ABCEGHJKLMNPRSTWXYZ"
        while True:
            p = self.r.choice(first) + self.r.choice(second)
            if p not in ("BG", "GB", "KN", "NK", "NT", "TN", "ZZ"):
                return f"{p} {self.rand(string.digits, 2)} {self.rand(string.digits, 2)} {self.rand(string.digits, 2)} {self.r.choice('ABCD')}"

    def aadhaar(self) -> str:
        from bastion.data._detect.validators import verhoeff

        v = _check_digit(self.r.choice("23456789") + self.rand(string.digits, 10), verhoeff)
        return f"{v[:4]} {v[4:8]} {v[8:]}"

    def nric(self) -> str:
        from bastion.data._detect.validators import sg_nric

        return _check_digit(self.r.choice("ST") + self.rand(string.digits, 7), sg_nric, string.ascii_uppercase)

    def tfn(self) -> str:
        from bastion.data._detect.validators import au_tfn

        while True:
            v = _check_digit(self.rand(string.digits, 8), au_tfn)
            if v:
                return f"{v[:3]} {v[3:6]} {v[6:]}"

    def pan(self) -> str:
        return (
            self.rand(string.ascii_uppercase, 3)
            + "P"
            + self.r.choice(string.ascii_uppercase)
            + self.rand(string.digits, 4)
            + self.r.choice(string.ascii_uppercase)
        )

    def btc(self) -> str:
        return self.r.choice(
            ["1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy",
             "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2"]
        )  # fmt: skip

    def secret(self) -> tuple[str, str]:
        a = string.ascii_letters + string.digits
        kind = self.r.randrange(8)
        if kind == 0:
            return "AKIA" + self.rand("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16), "AWS_ACCESS_KEY_ID"
        if kind == 1:
            return "ghp_" + self.rand(a, 36), "GITHUB_PAT"
        if kind == 2:
            return (
                f"xoxb-{self.rand(string.digits, 12)}-{self.rand(string.digits, 13)}-{self.rand(a, 24)}",
                "SLACK_BOT_TOKEN",
            )
        if kind == 3:
            return "sk_live_" + self.rand(a, 24), "STRIPE_SECRET_KEY"
        if kind == 4:
            return "glpat-" + self.rand(a, 20), "GITLAB_PAT"
        if kind == 5:
            return "hf_" + self.rand(string.ascii_letters, 34), "HUGGINGFACE_TOKEN"
        if kind == 6:
            return f"SG.{self.rand(a, 22)}.{self.rand(a, 43)}", "SENDGRID_API_KEY"
        return "npm_" + self.rand(a, 36), "NPM_ACCESS_TOKEN"

    # --- hard negatives -------------------------------------------------------------------
    def negative(self) -> str:
        k = self.r.randrange(14)
        if k == 0:
            cc = self.f("en_US").credit_card_number()
            bad = cc[:-1] + str((int(cc[-1]) + 1) % 10)
            return f"Order reference {bad} was shipped. "
        if k == 1:
            return f"Request id {uuid.UUID(int=self.r.getrandbits(128))} completed. "
        if k == 2:
            return f"Merged commit {self.rand('0123456789abcdef', 40)} into main. "
        if k == 3:
            return f"Upgrade to version {self.r.randint(1, 9)}.{self.r.randint(0, 20)}.{self.r.randint(0, 50)} now. "
        if k == 4:
            return f"Invoice {self.r.randint(10_000_000, 99_999_999)} totals ${self.r.randint(10, 9999)}.{self.r.randint(10, 99)}. "
        if k == 5:
            return f"The job ran at {self.r.randint(0, 23):02d}:{self.r.randint(0, 59):02d}:{self.r.randint(0, 59):02d} UTC. "
        if k == 6:
            return (
                f"Build {self.r.randint(1000, 9999)}-{self.r.randint(100, 999)} passed {self.r.randint(1, 500)} tests. "
            )
        if k == 7:
            return f"Checksum sha256:{self.rand('0123456789abcdef', 64)} verified. "
        # log lines, mail headers, OIDs, code and epoch rows: shapes that look like PII and are not
        mon = self.r.choice(["Jan", "Mar", "May", "Jun", "Aug", "Dec"])
        hms = f"{self.r.randint(0, 23):02d}:{self.r.randint(0, 59):02d}:{self.r.randint(0, 59):02d}"
        day = f"{self.r.randint(2015, 2024)}-{self.r.randint(1, 12):02d}-{self.r.randint(1, 28):02d}"
        if k == 8:
            return f"\n{mon} {self.r.randint(1, 28)} {hms} web01 sshd[{self.r.randint(100, 9999)}]: session opened\n"
        if k == 9:
            return f"\n{day} {hms},{self.r.randint(100, 999)} INFO message queue drained\n"
        if k == 10:
            host = self.r.choice(["mail.example.org", "mx.corp.example.com", "smtp.example.net"])
            return f"\nMessage-ID: <{self.rand('0123456789abcdef', 12)}.{self.r.randint(1, 99999)}@{host}>\n"
        if k == 11:
            return f"SNMP oid 1.3.6.1.4.1.{self.r.randint(100, 40000)}.{self.r.randint(1, 9)} polled. "
        if k == 12:
            return "Call std::vector::push_back or a::b:c in the C++ code. "
        return f"\nts,value\n{self.r.randint(1_500_000_000, 1_790_000_000)},{self.r.randint(0, 99)}\n"

    # --- documents -----------------------------------------------------------------------------
    def doc(self) -> Doc:
        d = Doc()
        for _ in range(self.r.randint(2, 5)):
            self.r.choice(self._sentences)(self, d)
            d.add(" ")
            if self.r.random() < 0.4:
                d.add(self.negative())
        return d

    def _person(self, d: Doc) -> None:
        f = self.f()
        first, last = f.first_name(), f.last_name()
        name = f"{first} {last}"
        d.add(self.r.choice(["Please contact ", "Patient ", "Signed by ", "Customer ", "Meeting with ", ""]))
        d.put(name, "PERSON", held_out=_held_out(first) or _held_out(last), first=first)
        d.add(self.r.choice([" about the invoice.", " called yesterday.", ".", " will join."]))

    def _person_title(self, d: Doc) -> None:
        """A surname after a title ("Dr. Okafor") or initials ("J. Okafor"), the forms letters and notes use."""
        f = self.f()
        last = f.last_name()
        d.add(self.r.choice(["Please ask ", "Referred by ", "Meeting with ", "Signed: "]))
        if self.r.random() < 0.5:
            d.add(self.r.choice(["Mr. ", "Mrs. ", "Dr. ", "Ms. "]))
            d.put(last, "PERSON", held_out=_held_out(last), first="")
        else:
            d.put(f"{self.r.choice(string.ascii_uppercase)}. {last}", "PERSON", held_out=_held_out(last), first="")
        d.add(self.r.choice([" today.", ".", " about the results."]))

    def _document(self, d: Doc) -> None:
        """Passport and driver-licence numbers written right after their keyword."""
        k = self.r.randrange(5)
        if k == 0:
            d.add(self.r.choice(["Passport No: ", "passport number ", "Passport "]))
            d.put(self.r.choice(string.ascii_uppercase) + self.rand(string.digits, 8), "US_PASSPORT")
        elif k == 1:
            d.add(self.r.choice(["Passport No: ", "passport number "]))
            d.put(self.r.choice("123456789") + self.rand(string.digits, 8), "US_PASSPORT")
        elif k == 2:
            if self.r.random() < 0.4:
                d.put("California", "LOCATION")
                d.add(" DL ")
            else:
                d.add(self.r.choice(["driver's license number ", "Driver License: "]))
            d.put(self.r.choice(string.ascii_uppercase) + self.rand(string.digits, 7), "US_DRIVER_LICENSE")
        elif k == 3:
            if self.r.random() < 0.5:
                d.put("Illinois", "LOCATION")
                d.add(" driver's license ")
            else:
                d.add("DL# ")
            u = self.r.choice(string.ascii_uppercase)
            d.put(f"{u}{self.rand(string.digits, 3)}-{self.rand(string.digits, 4)}-{self.rand(string.digits, 4)}",
                  "US_DRIVER_LICENSE")  # fmt: skip
        else:
            if self.r.random() < 0.5:
                d.put("Texas", "LOCATION")
                d.add(" driver license ")
            else:
                d.add("DLN: ")
            d.put(self.r.choice("123456789") + self.rand(string.digits, 7), "US_DRIVER_LICENSE")
        d.add(".")

    def _nhs_row(self, d: Doc) -> None:
        """A delimited row holding an NHS number, far from any header."""
        sep = self.r.choice([",", "\t", "|"])
        d.add(f"\n{self.r.randint(1, 9999)}{sep}ward {self.r.randint(1, 30)}{sep}")
        d.put(self.nhs_england(), "UK_NHS")
        d.add(f"{sep}ok\n")

    def _eu_id(self, d: Doc) -> None:
        k = self.r.randrange(5)
        label, gen, etype = [
            ("Steuer-ID ", self.steuer_id, "DE_TAX_ID"),
            ("personnummer ", self.personnummer, "SE_PERSONNUMMER"),
            ("주민등록번호 ", self.kr_rrn, "KR_RRN"),
            ("TC Kimlik No ", self.tckn, "TR_TCKN"),
            ("postcode ", self.postcode, "UK_POSTCODE"),
        ][k]
        d.add(f"His {label}is ")
        d.put(gen(), etype)
        d.add(".")

    def _email(self, d: Doc) -> None:
        d.add(self.r.choice(["Send it to ", "Email: ", "Reply to ", "cc "]))
        d.put(self.f().email(), "EMAIL_ADDRESS")
        d.add(".")

    def _phone(self, d: Doc) -> None:
        loc = self.r.choice(["en_US", "en_GB", "de_DE", "fr_FR", "en_US"])
        d.add(self.r.choice(["Call me at ", "Phone: ", "Mobile ", "Reach the office on "]))
        num = self.fakers[loc].phone_number()
        d.put(num, "PHONE_NUMBER", locale=loc)
        d.add(".")

    def _card(self, d: Doc) -> None:
        d.add(self.r.choice(["Card number ", "Charged to card ", "CC: ", "Pay with "]))
        d.put(self.f("en_US").credit_card_number(), "CREDIT_CARD")
        d.add(".")

    def _iban(self, d: Doc) -> None:
        d.add(self.r.choice(["Transfer to IBAN ", "Account ", "IBAN: "]))
        d.put(self.f(self.r.choice(["de_DE", "fr_FR", "en_GB", "es_ES", "nl_NL", "it_IT"])).iban(), "IBAN_CODE")
        d.add(".")

    def _ip(self, d: Doc) -> None:
        d.add(self.r.choice(["Login from ", "Host ", "Client IP ", "Server address "]))
        d.put(self.f().ipv4() if self.r.random() < 0.7 else self.f().ipv6(), "IP_ADDRESS")
        d.add(" was blocked.")

    def _mac(self, d: Doc) -> None:
        d.add("Device MAC ")
        d.put(self.f().mac_address(), "MAC_ADDRESS")
        d.add(" joined the network.")

    def _url(self, d: Doc) -> None:
        d.add(self.r.choice(["See ", "Visit ", "Docs at "]))
        d.put(self.f().url() + self.r.choice(["", "login", "account?id=42"]), "URL")
        d.add(" for details.")

    def _btc(self, d: Doc) -> None:
        d.add("Send BTC to ")
        d.put(self.btc(), "CRYPTO_BTC_ADDRESS")
        d.add(".")

    def _dob(self, d: Doc) -> None:
        dob = self.f().date_of_birth(minimum_age=18, maximum_age=90)
        fmt = self.r.choice(["%Y-%m-%d", "%d/%m/%Y", "%m/%d/%Y", "%d %B %Y", "%B %d, %Y", "%d.%m.%Y", "%m/%d/%y",
                             "%d-%b-%Y", "%d %b %Y", "%Y%m%d"])  # fmt: skip
        d.add(self.r.choice(["Born on ", "DOB: ", "Date of birth ", "birthday ", "d.o.b. ", "Geburtsdatum: "]))
        d.put(dob.strftime(fmt), "DATE_OF_BIRTH")
        d.add(".")

    def _address(self, d: Doc) -> None:
        d.add(self.r.choice(["Ship to ", "She lives at ", "Address: "]))
        d.put(self.f("en_US").street_address(), "STREET_ADDRESS")
        d.add(".")

    def _location(self, d: Doc) -> None:
        f = self.f(self.r.choice(["en_US", "en_GB"]))
        place = f.country() if self.r.random() < 0.5 else f.city()
        d.add(self.r.choice(["They moved to ", "Flying from ", "Our office in "]))
        d.put(place, "LOCATION", fake_city=not place.isalpha() or True)
        d.add(".")

    def _national(self, d: Doc) -> None:
        k = self.r.randrange(13)
        table: list[tuple[str, Callable[[], str], str]] = [
            ("SSN ", lambda: self.f("en_US").ssn(), "US_SSN"),
            ("NHS number ", self.nhs, "UK_NHS"),
            ("National Insurance number ", self.nino, "UK_NINO"),
            ("numéro de sécurité sociale ", lambda: self.f("fr_FR").ssn(), "FR_NIR"),
            ("DNI ", lambda: self.f("es_ES").nif(), "ES_DNI"),
            ("NIE ", lambda: self.f("es_ES").nie(), "ES_NIE"),
            ("codice fiscale ", lambda: self.f("it_IT").ssn(), "IT_FISCAL_CODE"),
            ("BSN ", lambda: self.f("nl_NL").ssn(), "NL_BSN"),
            ("Aadhaar ", self.aadhaar, "IN_AADHAAR"),
            ("PAN ", self.pan, "IN_PAN"),
            ("CPF ", lambda: self.f("pt_BR").cpf(), "BR_CPF"),
            ("NRIC ", self.nric, "SG_NRIC"),
            ("TFN ", self.tfn, "AU_TFN"),
        ]
        label, gen, etype = table[k]
        d.add(f"Her {label}is ")
        d.put(gen(), etype)
        d.add(".")

    def _secret(self, d: Doc) -> None:
        value, etype = self.secret()
        d.add(self.r.choice(["token = ", "export KEY=", "Use the key ", "auth: "]))
        d.put(value, etype)
        d.add(" in CI.")

    def _plain(self, d: Doc) -> None:
        d.add(self.f("en_US").sentence(nb_words=12))

    _sentences = (_person, _person, _email, _phone, _card, _iban, _ip, _mac, _url, _btc, _dob, _address,
                  _location, _national, _national, _national, _secret, _secret, _plain, _plain,
                  _person_title, _document, _nhs_row, _eu_id)  # fmt: skip


def generate(n: int, seed: int = 1234) -> list[Doc]:
    g = Gen(seed)
    return [g.doc() for _ in range(n)]
