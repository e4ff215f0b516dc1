"""Custom recognizers, deny lists and allow lists from YAML.

The file is untrusted input: it is parsed with `yaml.safe_load`, every field is
type-checked, and every regex must compile under RE2 (so a user pattern cannot
backtrack catastrophically either). Any problem is one `RecognizerConfigError`
naming the entry, never a half-loaded configuration.

    recognizers:
      - name: employee_id
        entity_type: EMPLOYEE_ID
        regex: 'EMP-\\d{6}'
        score: 0.6
        validator: luhn            # optional, one of the built-in validators
        context: [employee, staff] # optional
        context_score: 0.9         # optional
        kind: pii                  # or secret
    deny_list:
      PROJECT_CODENAME: [bluebird, nightjar]
    allow_list: [AKIAIOSFODNN7EXAMPLE]
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bastion.data._detect.model import Pattern
from bastion.data._detect.validators import REGISTRY

MAX_FILE_BYTES = 4 << 20
_TYPE_RE = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")


class RecognizerConfigError(ValueError):
    pass


@dataclass
class CustomConfig:
    patterns: list[Pattern] = field(default_factory=list)
    deny: dict[str, list[str]] = field(default_factory=dict)
    allow: list[str] = field(default_factory=list)


def load_custom(path: Path) -> CustomConfig:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise RecognizerConfigError(f"{path}: {exc.strerror or exc}") from exc
    if size > MAX_FILE_BYTES:
        raise RecognizerConfigError(f"{path}: recognizer file is {size} bytes (limit {MAX_FILE_BYTES})")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise RecognizerConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    return parse_custom(text, source=str(path))


def parse_custom(text: str, *, source: str = "<yaml>") -> CustomConfig:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RecognizerConfigError(f"{source}: invalid YAML: {first}") from exc
    if doc is None:
        return CustomConfig()
    if not isinstance(doc, Mapping):
        raise RecognizerConfigError(f"{source}: top level must be a mapping, got {type(doc).__name__}")
    unknown = set(doc) - {"recognizers", "deny_list", "allow_list"}
    if unknown:
        raise RecognizerConfigError(f"{source}: unknown key(s): {', '.join(sorted(map(str, unknown)))}")
    cfg = CustomConfig()
    recs = doc.get("recognizers") or []
    if not isinstance(recs, list):
        raise RecognizerConfigError(f"{source}: 'recognizers' must be a list")
    seen: set[str] = set()
    for i, rec in enumerate(recs):
        p = _pattern(rec, f"{source}: recognizers[{i}]")
        if p.name in seen:
            raise RecognizerConfigError(f"{source}: recognizers[{i}]: duplicate name {p.name!r}")
        seen.add(p.name)
        cfg.patterns.append(p)
    deny = doc.get("deny_list") or {}
    if not isinstance(deny, Mapping):
        raise RecognizerConfigError(f"{source}: 'deny_list' must map ENTITY_TYPE to a list of terms")
    for etype, terms in deny.items():
        if not isinstance(etype, str) or not _TYPE_RE.match(etype):
            raise RecognizerConfigError(f"{source}: deny_list: bad entity type {etype!r} (use UPPER_SNAKE)")
        if not isinstance(terms, list) or not all(isinstance(t, str) and t.strip() for t in terms):
            raise RecognizerConfigError(f"{source}: deny_list[{etype}] must be a list of non-empty strings")
        cfg.deny[etype] = [t.strip() for t in terms]
    allow = doc.get("allow_list") or []
    if not isinstance(allow, list) or not all(isinstance(a, str) for a in allow):
        raise RecognizerConfigError(f"{source}: 'allow_list' must be a list of strings")
    cfg.allow = list(allow)
    return cfg


def _pattern(rec: Any, where: str) -> Pattern:
    if not isinstance(rec, Mapping):
        raise RecognizerConfigError(f"{where}: must be a mapping")
    allowed = {"name", "entity_type", "regex", "score", "validator", "context", "context_score", "kind",
               "requires_context", "entropy", "case_insensitive", "description"}  # fmt: skip
    extra = set(rec) - allowed
    if extra:
        raise RecognizerConfigError(f"{where}: unknown field(s): {', '.join(sorted(map(str, extra)))}")
    for key in ("name", "entity_type", "regex"):
        if not isinstance(rec.get(key), str) or not rec[key]:
            raise RecognizerConfigError(f"{where}: '{key}' is required and must be a non-empty string")
    etype = rec["entity_type"]
    if not _TYPE_RE.match(etype):
        raise RecognizerConfigError(f"{where}: entity_type {etype!r} must be UPPER_SNAKE_CASE")
    regex = rec["regex"]
    if len(regex) > 4096:
        raise RecognizerConfigError(f"{where}: regex longer than 4096 characters")
    _check_regex(regex, where)
    score = _number(rec.get("score", 0.6), f"{where}: score")
    ctx = rec.get("context") or []
    if not isinstance(ctx, list) or not all(isinstance(c, str) and c for c in ctx):
        raise RecognizerConfigError(f"{where}: 'context' must be a list of words")
    validator = rec.get("validator")
    if validator is not None and validator not in REGISTRY:
        raise RecognizerConfigError(f"{where}: unknown validator {validator!r} (known: {', '.join(sorted(REGISTRY))})")
    kind = rec.get("kind", "pii")
    if kind not in ("pii", "secret"):
        raise RecognizerConfigError(f"{where}: kind must be 'pii' or 'secret'")
    context_score = rec.get("context_score")
    requires = bool(rec.get("requires_context", False))
    if requires and not ctx:
        raise RecognizerConfigError(f"{where}: requires_context needs a 'context' list")
    if requires:  # without context the hit stays below any sensible threshold
        context_score = _number(context_score if context_score is not None else score, f"{where}: context_score")
        score = 0.0
    entropy = rec.get("entropy")
    return Pattern(
        name=f"custom:{rec['name']}",
        entity_type=etype,
        regex=regex,
        score=score,
        kind=kind,
        validator=validator,
        context=tuple(c.lower() for c in ctx),
        context_score=None if context_score is None else _number(context_score, f"{where}: context_score"),
        entropy=None if entropy is None else _number(entropy, f"{where}: entropy", hi=8.0),
        case_insensitive=bool(rec.get("case_insensitive", False)),
        description=str(rec.get("description", "")),
    )


def _number(value: Any, where: str, hi: float = 1.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= float(value) <= hi:
        raise RecognizerConfigError(f"{where} must be a number between 0 and {hi:g}")
    return float(value)


def _check_regex(regex: str, where: str) -> None:
    try:
        import re2
    except ImportError:  # pragma: no cover - the python fallback still rejects syntax errors
        try:
            re.compile(regex)
        except re.error as exc:
            raise RecognizerConfigError(f"{where}: invalid regex: {exc}") from exc
        return
    try:
        rx = re2.compile(regex)
    except re2.error as exc:
        raise RecognizerConfigError(
            f"{where}: regex is not RE2-compatible (no look-around or back-references): {exc}"
        ) from exc
    if rx.search("") is not None and rx.fullmatch("") is not None:
        raise RecognizerConfigError(f"{where}: regex matches the empty string")


def deny_list_patterns(deny: Mapping[str, Sequence[str]]) -> list[Pattern]:
    """Deny-list terms become one literal, case-insensitive, word-bounded pattern per type."""
    out = []
    for etype, terms in deny.items():
        if not terms:
            continue
        alt = "|".join(re.escape(t) for t in sorted(set(terms), key=lambda t: (-len(t), t)))
        out.append(Pattern(name=f"deny:{etype.lower()}", entity_type=etype, regex=rf"\b(?:{alt})\b", score=1.0,
                           case_insensitive=True, description="deny list"))  # fmt: skip
    return out
