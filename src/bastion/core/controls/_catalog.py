"""The control catalog: load the shipped framework files once, resolve references.

References are written by people (rule authors, policy files, CLI users), so the
resolver accepts the spellings they naturally type, e.g. ``nist-ai-rmf:GV-1.6``,
``eu-ai-act:Article 10`` or ``owasp-llm:llm1``, and always answers with the one
canonical `Control`. Everything unknown fails loudly with a suggestion, because a
silently dropped control reference would make a compliance report lie.
"""

from __future__ import annotations

import builtins
import difflib
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

from bastion.core.types import Control

# Display order, not alphabetical: the security frameworks first, then governance.
FRAMEWORK_ORDER = ("owasp-llm", "owasp-ml", "atlas", "nist-ai-rmf", "eu-ai-act", "gdpr", "iso42001")

_ROMAN = {"I": 1, "II": 2, "III": 3, "IV": 4, "V": 5, "VI": 6, "VII": 7, "VIII": 8, "IX": 9, "X": 10}
_ROMAN_BY_VALUE = {v: k for k, v in _ROMAN.items()}
_NIST_ALIASES = {"GV": "GOVERN", "MP": "MAP", "MS": "MEASURE", "MG": "MANAGE"}


class UnknownControlError(KeyError, ValueError):
    """A control reference that is malformed or not in the catalog.

    A `KeyError` for lookup semantics and a `ValueError` so that surfaces treat it
    as bad input (one line, exit 2) without special-casing it.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:  # KeyError would repr() the message, quotes and all
        return self.message


@dataclass(frozen=True, slots=True)
class Framework:
    key: str
    name: str
    version: str
    url: str
    notice: str = ""


def _norm_owasp(prefix: str) -> Callable[[str], str]:
    pattern = re.compile(rf"{prefix}\s*[-_ ]?\s*0*(\d{{1,2}})(?::20\d\d)?", re.IGNORECASE)

    def norm(raw: str) -> str:
        m = pattern.fullmatch(raw)
        return f"{prefix}{int(m.group(1)):02d}" if m else raw

    return norm


_NIST = re.compile(r"(GOVERN|MAP|MEASURE|MANAGE|GV|MP|MS|MG)\s*[-_ ]?\s*(\d+)\.(\d+)", re.IGNORECASE)


def _norm_nist(raw: str) -> str:
    m = _NIST.fullmatch(raw)
    if not m:
        return raw
    fn = m.group(1).upper()
    return f"{_NIST_ALIASES.get(fn, fn)}-{int(m.group(2))}.{int(m.group(3))}"


_ARTICLE = re.compile(r"(?:art(?:icle)?)\s*\.?\s*(\d+)", re.IGNORECASE)
_ANNEX = re.compile(r"annex\s*[-_. ]?\s*([ivx]+|\d+)", re.IGNORECASE)


def _norm_article(raw: str) -> str:
    if m := _ARTICLE.fullmatch(raw):
        return f"Art.{int(m.group(1))}"
    if raw.isdigit():
        return f"Art.{int(raw)}"
    if m := _ANNEX.fullmatch(raw):
        token = m.group(1).upper()
        number = int(token) if token.isdigit() else _ROMAN.get(token)
        if number in _ROMAN_BY_VALUE:
            return f"Annex-{_ROMAN_BY_VALUE[number]}"
    return raw


_ISO = re.compile(r"(?:A\s*\.?\s*)?(\d+(?:\.\d+)+)", re.IGNORECASE)


def _norm_iso(raw: str) -> str:
    m = _ISO.fullmatch(raw)
    return f"A.{m.group(1)}" if m else raw


_ATLAS = re.compile(r"(?:AML\s*\.\s*)?(TA|T|M)\s*(\d{4})(?:\.(\d{3}))?", re.IGNORECASE)


def _norm_atlas(raw: str) -> str:
    m = _ATLAS.fullmatch(raw)
    if not m:
        return raw
    sub = f".{m.group(3)}" if m.group(3) else ""
    return f"AML.{m.group(1).upper()}{m.group(2)}{sub}"


# Other names people use for the same frameworks.
FRAMEWORK_ALIASES = {
    "owasp-llm-2025": "owasp-llm",
    "owasp-llm-top-10": "owasp-llm",
    "llm-top-10": "owasp-llm",
    "owasp-ml-top-10": "owasp-ml",
    "mitre-atlas": "atlas",
    "nist": "nist-ai-rmf",
    "nist-rmf": "nist-ai-rmf",
    "ai-rmf": "nist-ai-rmf",
    "nist-ai-100-1": "nist-ai-rmf",
    "ai-act": "eu-ai-act",
    "euaiact": "eu-ai-act",
    "eu-aia": "eu-ai-act",
    "iso-42001": "iso42001",
    "iso-iec-42001": "iso42001",
    "iso/iec-42001": "iso42001",
    "iso/iec42001": "iso42001",
}

_NORMALIZERS: dict[str, Callable[[str], str]] = {
    "atlas": _norm_atlas,
    "owasp-llm": _norm_owasp("LLM"),
    "owasp-ml": _norm_owasp("ML"),
    "nist-ai-rmf": _norm_nist,
    "eu-ai-act": _norm_article,
    "gdpr": _norm_article,
    "iso42001": _norm_iso,
}


class Catalog:
    """Every known control, indexed for exact and forgiving lookup."""

    def __init__(self, frameworks: Iterable[Framework], controls: Iterable[Control]) -> None:
        self._frameworks = {f.key: f for f in frameworks}
        self._controls: dict[str, dict[str, Control]] = {key: {} for key in self._frameworks}
        self._folded: dict[str, dict[str, Control]] = {key: {} for key in self._frameworks}
        for control in controls:
            if control.framework not in self._frameworks:
                raise ValueError(f"control {control.ref} names an undeclared framework")
            if control.id in self._controls[control.framework]:
                raise ValueError(f"duplicate control {control.ref}")
            self._controls[control.framework][control.id] = control
            self._folded[control.framework][control.id.casefold()] = control

    def frameworks(self) -> list[str]:
        """Framework keys in display order (known ones first, then any others sorted)."""
        known = [k for k in FRAMEWORK_ORDER if k in self._frameworks]
        return known + sorted(k for k in self._frameworks if k not in FRAMEWORK_ORDER)

    def framework(self, key: str) -> Framework:
        found = self._frameworks.get(self._framework_key(key))
        if found is None:
            raise UnknownControlError(f"unknown framework {key!r}; known frameworks: {', '.join(self.frameworks())}")
        return found

    def _framework_key(self, raw: str) -> str:
        key = raw.strip().casefold().replace("_", "-").replace(" ", "-")
        return FRAMEWORK_ALIASES.get(key, key)

    def list(self, framework: str | None = None) -> list[Control]:
        """All controls, or one framework's, in catalog order."""
        keys = self.frameworks() if framework is None else [self.framework(framework).key]
        return [c for key in keys for c in self._controls[key].values()]

    def __iter__(self) -> Iterator[Control]:
        return iter(self.list())

    def __len__(self) -> int:
        return sum(len(v) for v in self._controls.values())

    def __contains__(self, ref: object) -> bool:
        return isinstance(ref, str) and self.resolve(ref) is not None

    def resolve(self, ref: str) -> Control | None:
        """The control a reference names, accepting aliases; None when unknown or malformed."""
        try:
            return self.get(ref)
        except UnknownControlError:
            return None

    def canonical(self, ref: str) -> str:
        """The canonical spelling of a reference (raises `UnknownControlError`)."""
        return self.get(ref).ref

    def get(self, ref: str) -> Control:
        """The control a reference names; raises `UnknownControlError` (a `KeyError`) with a hint."""
        if not isinstance(ref, str) or ":" not in ref:
            raise UnknownControlError(
                f"malformed control reference {ref!r}: expected 'framework:id', e.g. 'owasp-llm:LLM01'"
            )
        fw_raw, _, id_raw = ref.partition(":")
        fw = self._framework_key(fw_raw)
        ident = id_raw.strip()
        if fw not in self._frameworks:
            hint = difflib.get_close_matches(fw, self.frameworks(), n=1)
            raise UnknownControlError(
                f"unknown framework {fw_raw.strip()!r} in control reference {ref!r}"
                + (f" (did you mean {hint[0]!r}?)" if hint else "")
                + f"; known frameworks: {', '.join(self.frameworks())}"
            )
        table = self._folded[fw]
        found = table.get(ident.casefold())
        if found is None:
            normalize = _NORMALIZERS.get(fw)
            if normalize is not None:
                found = table.get(normalize(ident).casefold())
        if found is None:
            ids = list(self._controls[fw])
            hint = difflib.get_close_matches(ident, ids, n=3, cutoff=0.6)
            span = f"{ids[0]} … {ids[-1]}" if ids else "none"
            raise UnknownControlError(
                f"unknown control {ident!r} in framework {fw!r}"
                + (f" (did you mean {', '.join(hint)}?)" if hint else "")
                + f"; its ids run {span} ({len(ids)} controls; see `bastion controls list --framework {fw}`)"
            )
        return found

    def validate_refs(self, refs: Iterable[str]) -> builtins.list[str]:
        """The references that do not resolve, in input order, each once."""
        bad: builtins.list[str] = []
        for ref in refs:
            if self.resolve(ref) is None and ref not in bad:
                bad.append(ref)
        return bad


def _parse_file(name: str, data: Any) -> tuple[Framework, list[Control]]:
    if not isinstance(data, dict) or not isinstance(data.get("controls"), list):
        raise ValueError(f"control data file {name} is malformed: expected a mapping with 'controls'")
    key = str(data["framework"])
    framework = Framework(
        key=key,
        name=str(data.get("name", key)),
        version=str(data.get("version", "")),
        url=str(data.get("url", "")),
        notice=str(data.get("notice", "")),
    )
    controls: list[Control] = []
    for item in data["controls"]:
        if not isinstance(item, dict) or not item.get("id") or not item.get("title"):
            raise ValueError(f"control data file {name} has an entry without id/title: {item!r}")
        controls.append(
            Control(
                framework=key,
                id=str(item["id"]),
                title=str(item["title"]),
                url=str(item.get("url") or framework.url) or None,
                kind=str(item.get("kind") or _default_kind(key)),
            )
        )
    return framework, controls


def _default_kind(framework: str) -> str:
    return {
        "owasp-llm": "risk",
        "owasp-ml": "risk",
        "nist-ai-rmf": "subcategory",
        "iso42001": "control",
    }.get(framework, "control")


@cache
def catalog() -> Catalog:
    """The shipped catalog, parsed once per process."""
    loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # C speed when built, safe either way
    frameworks: list[Framework] = []
    controls: list[Control] = []
    data_dir = resources.files("bastion.core.controls") / "data"
    for entry in sorted(data_dir.iterdir(), key=lambda p: p.name):
        if not entry.name.endswith((".yaml", ".yml")):
            continue
        framework, items = _parse_file(entry.name, yaml.load(entry.read_text("utf-8"), Loader=loader))
        frameworks.append(framework)
        controls.extend(items)
    return Catalog(frameworks, controls)
