"""The offline names-and-places layer: gazetteers plus capitalisation and context rules.

Person names and places have no checksum, so patterns alone cannot find them. This
layer ships its data inside the package (name lists derived from Faker, MIT; places
from GeoNames, CC BY 4.0; see `evals/detect/build_gazetteer.py`), so it needs no
model download and adds ~1 MB of memory. It finds capitalised token runs and
labels a run PERSON when it starts with a known first name (or an honorific, or
follows a naming phrase) and LOCATION when it matches a known place. It is a
recall floor, not an NER model: its recall is reported separately by the eval.
"""

from __future__ import annotations

import bisect
import gzip
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources

from bastion.data._detect.model import Entity
from bastion.data._detect.namemodel import NameModel, load_model

MODEL_TOKEN_LOGIT = 0.0  # each unlisted token of a 2-3 token run must look this name-like (p >= 0.5)
MODEL_SINGLE_P = 0.7  # a lone unlisted token needs this and a strong cue
_STRONG_CUES = ("dear", "hi", "hello", "name:", "name is", "named", "called", "signed", "regards,", "thanks,",
                "patient", "customer", "contact", "attn:", "cc:")  # fmt: skip

_TOKEN = re.compile(r"[A-ZÀ-ÖØ-Þ][a-zß-öø-ÿ]+(?:[-'’][A-ZÀ-ÖØ-Þa-zß-öø-ÿ][a-zß-öø-ÿ]+)?|[A-Z]\.")
_HONORIFICS = frozenset(
    [
        "Mr",
        "Mrs",
        "Ms",
        "Miss",
        "Mx",
        "Dr",
        "Prof",
        "Sir",
        "Dame",
        "Lady",
        "Lord",
        "Madam",
        "Herr",
        "Frau",
        "Mme",
        "Mlle",
        "Monsieur",
        "Madame",
        "Sr",
        "Sra",
        "Srta",
        "Don",
        "Doña",
        "Signor",
        "Signora",
        "Dott",
        "Mr.",
        "Mrs.",
        "Ms.",
        "Dr.",
        "Prof.",
    ]
)
_NAME_CUES = ("name is", "named", "called", "dear", "hi ", "hello", "thanks", "regards", "signed", "contact",
              "patient", "customer", "employee", "client", "user", "mr", "ms", "by ", "from ", "with ", "cc:",
              "name:", "to:", "attn")  # fmt: skip
# Capitalised words that are names or places but far more often something else.
_COMMON = frozenset(
    [
        "The",
        "This",
        "That",
        "These",
        "Those",
        "There",
        "Then",
        "They",
        "Their",
        "Them",
        "What",
        "When",
        "Where",
        "Which",
        "While",
        "Who",
        "Why",
        "How",
        "And",
        "But",
        "Or",
        "If",
        "In",
        "On",
        "At",
        "By",
        "For",
        "From",
        "To",
        "With",
        "Without",
        "Of",
        "Off",
        "Out",
        "Over",
        "Under",
        "Up",
        "Down",
        "Into",
        "Onto",
        "Upon",
        "About",
        "Above",
        "After",
        "Again",
        "Against",
        "All",
        "Also",
        "Am",
        "An",
        "Any",
        "Are",
        "As",
        "Be",
        "Because",
        "Been",
        "Before",
        "Being",
        "Below",
        "Between",
        "Both",
        "Can",
        "Could",
        "Did",
        "Do",
        "Does",
        "Each",
        "Few",
        "Further",
        "Had",
        "Has",
        "Have",
        "He",
        "Her",
        "Here",
        "Hers",
        "Him",
        "His",
        "I",
        "Is",
        "It",
        "Its",
        "Just",
        "Me",
        "More",
        "Most",
        "My",
        "No",
        "Nor",
        "Not",
        "Now",
        "Only",
        "Other",
        "Our",
        "Ours",
        "Own",
        "Same",
        "She",
        "Should",
        "So",
        "Some",
        "Such",
        "Than",
        "Too",
        "Very",
        "Was",
        "We",
        "Were",
        "Will",
        "Would",
        "You",
        "Your",
        "Yours",
        "Yes",
        "Please",
        "Thanks",
        "Thank",
        "Hello",
        "Hi",
        "Dear",
        "Best",
        "Regards",
        "Sincerely",
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
        "Today",
        "Tomorrow",
        "Yesterday",
        "Mark",
        "Bill",
        "Grant",
        "Will",
        "Max",
        "Van",
        "Del",
        "Christian",
        "Young",
        "King",
        "Page",
        "Rose",
        "Lily",
        "Hope",
        "Faith",
        "Joy",
        "Summer",
        "Dawn",
        "Chase",
        "Hunter",
        "Hall",
        "Street",
        "Road",
        "Avenue",
        "North",
        "South",
        "East",
        "West",
        "Central",
        "New",
        "Old",
        "Great",
        "Little",
        "Long",
        "Park",
        "Lake",
        "Hill",
        "Bay",
        "Port",
        "Mount",
        "Saint",
        "San",
        "Santa",
        "Green",
        "White",
        "Black",
        "Brown",
        "Gray",
        "Grey",
        "Golden",
        "Silver",
        "Royal",
        "Union",
        "Victoria",
        "Georgia",
        "Washington",
        "Jordan",
        "Israel",
        "Chad",
        "Ada",
        "Ruby",
        "Pearl",
        "Ivy",
        "Holly",
        "Iris",
        "Violet",
        "Amber",
        "Crystal",
        "Angel",
        "Paris",
        "Florence",
        "Sydney",
        "Austin",
        "Dallas",
        "Orlando",
        "Phoenix",
        "Houston",
        "Lincoln",
        "Jackson",
        "Madison",
        "Charlotte",
        "Berkeley",
        "Eugene",
        "Note",
        "Notes",
        "Date",
        "Name",
        "Address",
        "Email",
        "Phone",
        "Card",
        "Number",
        "Account",
        "Customer",
        "Patient",
        "Order",
        "Total",
        "Subject",
        "Re",
        "Fwd",
        "Error",
        "Warning",
        "Info",
        "Debug",
        "Test",
        "Example",
        "Sample",
        "Data",
        "File",
        "Line",
        "Code",
        "Model",
        "Dataset",
        "Table",
        "Column",
        "Value",
        "Type",
        "Key",
        "Token",
        "Secret",
        "Password",
        "User",
        "Admin",
        "Server",
        "Client",
        "Host",
        "Port",
        "Version",
        "Release",
        "Python",
        "Java",
        "Rust",
        "Go",
        "Ruby",
        "Mobile",
        "Reading",
        "Bath",
        "Nice",
        "Split",
        "Bar",
        "Man",
        "Of",
        "Enterprise",
        "Independence",
        "Liberty",
        "Commerce",
        "Industry",
        "Progress",
        "Providence",
        "Concord",
        "Hope",
        "Unity",
        "Harmony",
        "Opportunity",
        "Surprise",
        "Pleasant",
        "Fairfield",
        "Springfield",
        "Riverside",
        "Franklin",
        "Clinton",
        "Salem",
        "Marion",
        "Warren",
        "Troy",
        "Auburn",
        "Kent",
        "Essex",
        "Orange",
        "Media",
        "Goes",
        "Best",
        "Sale",
        "Sales",
        "Boston",
        "Cambridge",
        "Oxford",
        "Manchester",
        "Birmingham",
        "Wellington",
        "Richmond",
        "Hamilton",
        "Aurora",
        "Eden",
        "Sherman",
        "Logan",
        "Carmel",
        "Celebration",
        "Aldi",
        "Lidl",
        "Google",
        "Apple",
        "Amazon",
        "Microsoft",
        "Meta",
        "Tesla",
        "Intel",
        "Oracle",
        "Cisco",
        "Passport",
        "Licence",
        "License",
    ]
)
_PLACE_OK_COMMON = frozenset(
    [
        "Paris",
        "Georgia",
        "Washington",
        "Jordan",
        "Israel",
        "Chad",
        "Victoria",
        "Sydney",
        "Austin",
        "Dallas",
        "Orlando",
        "Phoenix",
        "Houston",
        "Boston",
        "Cambridge",
        "Oxford",
        "Manchester",
        "Birmingham",
        "Wellington",
        "Richmond",
        "Hamilton",
        "Florence",
        "Berkeley",
    ]
)


# Month names and abbreviations: "Mar 14 12:00:01", "14/Mar/2024", "Jan 5 2024" are
# dates, although Jan and May are also first names. A month token touching a
# number (after optional space or "/", "-", ".") is read as a date part.
_MONTH_TOKENS = frozenset(
    [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Sept", "Oct", "Nov", "Dec", "January",
        "February", "March", "April", "June", "July", "August", "September", "October", "November", "December"
    ]
)  # fmt: skip
_DATE_NEIGHBOUR = re.compile(r"[ /.,-]?\d")


def _date_part(text: str, s: int, e: int, tok: str) -> bool:
    """A month token written next to a day, year or clock time (log timestamps, dates)."""
    if tok not in _MONTH_TOKENS:
        return False
    if _DATE_NEIGHBOUR.match(text, e, e + 2):
        return True
    return s > 0 and (text[s - 1].isdigit() or (s > 1 and text[s - 1] in " /-." and text[s - 2].isdigit()))


# Words that end a title's name look-ahead ("See Dr. The next step"); unlike `_COMMON`
# this leaves surnames that are also ordinary words ("Mrs. Green", "Mr. Brown").
_TITLE_STOP = frozenset(
    ["The", "This", "That", "These", "Those", "A", "An", "And", "But", "Or", "If", "In", "On", "At", "To", "For",
     "From", "With", "Of", "It", "He", "She", "They", "We", "You", "I", "Is", "Was", "Are", "Please", "Thanks",
     "Thank", "No", "Yes", "Not", "So", "Then", "There", "Here", "When", "What", "Who", "Why", "How", "Our", "My",
     "Your", "His", "Her", "Its", "Their"]
)  # fmt: skip
# Lower-case surname particles: "Joost de Graaf", "Zoey van der Pouw", "Enzo da Cruz".
_PARTICLE_TAIL = re.compile(
    r" (?:(?:van|von|de|der|den|del|della|di|da|das|dos|du|la|le|ten|ter|bin|al|zu)"
    r"(?: (?:der|den|de|la|le|het))?) ([A-ZÀ-ÖØ-Þ][a-zß-öø-ÿ]+(?:[-'’][A-ZÀ-ÖØ-Þa-zß-öø-ÿ][a-zß-öø-ÿ]+)?)"
)


def _is_initial(tok: str) -> bool:
    return len(tok) == 2 and tok.endswith(".")


_PLACE_PREFIXES = frozenset(
    ["Lake", "Port", "Mount", "Fort", "East", "West", "North", "South", "New", "Saint", "St.", "San", "Santa"]
)
_PLACE_SUFFIX = re.compile(
    r"(?:shire|stad|mouth|borough|burgh|bury|ville|land|furt|fort|haven|chester|view|side|town|berg|burg|heim"
    r"|hausen|dorf|field|ford|port|ton)$"
)


@cache
def _load(name: str) -> frozenset[str]:
    ref = resources.files("bastion.data._detect") / "resources" / name
    with ref.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as fh:
        return frozenset(line.strip() for line in fh if line.strip())


@dataclass(frozen=True)
class NamesLayer:
    first: frozenset[str]
    last: frozenset[str]
    places: frozenset[str]
    max_place_tokens: int = 4
    model: NameModel | None = None

    @classmethod
    def load(cls) -> NamesLayer | None:
        try:
            first, last, places = (_load(n) for n in ("first_names.txt.gz", "last_names.txt.gz", "places.txt.gz"))
        except (FileNotFoundError, OSError, ModuleNotFoundError):
            return None
        places = frozenset(p for p in places if p not in _COMMON or p in _PLACE_OK_COMMON) | frozenset(
            p[4:] for p in places if p.startswith("The ") and len(p) > 7
        )
        return cls(first=first, last=last, places=places, model=load_model())

    def find(self, text: str, cells: Sequence[int] | None = None) -> list[Entity]:
        """PERSON/LOCATION entities; `cells` (sorted cell start offsets) keeps cue look-backs inside a cell."""
        # month tokens are rare: the set look-up keeps the per-token cost of the date rule to one hash
        tokens = [
            (m.start(), m.end(), g)
            for m in _TOKEN.finditer(text)
            if (g := m.group()) not in _MONTH_TOKENS or not _date_part(text, m.start(), m.end(), g)
        ]
        out: list[Entity] = []
        i = 0
        n = len(tokens)
        known = self._known
        while i < n:
            # a run: tokens separated by exactly one space (or ". " after an initial)
            j = i + 1
            while j < n and tokens[j][0] - tokens[j - 1][1] == 1 and text[tokens[j - 1][1]] == " ":
                j += 1
            floor = 0
            if cells is not None:
                c = bisect.bisect_right(cells, tokens[i][0]) - 1
                floor = cells[c] if c >= 0 else 0
            tok = tokens[i][2]
            if j == i + 1 and tok not in known and tok.rstrip(".") not in known and not _PLACE_SUFFIX.search(tok):
                # a lone capitalised word no list knows (most sentence starts): only the
                # model's "Dear X" path can fire, so skip the place and gazetteer steps
                if self.model is not None:
                    self._modelled_person(text, tokens[i:j], 0, out, floor)
            else:
                self._run(text, tokens[i:j], out, floor)
            i = j
        return out

    @property
    def _known(self) -> frozenset[str]:
        """Every word that can make a lone token a place, a person or an honorific (built once)."""
        got = self.__dict__.get("_known_cache")
        if got is None:
            got = self.first | self.places | _HONORIFICS
            object.__setattr__(self, "_known_cache", got)
        return got

    def _run(self, text: str, run: list[tuple[int, int, str]], out: list[Entity], floor: int = 0) -> None:
        k = 0
        while k < len(run):
            s, _e, tok = run[k]
            bare = tok.rstrip(".")
            # places first when the run matches a known multi-token place exactly
            for width in range(min(self.max_place_tokens, len(run) - k), 0, -1):
                cand = " ".join(t[2] for t in run[k : k + width])
                if cand in self.places and (width > 1 or bare not in self.first or bare not in self.last):
                    if width == 1 and tok in _COMMON and tok not in _PLACE_OK_COMMON:
                        continue
                    if width == 1 and self._looks_like_person(text, run, k, floor):
                        k = self._person(text, run, k, out, floor)
                        break
                    before = text[max(floor, s - 12) : s].lower()
                    score = (
                        0.8
                        if width > 1 or any(w in before for w in (" in ", " from ", " to ", " at ", "near "))
                        else 0.65
                    )
                    out.append(
                        self._entity("LOCATION", s, run[k + width - 1][1], text, score, f"gazetteer=places({width})")
                    )
                    k += width
                    break
            else:
                before = text[max(floor, s - 10) : s].lower()
                place_cue = before.endswith((" in ", " to ", " from ", " at ", " near "))
                if place_cue and bare in self.places:
                    out.append(self._entity("LOCATION", s, run[k][1], text, 0.7, "gazetteer=places(1);context"))
                    k += 1
                    continue
                width = self._shaped_place(run, k)
                if width:
                    score = 0.7 if place_cue else 0.6
                    out.append(self._entity("LOCATION", s, run[k + width - 1][1], text, score, "place-shape"))
                    k += width
                    continue
                k = self._person(text, run, k, out, floor)

    @staticmethod
    def _shaped_place(run: list[tuple[int, int, str]], k: int) -> int:
        """Town-shaped names (Lake X, Port X, X-shire, X-ville) that no list can enumerate."""
        tok = run[k][2]
        if tok in _PLACE_PREFIXES and k + 1 < len(run) and run[k + 1][2] not in _COMMON:
            return 2
        if _PLACE_SUFFIX.search(tok) and tok not in _COMMON and len(tok) > 6:
            return 1
        return 0

    def _person(self, text: str, run: list[tuple[int, int, str]], k: int, out: list[Entity], floor: int = 0) -> int:
        s, _e, tok = run[k]
        if _is_initial(tok):
            return self._initials(text, run, k, out, floor)
        honorific = tok in _HONORIFICS or tok.rstrip(".") in _HONORIFICS
        start_k = k + 1 if honorific else k
        if start_k >= len(run):
            if honorific:
                self._after_title(text, run[k][1], out)
            return k + 1
        first = run[start_k][2]
        is_first = first in self.first
        if not (honorific or is_first):
            return self._modelled_person(text, run, k, out, floor)
        j = start_k + 1
        known_last = False
        while j < len(run) and j - start_k < 4:
            t = run[j][2]
            if t in self.last or t in self.first or (len(t) == 2 and t.endswith(".")):
                known_last = known_last or t in self.last
                j += 1
            elif t not in _COMMON and t not in self.places:
                j += 1
            else:
                break
        span_s, span_e = run[start_k][0], run[j - 1][1]
        ntok = j - start_k
        if j == len(run):  # the run ended: a particle may carry the surname on ("Joost de Graaf")
            tail = _PARTICLE_TAIL.match(text, span_e)
            if tail is not None and tail.group(1) not in _COMMON:
                span_e = tail.end()
                known_last = known_last or tail.group(1) in self.last
                ntok += 1
        before = text[max(floor, s - 24) : s].lower()
        cue = any(c in before for c in _NAME_CUES)
        if ntok >= 2:
            score = 0.9 if (known_last or honorific) else 0.75
            why = "gazetteer=first+last" if known_last else "gazetteer=first+capitalised"
        elif honorific:
            score, why = 0.8, "honorific"
        elif first in _COMMON:
            return j
        else:
            score, why = (0.7, "gazetteer=first;context") if cue else (0.55, "gazetteer=first")
        if honorific:
            why += ";honorific"
        out.append(self._entity("PERSON", span_s, span_e, text, score, why))
        return j

    def _after_title(self, text: str, end: int, out: list[Entity]) -> None:
        """ "Mr. Smith", "Dr. Okonkwo": the title's dot ends the token run, so the name is read past it.

        Up to three capitalised tokens joined by single spaces follow the ". "; the
        first must not be an ordinary sentence word.
        """
        if text[end : end + 2] != ". ":
            return
        pos = end + 2
        last = -1
        for _ in range(3):
            m = _TOKEN.match(text, pos)
            if m is None or m.group() in _TITLE_STOP or m.group() in _HONORIFICS or _is_initial(m.group()):
                break
            last = m.end()
            if text[last : last + 1] != " ":
                break
            pos = last + 1
        if last > 0:
            out.append(self._entity("PERSON", end + 2, last, text, 0.8, "honorific"))

    def _initials(self, text: str, run: list[tuple[int, int, str]], k: int, out: list[Entity], floor: int) -> int:
        """ "J. Smith", "J. R. Tolkien": one or two initials and a surname the lists or the model accept.

        An initial glued to a previous character ("U.S. Army", the "I." that ends "API.")
        is an abbreviation or a sentence end, not a name. A surname the lists do not
        hold needs a naming cue before it as well as the model's vote.
        """
        s = run[k][0]
        if s > floor and text[s - 1] not in " \t\n(\"'":
            return k + 1
        j = k
        while j < len(run) and j - k < 2 and _is_initial(run[j][2]):
            j += 1
        if j >= len(run):
            return j
        sur = run[j][2]
        if sur in _COMMON or (sur in self.places and sur not in self.last) or _is_initial(sur):
            return j
        if sur in self.last:
            score, why = 0.8, "initials+gazetteer=last"
        elif (
            self.model is not None
            and self.model.logit(sur) > MODEL_TOKEN_LOGIT
            and any(c in text[max(floor, s - 24) : s].lower() for c in _NAME_CUES)
        ):
            score, why = 0.65, "initials+model=ngram;context"
        else:
            return j
        out.append(self._entity("PERSON", s, run[j][1], text, score, why))
        return j + 1

    def _looks_like_person(self, text: str, run: list[tuple[int, int, str]], k: int, floor: int) -> bool:
        """A one-word place that starts "Place Surname" is a person: after a naming cue ("Linda Rivera"),
        or without one when both words are listed names ("Ann Smith" in a CSV row, "Paris Hilton")."""
        if k + 1 >= len(run) or self.model is None:
            return False
        nxt = run[k + 1][2]
        if nxt in _COMMON or (nxt in self.places and nxt not in self.last):
            return False
        if run[k][2] in self.first and nxt in self.last:
            return True
        s = run[k][0]
        before = text[max(floor, s - 24) : s].lower()
        if not any(c in before for c in _NAME_CUES):
            return False
        tok = run[k][2]
        return (tok in self.first or self.model.logit(tok) > 0) and (nxt in self.last or self.model.logit(nxt) > 0)

    def _modelled_person(
        self, text: str, run: list[tuple[int, int, str]], k: int, out: list[Entity], floor: int
    ) -> int:
        """Names the gazetteer does not list: 2-3 capitalised tokens that each look like a name part.

        Each token must be a listed name or score >= MODEL_TOKEN_P with the n-gram
        model; a single token needs a strong addressing cue ("Dear", "name:") too.
        """
        m = self.model
        if m is None:
            return k + 1
        j = k
        while j < len(run) and j - k < 3:
            t = run[j][2]
            if t in _COMMON or t.endswith(".") or t in _HONORIFICS or (j > k and t in self.places):
                break
            j += 1
        if j == k:
            return k + 1
        s = run[k][0]
        before = text[max(floor, s - 24) : s].lower()
        if j - k >= 2:
            cue = any(c in before for c in _NAME_CUES)
            known = 0
            logits = []
            for t in (r[2] for r in run[k:j]):
                if t in self.last or t in self.first:
                    known += 1
                else:
                    logits.append(m.logit(t))
            # without a cue every unlisted token must look name-like; after a naming cue
            # ("Customer", "Signed by", "contact") the tokens' mean log-odds must
            if logits and (min(logits) < MODEL_TOKEN_LOGIT if not cue else sum(logits) / len(logits) < 0.0):
                return k + 1
            score = 0.8 if known else 0.7 if cue else 0.6
            why = "model=ngram" + (";gazetteer=last" if known else "") + (";context" if cue else "")
            out.append(self._entity("PERSON", s, run[j - 1][1], text, score, why))
            return j
        if before.rstrip().endswith(_STRONG_CUES) and m.prob(run[k][2]) >= MODEL_SINGLE_P:
            out.append(self._entity("PERSON", s, run[k][1], text, 0.6, "model=ngram;context"))
        return k + 1

    @staticmethod
    def _entity(etype: str, s: int, e: int, text: str, score: float, why: str) -> Entity:
        return Entity(entity_type=etype, start=s, end=e, score=score, explanation=why, kind="pii",
                      recognizer="names", value=text[s:e])  # fmt: skip
