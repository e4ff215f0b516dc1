"""Undo the tricks that hide an instruction from a detector but not from a model.

Models read through Unicode compatibility forms, look-alike letters and
encodings; a detector that scans the raw bytes does not. So the text is first
cleaned (invisible, tag and bidi characters removed, NFKC, confusables folded),
and every encoded segment that decodes to readable text (base64, hex, percent
encoding, rot13, Unicode tag "ASCII smuggling") is handed back as a *variant* to
be scanned on its own. What was found is reported as flags: the obfuscation is
itself a signal, because benign prompts rarely carry it.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
import unicodedata
from dataclasses import dataclass, field
from urllib.parse import unquote

MAX_VARIANTS = 16
MIN_DECODED = 12

# Zero-width and other invisible format characters that render as nothing.
_INVISIBLE = frozenset(
    [
        *(0x00AD, 0x034F, 0x061C, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180E, 0x3164, 0xFEFF, 0xFFA0),
        *range(0x200B, 0x2010),
        *range(0x2060, 0x2065),
        *range(0xFE00, 0xFE10),
        *range(0xE0100, 0xE01F0),
    ]
)
_BIDI = frozenset([*range(0x202A, 0x202F), *range(0x2066, 0x206A)])
_TAG_LO, _TAG_HI = 0xE0000, 0xE007F

# Look-alikes NFKC leaves alone: Cyrillic and Greek letters that render as Latin ones.
_CONFUSABLES = str.maketrans(
    {
        "а": "a", "в": "b", "с": "c", "е": "e", "һ": "h", "і": "i", "ј": "j", "к": "k", "м": "m",
        "н": "h", "о": "o", "р": "p", "ѕ": "s", "т": "t", "у": "y", "х": "x", "ԁ": "d", "ԛ": "q",
        "ԝ": "w", "ɡ": "g", "ı": "i", "ѵ": "v", "А": "A", "В": "B", "С": "C", "Е": "E", "Н": "H",
        "І": "I", "Ј": "J", "К": "K", "М": "M", "О": "O", "Р": "P", "Ѕ": "S", "Т": "T", "Х": "X",
        "У": "Y", "α": "a", "ο": "o", "ρ": "p", "ν": "v", "τ": "t", "ι": "i", "κ": "k", "χ": "x",
        "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N",
        "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
    }
)  # fmt: skip
_LATIN = re.compile(r"[A-Za-z]")
_NONLATIN_LOOKALIKE = re.compile(r"[\u0370-\u03ff\u0400-\u052f]")
_WORD = re.compile(r"\S+")

_B64 = re.compile(r"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{16,}={0,2}(?![A-Za-z0-9+/=_-])")
_HEX = re.compile(r"(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{2}[ :]?){10,}(?![0-9A-Fa-f])")
_ESCAPED_HEX = re.compile(r"(?:\\x[0-9A-Fa-f]{2}){6,}")
_PCT = re.compile(r"(?:%[0-9A-Fa-f]{2}[^%\s]{0,3}){6,}")
_SPACE = re.compile(r"[ \t\u00a0]+")

# Common English words: rot13 of a text is kept only when it reads more like English than the text.
_COMMON = frozenset(
    [
        "the",
        "and",
        "you",
        "your",
        "to",
        "of",
        "a",
        "in",
        "is",
        "it",
        "that",
        "for",
        "are",
        "be",
        "this",
        "with",
        "as",
        "on",
        "not",
        "all",
        "now",
        "ignore",
        "instructions",
        "previous",
        "prompt",
        "system",
        "say",
        "print",
        "tell",
        "me",
        "what",
        "how",
        "do",
        "an",
        "or",
        "if",
        "rules",
    ]
)


@dataclass(slots=True)
class Normalized:
    text: str
    variants: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)

    def flag(self, name: str) -> None:
        if name not in self.flags:
            self.flags.append(name)


def _printable_ratio(s: str) -> float:
    if not s:
        return 0.0
    good = sum(1 for ch in s if ch.isprintable() or ch in "\n\t\r")
    return good / len(s)


def _looks_textual(s: str) -> bool:
    letters = sum(1 for ch in s if ch.isalpha())
    spaces = s.count(" ")
    return len(s) >= MIN_DECODED and _printable_ratio(s) > 0.95 and letters / len(s) > 0.5 and spaces >= 1


def _decode_bytes(raw: bytes) -> str | None:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text if _looks_textual(text) else None


def _english_score(s: str) -> int:
    return sum(1 for w in re.findall(r"[a-z]+", s.lower()) if w in _COMMON)


def clean(text: str, out: Normalized) -> str:
    """Strip what renders invisibly, fold compatibility forms and look-alikes; record flags."""
    tags: list[str] = []
    kept: list[str] = []
    for ch in text:
        cp = ord(ch)
        if _TAG_LO <= cp <= _TAG_HI:
            if 0xE0020 <= cp <= 0xE007E:
                tags.append(chr(cp - 0xE0000))
            out.flag("tag_chars")
        elif cp in _INVISIBLE:
            out.flag("invisible_chars")
        elif cp in _BIDI:
            out.flag("bidi_controls")
        elif cp < 32 and ch not in "\n\t\r":
            out.flag("control_chars")
        else:
            kept.append(ch)
    if tags:
        hidden = "".join(tags)
        if hidden.strip():
            out.variants.append(hidden)
    cleaned = unicodedata.normalize("NFKC", "".join(kept))
    if _NONLATIN_LOOKALIKE.search(cleaned):
        mixed = False
        for m in _WORD.finditer(cleaned):
            w = m.group()
            if _LATIN.search(w) and _NONLATIN_LOOKALIKE.search(w):
                mixed = True
                break
        if mixed:
            out.flag("confusables")
            cleaned = cleaned.translate(_CONFUSABLES)
    return _SPACE.sub(" ", cleaned)


def _decoded_segments(text: str, out: Normalized) -> list[str]:
    found: list[str] = []
    for m in _B64.finditer(text):
        seg = m.group()
        if seg.isalpha() or seg.isdigit():  # a long word or number, not base64
            continue
        padded = seg + "=" * (-len(seg) % 4)
        for decoder in (base64.b64decode, base64.urlsafe_b64decode):
            try:
                raw = decoder(padded)
            except (binascii.Error, ValueError):
                continue
            decoded = _decode_bytes(raw)
            if decoded:
                out.flag("base64")
                found.append(decoded)
                break
    for m in _HEX.finditer(text):
        digits = re.sub(r"[ :]", "", m.group())
        try:
            decoded = _decode_bytes(bytes.fromhex(digits))
        except ValueError:
            decoded = None
        if decoded:
            out.flag("hex")
            found.append(decoded)
    for m in _ESCAPED_HEX.finditer(text):
        try:
            decoded = _decode_bytes(bytes.fromhex(m.group().replace("\\x", "")))
        except ValueError:
            decoded = None
        if decoded:
            out.flag("hex")
            found.append(decoded)
    for m in _PCT.finditer(text):
        decoded_pct = unquote(m.group())
        if decoded_pct != m.group() and _looks_textual(decoded_pct):
            out.flag("percent_encoding")
            found.append(decoded_pct)
    return found


def normalize(text: str, *, depth: int = 2) -> Normalized:
    """Clean `text` and collect decoded variants (recursively, `depth` levels) for rescanning."""
    out = Normalized(text="")
    out.text = clean(text, out)
    queue = [*out.variants, out.text]
    out.variants = [clean(v, out) for v in out.variants]
    for _level in range(depth):
        nxt: list[str] = []
        for item in queue:
            for seg in _decoded_segments(item, out):
                seg = clean(seg, out)
                if seg not in out.variants and len(out.variants) < MAX_VARIANTS:
                    out.variants.append(seg)
                    nxt.append(seg)
        queue = nxt
        if not queue:
            break
    rot = codecs.decode(out.text, "rot13")
    if _english_score(rot) >= 3 and _english_score(rot) > 2 * _english_score(out.text) + 1:
        out.flag("rot13")
        out.variants.append(rot)
    return out
