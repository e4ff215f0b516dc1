"""Plug-in protocols and the registry that finds them.

Each plug-in kind is one small protocol, so adding a scanner is one file plus one
entry point. Third parties register theirs under the same entry-point groups in
their own package metadata; Bastion's built-ins are registered the same way in
its `pyproject.toml`, so there is exactly one discovery path.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from bastion.core.types import Asset, Finding, Rule

if TYPE_CHECKING:
    from bastion.core.report_model import ScanReport

SCANNERS = "bastion.scanners"
RENDERERS = "bastion.renderers"
RECOGNIZERS = "bastion.recognizers"
GUARDS = "bastion.guards"


@dataclass(slots=True)
class ScanTarget:
    """One file handed to scanners.

    `head` holds the first bytes (already read by the walker) so that most
    `applies` checks cost no extra I/O. `asset` is what discovery identified,
    when it identified something.
    """

    path: Path
    relpath: str
    size: int
    head: bytes
    asset: Asset | None = None
    project: str = "default"
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def uri(self) -> str:
        return self.relpath


@runtime_checkable
class Scanner(Protocol):
    """An artifact scanner: looks at one file, yields findings.

    `scan` must never execute or deserialize the artifact, and must turn what it
    cannot parse into a finding rather than an exception (fail closed). An
    exception escaping `scan` is still caught by the orchestrator and recorded as
    a `scan.error` finding, but a scanner should say more than that.
    """

    name: str
    rules: Mapping[str, Rule]

    def applies(self, target: ScanTarget) -> bool: ...

    def scan(self, target: ScanTarget) -> Iterable[Finding]: ...


@runtime_checkable
class Renderer(Protocol):
    """A report renderer: writes one `ScanReport` as one file (JSON, SARIF, HTML, ...).

    `render` writes to `out` (a file path, or a folder in which it picks
    ``report<suffix>``) and returns the path written. Renderers must treat every
    string in the report as hostile (evidence, titles, paths come from scanned
    files) and escape it for their format.
    """

    name: str
    suffix: str

    def render(self, report: ScanReport, out: Path) -> Path: ...


@runtime_checkable
class Recognizer(Protocol):
    """A sensitive-data recognizer: finds entities of its types in a text.

    Beyond the built-in pattern catalog, a recognizer (a model, a dictionary, a
    remote classifier) returns objects with ``start``/``end`` character offsets,
    ``entity_type``, ``score`` and ``explanation`` (see
    `bastion.data.detect.Entity`). It must be safe to call from several threads
    and must never log the values it finds.
    """

    name: str
    entity_types: tuple[str, ...]

    def find(self, text: str) -> list[Any]: ...


@dataclass(slots=True)
class GuardInput:
    """What a runtime guard looks at: one prompt, one response, or one feature batch.

    `text` is set for LLM traffic, `features` for classic-model predictions. The
    context fields let a guard keep per-client state (extraction detection) or
    compare against the deployment's system prompt (leakage) without reaching
    into the gateway.
    """

    direction: str  # "input" (to the model) or "output" (from the model)
    text: str | None = None
    features: Any = None  # e.g. a list of rows (list[list[float]]) or a numpy array
    outputs: Any = None  # classic models: scores/probabilities being returned
    route: str = ""
    model: str | None = None
    tenant: str = "default"
    client_id: str = ""
    system_prompt: str | None = None
    source: str = "user"  # "user", or "document"/"tool"/"web" for indirect content
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class GuardVerdict:
    """A guard's answer. `allowed=False` asks the chain to block; `text` may be sanitized.

    `score` is the guard's risk score in [0, 1]; `reasons` are short, value-free
    explanations safe to log.
    """

    allowed: bool
    score: float = 0.0
    text: str | None = None
    outputs: Any = None
    reasons: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Guard(Protocol):
    """A runtime guard: one check on one request or response, fast and side-effect free.

    The gateway's guard chain decides what a verdict means (block, redact, flag,
    shadow), enforces each guard's time budget and its fail-open/fail-closed
    setting, so a guard only has to judge.
    """

    name: str
    directions: frozenset[str]  # subset of {"input", "output"}

    def check(self, item: GuardInput) -> GuardVerdict: ...


class PluginError(RuntimeError):
    pass


@cache
def _load_group(group: str) -> tuple[tuple[str, Any], ...]:
    loaded: list[tuple[str, Any]] = []
    for ep in sorted(entry_points(group=group), key=lambda e: e.name):
        try:
            obj = ep.load()
        except Exception as exc:  # a broken third-party plug-in must not hide the others
            raise PluginError(f"plug-in {ep.name!r} ({ep.value}) failed to load: {exc}") from exc
        loaded.append((ep.name, obj() if isinstance(obj, type) else obj))
    return tuple(loaded)


def scanners(names: Iterable[str] | None = None) -> list[Scanner]:
    """The registered scanners, optionally restricted to `names`."""
    found = dict(_load_group(SCANNERS))
    if names is None:
        return list(found.values())
    wanted = list(names)
    missing = [n for n in wanted if n not in found]
    if missing:
        raise PluginError(f"unknown scanner(s): {', '.join(missing)}; known: {', '.join(found)}")
    return [found[n] for n in wanted]


def plugins(group: str) -> dict[str, Any]:
    """All plug-ins of one group, by entry-point name."""
    return dict(_load_group(group))


def all_rules() -> dict[str, Rule]:
    rules: dict[str, Rule] = {}
    for scanner in scanners():
        rules.update(scanner.rules)
    return rules
