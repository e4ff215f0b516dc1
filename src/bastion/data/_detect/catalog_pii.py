"""The built-in PII patterns.

Every regex here is written for both RE2 and Hyperscan: no look-around, no
back-references. Scores follow one scale: 0.85+ for a validated, distinctive
shape; 0.5-0.7 for a shape that validators only partly confirm; 0.4 (below the
default threshold) for shapes that collide with ordinary numbers and so need a
context word (`context_score`) to be reported.
"""

# ruff: noqa: E501  (regexes are data; splitting them hurts review)
from __future__ import annotations

from bastion.data._detect.model import Pattern
from bastion.data._detect.validators import DOMAIN_TLDS

_SEP = r"[ .-]?"

_DOB_CTX = (
    "born",
    "birth",
    "dob",
    "d.o.b",
    "geboren",
    "geburts",
    "né le",
    "née le",
    "naissance",
    "nacimiento",
    "nato il",
    "nata il",
    "nascita",
    " aged ",
    " age:",
)  # not bare "age" (inside "message", "page"), nor "aged " ("managed ") or "age:" ("usage:")
_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]{0,6}\.?"
_DL_CTX = ("driver", "license", "licence", "dl#", "dln", "driving")  # "DL 123" itself: us_driver_license_kw
# the TLDs a bare domain may end with (validators.DOMAIN_TLDS): in the regex, so "john.smith" in
# "john.smith@…" or "os.path" is no candidate and costs no validator call
_TLDS = "|".join(sorted(DOMAIN_TLDS, key=lambda t: (-len(t), t)))  # stable: the pattern keys a cache
_PASSPORT_CTX = ("passport", "passport no", "passport#", "reisepass", "passeport", "pasaporte", "passaporto")
SSN_CTX = ("ssn", "social security", "social sec", "ss#", "ss #", "ssn#")
_TAX_CTX = ("tax", "tin", "taxpayer")


def _p(name: str, entity_type: str, regex: str, score: float, **kw: object) -> Pattern:
    return Pattern(name=name, entity_type=entity_type, regex=regex, score=score, kind="pii", **kw)  # type: ignore[arg-type]


PII_PATTERNS: tuple[Pattern, ...] = (
    _p("email", "EMAIL_ADDRESS",
       r"\b[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.){1,8}[A-Za-z]{2,24}\b",
       0.9, validator="email", context=("email", "e-mail", "mail", "contact"), context_score=1.0),
    _p("phone_intl", "PHONE_NUMBER", r"\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){1,2}(?:[ .-]?\d{2,4}){1,4}(?:\s?(?:x|ext\.?)\s?\d{1,5})?\b",
       0.75, validator="phone", context=("phone", "tel", "mobile", "cell", "call", "fax", "whatsapp", "contact"),
       context_score=0.95),
    _p("phone_nanp", "PHONE_NUMBER",
       r"(?:(?:\+|\b00)1[ .-]?|\b1[ .-]?)?(?:\(\d{3}\)\s?|\b\d{3}[ .-])\d{3}[ .-]\d{4}(?:\s?(?:x|ext\.?)\s?\d{1,5})?\b",
       0.7, validator="phone_nanp", context=("phone", "tel", "mobile", "cell", "call", "fax", "contact", "reach"),
       context_score=0.95),
    _p("phone_national", "PHONE_NUMBER", r"(?:\(0\d{1,4}\)|\b0\d{1,4})[ -]?\d{2,4}(?:[ -]?\d{2,4}){1,3}\b",
       0.55, validator="phone_national", context=("phone", "tel", "telefon", "téléphone", "mobile", "handy", "portable",
                                         "móvil", "cell", "call", "fax"), context_score=0.9),
    _p("phone_digits", "PHONE_NUMBER", r"\b\d{10,11}\b", 0.3, validator="phone_nanp_strict",
       context=("phone", "tel", "mobile", "cell", "call me", "fax"), context_score=0.8),
    _p("credit_card", "CREDIT_CARD",
       r"\b(?:\d{4}[ -]?\d{4}[ -]?\d{4}[ -]?\d{0,7}|\d{4}[ -]?\d{6}[ -]?\d{4,5})\b",
       0.9, validator="credit_card", context=("card", "credit", "visa", "mastercard", "amex", "cc", "payment"),
       context_score=1.0),
    _p("iban", "IBAN_CODE", r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,3})?\b", 0.95,
       validator="iban"),
    _p("ipv4", "IP_ADDRESS",
       r"\b(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:/\d{1,2}\b|\b)",
       0.8, validator="ipv4", context=("ip", "address", "host", "server", "client"), context_score=0.95),
    _p("ipv6", "IP_ADDRESS",
       r"(?:^|[^0-9A-Za-z:.])((?:[0-9A-Fa-f]{0,4}:){2,7}(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]{0,4})"
       r"(?:%[0-9A-Za-z]{1,15})?(?:/\d{1,3})?)", 0.8,
       validator="ipv6", context=("ip", "ipv6", "address", "host"), context_score=0.95),
    _p("mac", "MAC_ADDRESS",
       r"\b(?:[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}|[0-9A-Fa-f]{2}(?:-[0-9A-Fa-f]{2}){5}"
       r"|[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4})\b",
       0.8, validator="mac", context=("mac", "hardware", "ethernet", "wifi", "device"), context_score=0.95),
    _p("url", "URL", r"\b(?:https?|ftp)://[^\s<>\"'`]{3,}", 0.6,
       context=("url", "link", "website", "site", "visit"), context_score=0.8),
    _p("url_www", "URL", r"\bwww\.[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){1,6}(?:/[^\s<>\"'`]{0,})?", 0.55,
       context=("url", "link", "website", "site", "visit"), context_score=0.8),
    _p("btc", "CRYPTO_BTC_ADDRESS", r"\b(?:[13][1-9A-HJ-NP-Za-km-z]{25,34}|bc1[02-9ac-hj-np-z]{11,71})\b", 0.95,
       validator="btc_address"),
    _p("ltc", "CRYPTO_LTC_ADDRESS", r"\b(?:[LM][1-9A-HJ-NP-Za-km-z]{26,33}|ltc1[02-9ac-hj-np-z]{11,71})\b", 0.95,
       validator="ltc_address"),
    _p("eth", "CRYPTO_ETH_ADDRESS", r"\b0x[0-9a-fA-F]{40}\b", 0.85, validator="eth_address",
       context=("eth", "ethereum", "wallet", "address", "send"), context_score=0.95),
    _p("xmr", "CRYPTO_XMR_ADDRESS", r"\b4[0-9AB][1-9A-HJ-NP-Za-km-z]{93}\b", 0.7,
       context=("monero", "xmr", "wallet"), context_score=0.95),
    _p("dob_numeric", "DATE_OF_BIRTH", r"\b(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{4})\b", 0.3,
       validator="birth_date", context=_DOB_CTX, context_score=0.85),
    # two-digit years and YYYYMMDD blocks are dates only next to a birth word
    _p("dob_short", "DATE_OF_BIRTH", r"\b(?:\d{1,2}[-/.]\d{1,2}[-/.]\d{2}|(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01]))\b",
       0.2, validator="birth_date", context=_DOB_CTX, context_score=0.8),
    _p("dob_text", "DATE_OF_BIRTH",
       rf"\b(?:\d{{1,2}}(?:st|nd|rd|th)?(?:\s+of\s+|\s+|-){_MONTH}(?:,?\s+|-)\d{{4}}"
       rf"|{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}})\b",
       0.3, validator="birth_date", context=_DOB_CTX, context_score=0.85, case_insensitive=True),
    _p("street_en", "STREET_ADDRESS",
       r"\b\d{1,5}[A-Za-z]?\s+(?:[A-Z][A-Za-z'.-]+\s+){1,4}(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln"
       r"|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|Ter|Circle|Cir|Parkway|Pkwy|Square|Sq|Highway|Hwy|Trail|Trl"
       r"|Crescent|Close|Alley|Loop|Plaza|Ridge|Row|Walk|Point|Pike|Heights|Grove|Gardens|Creek|Crossing|Mews"
       r"|Hill|Hills|Park|Port|Station|Village|Mill|Mills|Pass|Path|Shore|Shores|Springs|Summit|Valley|View"
       r"|Vista|Well|Wells|Spur|Run|Ranch|Lake|Lakes|Landing|Junction|Island|Harbor|Haven|Green|Glen|Gateway"
       r"|Forest|Fields|Estates|Cove|Corner|Common|Camp|Brook|Branch|Bridge|Bypass|Burg|Expressway|Fork"
       r"|Freeway|Manor|Meadow|Meadows|Oval|Orchard|Radial|Route|Stravenue|Throughway|Track|Trafficway|Tunnel"
       r"|Turnpike|Underpass|Union|Viaduct|Ville|Ways|Motorway|Ramp|Falls|Ferry|Flat|Flats|Ford|Fort|Knoll"
       r"|Knolls|Mount|Mountain|Neck|Parks|Plain|Plains|Prairie|Rapid|Rapids|Rest|Shoal|Shoals|Skyway|Spring"
       r"|Stream|Locks|Lodge|Light|Lights|Key|Keys|Isle|Inlet|Hollow|Garden|Extension|Dale|Dam|Divide|Crest"
       r"|Cliff|Cliffs|Club|Causeway|Center|Centre|Canyon|Cape|Bottom|Bluff|Bluffs|Bend|Beach|Burgs|Curve"
       r"|Crossroad|Course|Courts|Alley|Anex|Arcade|Loaf|Lock|Points|Ports|Rue|Via|Square|Overpass|Mall|Mission"
       r"|Forge|Forges|Roads|Views|Greens|Coves|Corners|Mountains|Junctions|Centers|Circles|Crossings|Drives"
       r"|Estate|Extensions|Fords|Forks|Gateways|Glens|Groves|Harbors|Inlets|Isles|Lanes|Lights|Manors|Mills"
       r"|Motorways|Parkways|Passages|Pines|Plazas|Ranches|Ridges|Routes|Squares|Stations|Streets|Terraces"
       r"|Trails|Unions|Valleys|Villages|Vistas|Walks|Brooks|Heights|Hollows|Islands|Keys|Rapids|Summits)\.?"
       r"(?:,?\s+(?:Apt\.?|Suite|Unit|Ste\.?|#)\s*[A-Za-z0-9-]{1,6})?\b",
       0.7, context=("address", "live", "lives", "located", "ship", "deliver", "mail", "street", "resides"),
       context_score=0.9),
    _p("street_de", "STREET_ADDRESS",
       r"\b[A-ZÄÖÜ][a-zäöüß]{1,30}(?:[ -][A-ZÄÖÜ][a-zäöüß]{1,30}){0,2}(?:straße|strasse|str\.|weg|platz|allee"
       r"|gasse|ring|damm|ufer|chaussee|steig|pfad|stieg| Straße| Weg| Platz| Allee| Gasse)\s+\d{1,4}[a-z]?\b",
       0.7, context=("adresse", "wohnt", "anschrift", "address"), context_score=0.9),
    _p("street_fr", "STREET_ADDRESS",
       r"\b\d{1,4}(?:\s?(?:bis|ter))?,?\s+(?:rue|avenue|av\.|boulevard|bd|place|chemin|allée|impasse|quai|route"
       r"|cours|passage)\s+(?:de la |de l'|du |des |de |d')?[A-ZÉÈ][A-Za-zÀ-ÿ'-]{1,30}(?:\s[A-ZÉÈ][A-Za-zÀ-ÿ'-]{1,30}){0,3}",
       0.7, context=("adresse", "habite", "domicile", "address"), context_score=0.9),
    _p("street_es", "STREET_ADDRESS",
       r"\b(?:Calle|C/|Avenida|Avda\.|Av\.|Paseo|Plaza|Camino|Carrera|Ronda|Travesía|Via|Viale|Piazza|Corso"
       r"|Largo)\s+(?:de la |del |de |di |della )?[A-ZÁÉÍÓÚÑ][A-Za-zÀ-ÿ'-]{1,30}(?:\s[A-ZÁÉÍÓÚÑ][A-Za-zÀ-ÿ'-]{1,30}){0,3},?"
       r"\s+(?:n\.?º?\s*)?\d{1,4}\b",
       0.7, context=("dirección", "domicilio", "indirizzo", "address"), context_score=0.9),
    _p("gps", "GPS_COORDINATES",
       r"[-+]?(?:[1-8]?\d\.\d{3,8}|90\.0{3,8})\s*,\s*[-+]?(?:180\.0{3,8}|(?:1[0-7]\d|[1-9]?\d)\.\d{3,8})\b", 0.6,
       context=("lat", "lon", "lng", "coordinates", "gps", "location", "geo"), context_score=0.9),
    _p("us_ssn", "US_SSN", r"\b\d{3}[- ]\d{2}[- ]\d{4}\b", 0.85, validator="us_ssn", context=SSN_CTX,
       context_score=1.0),
    _p("us_ssn_plain", "US_SSN", r"\b\d{9}\b", 0.3, validator="us_ssn", context=SSN_CTX, context_score=0.85),
    _p("us_itin", "US_ITIN", r"\b9\d{2}[- ]?(?:5\d|6[0-5]|7\d|8[0-8]|9[0-24-9])[- ]?\d{4}\b", 0.8,
       validator="us_itin", context=("itin", "individual taxpayer", *_TAX_CTX), context_score=1.0),
    # US book: 9 digits; next-generation book: one letter and 8 digits
    _p("us_passport", "US_PASSPORT", r"\b(?:[A-Z]\d{8}|[A-Z]?\d{9})\b", 0.2, context=_PASSPORT_CTX, context_score=0.8),
    # the number written right after its keyword ("Passport No: 123456789"): the keyword is the evidence
    _p("us_passport_kw", "US_PASSPORT",
       r"(?i:passport)(?:\s*(?i:no|nr|num|number|#)\.?)?(?:\s+(?i:is))?\s*[:#=]?\s*([A-Z]\d{8}|\d{9})\b", 0.85),
    _p("passport_kw", "PASSPORT_NUMBER",
       r"(?i:passport|reisepass|passeport|pasaporte|passaporto)(?:\s*(?i:no|nr|num|number|#|n°)\.?)?(?:\s+(?i:is))?"
       r"\s*[:#=]?\s*([A-Z0-9]{6,9})\b", 0.75, validator="document_number"),
    _p("us_driver_license", "US_DRIVER_LICENSE",
       r"\b(?:[A-Z]\d{4,14}|[A-Z]{2}\d{5,7}|\d{7,9}|[A-Z]\d{3}-\d{4}-\d{4}(?:-\d{2})?"  # CA/NY/TX/...; IL, WI
       r"|[A-Z]\d{3}-\d{3}-\d{2}-\d{3}-\d|[A-Z]-\d{3}-\d{3}-\d{3}-\d{3}|[A-Z] \d{3} \d{3} \d{3} \d{3}"  # FL, MD, MI
       r"|[A-Z]\d{4} \d{5} \d{5}|WDL[A-Z0-9]{9})\b",  # NJ, WA
       0.2, context=_DL_CTX, context_score=0.75),
    _p("us_driver_license_kw", "US_DRIVER_LICENSE",
       r"(?:(?i:driver'?s?\s*licen[cs]e|driving\s+licen[cs]e|licen[cs]e\s+(?:no|number|#))|\bDLN?\b|\bD\.L\.)"
       r"(?:\s*(?i:no|nr|num|number|#)\.?)?(?:\s+(?i:is))?\s*[:#=]?\s*"
       r"([A-Z]{0,3}\d[\dA-Z]{3,15}|[A-Z]\d{3}-\d{4}-\d{4}(?:-\d{2})?|[A-Z]\d{3}-\d{3}-\d{2}-\d{3}-\d"
       r"|[A-Z]-\d{3}-\d{3}-\d{3}-\d{3})\b", 0.85, validator="document_number"),
    _p("us_routing", "US_BANK_ROUTING", r"\b\d{9}\b", 0.3, validator="aba_routing",
       context=("routing", "aba", "rtn", "transit"), context_score=0.9),
    _p("us_ein", "US_EIN", r"\b\d{2}-\d{7}\b", 0.3, context=("ein", "employer identification", "fein", "tax id"),
       context_score=0.85),
    _p("us_npi", "US_NPI", r"\b[12]\d{9}\b", 0.3, validator="us_npi", context=("npi", "provider"),
       context_score=0.9),
    _p("us_mbi", "US_MBI",
       r"\b[1-9][AC-HJKMNP-RT-Y][AC-HJKMNP-RT-Y0-9]\d-?[AC-HJKMNP-RT-Y][AC-HJKMNP-RT-Y0-9]\d-?[AC-HJKMNP-RT-Y]{2}\d{2}\b",
       0.6, context=("medicare", "mbi", "beneficiary"), context_score=0.95),
    # 0.96 with its word: "NHS number" beats a phone rule's own context word on the same digits
    _p("uk_nhs", "UK_NHS", r"\b\d{3}[- ]?\d{3}[- ]?\d{4}\b", 0.35, validator="uk_nhs",
       context=("nhs", "health service", "national health"), context_score=0.96),
    # a whole field of a CSV/TSV/pipe row, first digit 4-9, mod 11: trusted without a header nearby. Written
    # plain or 3 3 4 (the NHS's own format) it outranks the NANP phone shapes, even a bare ten-digit run
    # with a phone word (0.8) that sits on a neighbouring row; dashed, it stays a phone
    _p("uk_nhs_field", "UK_NHS", r"\b\d{3} ?\d{3} ?\d{4}\b", 0.81, validator="uk_nhs_field"),
    _p("uk_nino", "UK_NINO", r"\b[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b", 0.85,
       validator="uk_nino", context=("national insurance", "nino", "ni number"), context_score=1.0),
    _p("uk_nino_lower", "UK_NINO", r"\b[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b", 0.4,
       validator="uk_nino", context=("national insurance", "nino", "ni number", "ni no"), context_score=0.95,
       case_insensitive=True),
    # Royal Mail shapes: A9, A99, AA9, AA99, A9A, AA9A (letters per position) + inward 9AA
    _p("uk_postcode", "UK_POSTCODE",
       r"\b(?:[A-PR-UWYZ]\d[A-HJKPSTUW\d]?|[A-PR-UWYZ][A-HK-Y]\d[ABEHMNPRV-Y\d]?|GIR) ?\d[ABD-HJLNP-UW-Z]{2}\b", 0.45,
       context=("postcode", "post code", "london", "uk", "united kingdom", "england", "scotland", "wales",
                "address", "street", "road"), context_score=0.8),
    _p("de_tax_id", "DE_TAX_ID", r"\b\d{2} ?\d{3} ?\d{3} ?\d{3}\b", 0.6, validator="de_tax_id",
       context=("steuer", "idnr", "identifikationsnummer", "tax"), context_score=0.95),
    _p("fr_nir", "FR_NIR",
       r"\b[12] ?\d{2} ?(?:0[1-9]|1[0-2]|[2-9]\d) ?(?:\d{2}|2[ABab]) ?\d{3} ?\d{3} ?\d{2}\b", 0.85,
       validator="fr_nir", context=("sécurité sociale", "securite sociale", "nir", "insee"), context_score=1.0),
    _p("es_dni", "ES_DNI", r"\b\d{8}[- ]?[A-Z]\b", 0.85, validator="es_dni", context=("dni", "nif", "documento"),
       context_score=1.0),
    _p("es_nie", "ES_NIE", r"\b[XYZ]-?\d{7}-?[A-Z]\b", 0.85, validator="es_nie", context=("nie", "extranjero"),
       context_score=1.0),
    # digits may be L M N P-V (omocodia), the validator maps them back
    _p("it_fiscal_code", "IT_FISCAL_CODE",
       r"\b[A-Z]{6}[\dLMNP-V]{2}[A-EHLMPR-T][\dLMNP-V]{2}[A-Z][\dLMNP-V]{3}[A-Z]\b", 0.9,
       validator="it_fiscal_code", case_insensitive=False),
    _p("nl_bsn", "NL_BSN", r"\b(?:\d{9}|\d{4}\.\d{2}\.\d{3}|\d{3} \d{3} \d{3})\b", 0.35, validator="nl_bsn",
       context=("bsn", "burgerservicenummer", "sofinummer"), context_score=0.95),
    _p("in_aadhaar", "IN_AADHAAR", r"\b[2-9]\d{3}[ -]?\d{4}[ -]?\d{4}\b", 0.6, validator="aadhaar",
       context=("aadhaar", "aadhar", "uidai", "uid"), context_score=1.0),
    _p("in_pan", "IN_PAN", r"\b[A-Z]{3}[ABCFGHLJPTE][A-Z]\d{4}[A-Z]\b", 0.75, validator="in_pan",
       context=("pan", "permanent account", "income tax"), context_score=0.95),
    _p("ca_sin", "CA_SIN", r"\b\d{3}[- ]\d{3}[- ]\d{3}\b", 0.55, validator="ca_sin",
       context=("sin", "social insurance", "nas"), context_score=0.95),
    _p("au_tfn", "AU_TFN", r"\b\d{3} ?\d{3} ?\d{2,3}\b", 0.3, validator="au_tfn",
       context=("tfn", "tax file"), context_score=0.9),
    _p("au_abn", "AU_ABN", r"\b\d{2} ?\d{3} ?\d{3} ?\d{3}\b", 0.35, validator="au_abn",
       context=("abn", "australian business"), context_score=0.95),
    _p("au_medicare", "AU_MEDICARE", r"\b[2-6]\d{3} ?\d{5} ?\d(?:-?\d)?\b", 0.3, validator="au_medicare",
       context=("medicare",), context_score=0.9),
    _p("sg_nric", "SG_NRIC", r"\b[STFGM]\d{7}[A-Z]\b", 0.85, validator="sg_nric",
       context=("nric", "fin", "singapore"), context_score=1.0),
    _p("br_cpf", "BR_CPF", r"\b\d{3}\.\d{3}\.\d{3}-\d{2}\b", 0.9, validator="br_cpf", context=("cpf",),
       context_score=1.0),
    _p("br_cpf_plain", "BR_CPF", r"\b\d{11}\b", 0.3, validator="br_cpf", context=("cpf",), context_score=0.9),
    _p("br_cnpj", "BR_CNPJ", r"\b\d{2}\.\d{3}\.\d{3}/\d{4}-\d{2}\b", 0.9, validator="br_cnpj"),
    _p("pl_pesel", "PL_PESEL", r"\b\d{11}\b", 0.3, validator="pl_pesel", context=("pesel",), context_score=0.95),
    _p("se_personnummer", "SE_PERSONNUMMER", r"\b(?:(?:18|19|20)\d{6}[-+]?|\d{6}[-+])\d{4}\b", 0.5,
       validator="se_personnummer", context=("personnummer", "personal identity", "samordningsnummer"),
       context_score=0.95),
    _p("kr_rrn", "KR_RRN", r"\b\d{6}-[1-8]\d{6}\b", 0.85, validator="kr_rrn",
       context=("주민등록", "rrn", "resident registration", "korea"), context_score=1.0),
    _p("kr_rrn_plain", "KR_RRN", r"\b\d{6}[1-8]\d{6}\b", 0.4, validator="kr_rrn",
       context=("주민등록", "rrn", "resident registration"), context_score=0.9),
    # numbers issued since October 2020 have a random tail, no check digit: date + context only
    _p("kr_rrn_nocheck", "KR_RRN", r"\b\d{6}-?[1-8]\d{6}\b", 0.2, validator="kr_rrn_date",
       context=("주민등록", "rrn", "resident registration"), context_score=0.85),
    _p("tr_tckn", "TR_TCKN", r"\b[1-9]\d{10}\b", 0.45, validator="tr_tckn",
       context=("kimlik", "tckn", "tc no", "t.c. no", "tc kimlik", "turkish id", "nüfus"), context_score=0.95),
    _p("fi_hetu", "FI_HETU", r"\b\d{6}[-+A-FU-Y]\d{3}[0-9A-Y]\b", 0.85, validator="fi_hetu",
       context=("henkilötunnus", "hetu"), context_score=1.0),
    _p("za_id", "ZA_ID", r"\b\d{13}\b", 0.3, validator="za_id", context=("south africa", "id number", "rsa id"),
       context_score=0.85),
    _p("cn_resident_id", "CN_RESIDENT_ID", r"\b\d{17}[\dXx]\b", 0.8, validator="cn_resident_id",
       context=("身份证", "resident identity", "citizen id"), context_score=0.95),
    _p("imei", "IMEI", r"\b\d{2}[- ]?\d{6}[- ]?\d{6}[- ]?\d\b", 0.3, validator="imei", context=("imei", "device"),
       context_score=0.9),
    _p("vin", "VIN", r"\b[A-HJ-NPR-Z0-9]{17}\b", 0.75, validator="vin", context=("vin", "vehicle", "chassis"),
       context_score=0.95),
    _p("swift_bic", "SWIFT_BIC", r"\b[A-Z]{6}[A-Z0-9]{2}(?:[A-Z0-9]{3})?\b", 0.2, validator="swift_bic",
       context=("swift", "bic"), context_score=0.85),
    # bare host names: no checksum and everywhere in prose/code, so low and context-gated
    # the leading character is matched (group 1 is the value) so the host of every email address and URL,
    # which follows "@", "/" or ".", is not a candidate at all: dense logs would pay a validator call for each
    _p("domain", "DOMAIN_NAME",
       rf"(?:^|[^A-Za-z0-9@/.:_-])((?:[A-Za-z0-9](?:[A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?\.){{1,6}}(?i:{_TLDS}))\b", 0.3,
       validator="domain",
       context=("domain", "website", "web site", "site ", "visit", "hostname", "dns", "go to", "browse", "whois",
                "mx record", "subdomain"), context_score=0.55),
    _p("mx_curp", "MX_CURP", r"\b[A-Z][AEIOUX][A-Z]{2}\d{6}[HM][A-Z]{5}[A-Z0-9]\d\b", 0.85,
       context=("curp",), context_score=1.0),
)  # fmt: skip
