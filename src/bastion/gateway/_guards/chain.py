"""An ordered chain of guards per route/model: actions, fail-open/closed, time budgets.

A guard only judges (see `bastion.core.plugins.Guard`); the chain decides what
its verdict does. Guards run on a dedicated thread pool so a time budget can be
enforced without blocking the event loop; a guard that overruns is abandoned
(its thread finishes in the background) and treated per `on_error`. Guards
that declare `inline_safe = True` (sub-millisecond, like the PII guard) run on
the event loop instead, because the thread hop costs more than they do; their
budget is checked when they return, and a late verdict counts as a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from bastion.core.plugins import GUARDS, Guard, GuardInput, GuardVerdict, plugins
from bastion.gateway._guards.pii import PIIGuard
from bastion.gateway._settings import GuardConfig

BUILTIN: dict[str, type] = {"pii": PIIGuard}


class GuardConfigError(ValueError):
    pass


def build_guard(cfg: GuardConfig) -> Guard:
    """A configured guard: built-ins first, then the `bastion.guards` entry points."""
    if cfg.name in BUILTIN:
        return BUILTIN[cfg.name](**cfg.options) if cfg.options else BUILTIN[cfg.name]()
    found = plugins(GUARDS)
    if cfg.name not in found:
        raise GuardConfigError(f"unknown guard {cfg.name!r}; known: {', '.join(sorted(set(BUILTIN) | set(found)))}")
    guard = found[cfg.name]
    if cfg.options:
        configure = getattr(guard, "with_options", None)
        if configure is None:
            raise GuardConfigError(f"guard {cfg.name!r} takes no options")
        guard = configure(**cfg.options)
    if not isinstance(guard, Guard):
        raise GuardConfigError(f"plug-in {cfg.name!r} does not implement the Guard protocol")
    return guard


@dataclass(slots=True)
class Outcome:
    """One guard's part in one request; value-free, so it can go to the audit log."""

    guard: str
    direction: str
    action: str
    effect: str  # pass | block | redact | flag | shadow | error
    score: float = 0.0
    reasons: list[str] = field(default_factory=list)
    ms: float = 0.0
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "guard": self.guard,
            "direction": self.direction,
            "action": self.action,
            "effect": self.effect,
            "score": round(self.score, 3),
            "ms": round(self.ms, 2),
        }
        if self.reasons:
            out["reasons"] = self.reasons[:10]
        if self.error:
            out["error"] = self.error
        return out


@dataclass(slots=True)
class ChainResult:
    allowed: bool
    text: str | None
    outputs: Any = None
    outcomes: list[Outcome] = field(default_factory=list)
    blocked_by: str | None = None
    restore: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class _Link:
    cfg: GuardConfig
    guard: Guard
    directions: frozenset[str]
    inline: bool = False


class GuardChain:
    def __init__(self, configs: list[GuardConfig], *, budget_ms: float, executor: ThreadPoolExecutor) -> None:
        self.links: list[_Link] = []
        for cfg in configs:
            guard = build_guard(cfg)
            dirs = frozenset(cfg.directions) if cfg.directions else frozenset(guard.directions)
            inline = cfg.inline if cfg.inline is not None else bool(getattr(guard, "inline_safe", False))
            self.links.append(_Link(cfg, guard, dirs & frozenset(guard.directions), inline))
        self.budget_ms = budget_ms
        self._executor = executor
        for link in self.links:  # load models/compile patterns now, not inside the first request's budget
            with contextlib.suppress(Exception):  # a guard that fails here fails again, visibly, per request
                link.guard.check(GuardInput(direction=next(iter(sorted(link.directions)), "input"), text="warm up"))

    def describe(self) -> list[dict[str, Any]]:
        return [
            {
                "name": link.cfg.name,
                "action": link.cfg.action,
                "on_error": link.cfg.on_error,
                "timeout_ms": link.cfg.timeout_ms,
                "directions": sorted(link.directions),
            }
            for link in self.links
        ]

    def has(self, direction: str) -> bool:
        return any(direction in link.directions for link in self.links)

    def can_intervene(self, direction: str) -> bool:
        """Whether some link could block or rewrite text in `direction` (shadow and fail-open flags cannot)."""
        return any(
            direction in link.directions
            and link.cfg.action != "shadow"
            and (link.cfg.action in ("block", "redact") or link.cfg.on_error == "closed")
            for link in self.links
        )

    async def run(self, item: GuardInput, vault: dict[str, str] | None = None) -> ChainResult:
        """Run every guard for `item.direction` in order; stop at the first block."""
        result = ChainResult(allowed=True, text=item.text, outputs=item.outputs)
        if vault is not None:
            item.metadata["pii_vault"] = vault
        deadline = time.perf_counter() + self.budget_ms / 1000
        loop = asyncio.get_running_loop()
        for link in self.links:
            if item.direction not in link.directions:
                continue
            cfg = link.cfg
            timeout = min(cfg.timeout_ms / 1000, max(0.0, deadline - time.perf_counter()))
            item.text = result.text
            item.outputs = result.outputs
            t0 = time.perf_counter()
            verdict: GuardVerdict | None = None
            error: str | None = None
            try:
                if timeout <= 0:
                    raise TimeoutError
                if link.inline:  # sub-millisecond guards: a thread hop would cost more than the check
                    verdict = link.guard.check(item)
                    if time.perf_counter() - t0 > timeout:
                        raise TimeoutError  # late verdicts count as timeouts, as they would on the pool
                else:
                    fut = loop.run_in_executor(self._executor, link.guard.check, item)
                    verdict = await asyncio.wait_for(fut, timeout)
                if not isinstance(verdict, GuardVerdict):
                    raise TypeError("guard returned no GuardVerdict")
            except TimeoutError:
                error = "timeout"
            except Exception as exc:  # a broken guard is handled per its on_error setting
                error = type(exc).__name__
            ms = (time.perf_counter() - t0) * 1000
            outcome = Outcome(cfg.name, item.direction, cfg.action, "pass", ms=ms, error=error)
            result.outcomes.append(outcome)
            if verdict is None:
                if cfg.action == "shadow" or cfg.on_error == "open":
                    outcome.effect = "error"
                    continue
                outcome.effect = "block"
                result.allowed, result.blocked_by = False, cfg.name
                return result
            outcome.score = float(verdict.score)
            outcome.reasons = [str(r)[:120] for r in verdict.reasons]
            flagged = (not verdict.allowed) or (verdict.score >= cfg.threshold and verdict.score > 0)
            if not flagged:
                continue
            if cfg.action == "shadow":
                outcome.effect = "shadow"
            elif cfg.action == "flag":
                outcome.effect = "flag"
            elif cfg.action == "redact" and (verdict.text is not None or verdict.outputs is not None):
                outcome.effect = "redact"
                if verdict.text is not None:
                    result.text = verdict.text
                if verdict.outputs is not None:
                    result.outputs = verdict.outputs
                restore = verdict.details.get("restore")
                # Only the caller's own values come back; what the model produced stays redacted.
                if isinstance(restore, dict) and item.direction == "input":
                    result.restore.update(restore)
                    if vault is not None:
                        vault.update(restore)
            else:  # block, or a redact guard that offered no sanitised form: fail closed
                outcome.effect = "block"
                result.allowed, result.blocked_by = False, cfg.name
                return result
        return result
