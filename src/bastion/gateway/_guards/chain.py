"""An ordered chain of guards per route/model: actions, fail-open/closed, time budgets.

A guard only judges (see `bastion.core.plugins.Guard`); the chain decides what
its verdict does. Guards run on a dedicated thread pool so a time budget can be
enforced without blocking the event loop; a guard that overruns is abandoned
(its thread finishes in the background) and treated per `on_error`. Guards
that declare `inline_safe = True` (sub-millisecond, like the PII guard) run on
the event loop instead, because the thread hop costs more than they do; their
budget is checked when they return, and a late verdict is used (and recorded as late).
A pool guard that times out after waiting for a thread longer than it could run is
an overload (`ChainResult.overloaded`, answered 503), never a pass or a guard block.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from bastion.core.plugins import GUARDS, Guard, GuardInput, GuardVerdict, plugins
from bastion.gateway._guards.pii import PIIGuard
from bastion.gateway._settings import GuardConfig

BUILTIN: dict[str, type] = {"pii": PIIGuard}


class GuardConfigError(ValueError):
    pass


DEFAULT_THRESHOLD = 0.5


def _takes_threshold(guard: Any) -> bool:
    """Whether a guard applies a `threshold` option itself (it declares it in `OPTIONS`)."""
    return "threshold" in (getattr(guard, "OPTIONS", None) or ()) and callable(getattr(guard, "with_options", None))


def _options(cfg: GuardConfig, guard: Any) -> dict[str, Any]:
    """The options a guard is built with: `options`, plus the link's `threshold:` where the guard takes one.

    The documented `threshold:` key of a link used to reach only the chain's own score
    comparison, which cannot make a guard that decides with its own threshold (the
    injection guard) more lenient: it has to become the guard's option to take effect.
    """
    options = dict(cfg.options)
    if cfg.threshold is not None and _takes_threshold(guard):
        if "threshold" in options and options["threshold"] != cfg.threshold:
            raise GuardConfigError(
                f"guard {cfg.name!r}: 'threshold' ({cfg.threshold}) and 'options.threshold' "
                f"({options['threshold']}) disagree; set one"
            )
        options["threshold"] = cfg.threshold
    return options


def build_guard(cfg: GuardConfig) -> Guard:
    """A configured guard: built-ins first, then the `bastion.guards` entry points.

    Unknown or invalid options stop the gateway at start with `GuardConfigError`
    naming the guard, instead of a traceback (or, worse, being silently ignored).
    """
    if cfg.name in BUILTIN:
        guard: Any = BUILTIN[cfg.name]()
    else:
        found = plugins(GUARDS)
        if cfg.name not in found:
            known = ", ".join(sorted(set(BUILTIN) | set(found)))
            raise GuardConfigError(f"unknown guard {cfg.name!r}; known: {known}")
        guard = found[cfg.name]
    options = _options(cfg, guard)
    if options:
        configure = getattr(guard, "with_options", None)
        if configure is None:
            raise GuardConfigError(f"guard {cfg.name!r} takes no options")
        try:
            guard = configure(**options)
        except (TypeError, ValueError) as exc:
            raise GuardConfigError(f"guard {cfg.name!r}: {str(exc).splitlines()[0] if str(exc) else exc}") from None
    if not isinstance(guard, Guard):
        raise GuardConfigError(f"plug-in {cfg.name!r} does not implement the Guard protocol")
    return guard


def chain_threshold(cfg: GuardConfig, guard: Any) -> float | None:
    """The score at which the chain itself treats a verdict as negative (None: the guard's verdict decides).

    A guard that applies a threshold option decides with it; comparing its score
    again here with another number (0.5) would flag what it was told to allow.
    """
    if _takes_threshold(guard):
        return None
    return cfg.threshold if cfg.threshold is not None else DEFAULT_THRESHOLD


class GuardOverloaded(Exception):
    """A guard could not even start within its time: the gateway is overloaded, not the guard slow."""


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
    overloaded: bool = False  # refused because a guard could not run in time, not by a verdict


@dataclass(slots=True)
class _Link:
    cfg: GuardConfig
    guard: Guard
    directions: frozenset[str]
    inline: bool = False
    threshold: float | None = DEFAULT_THRESHOLD


class GuardChain:
    def __init__(
        self,
        configs: list[GuardConfig],
        *,
        budget_ms: float,
        executor: ThreadPoolExecutor,
        pressure: Callable[[], bool] | None = None,
    ) -> None:
        self._pressure = pressure  # True while the gateway is saturated (see `_on_pool`)
        self.links: list[_Link] = []
        for cfg in configs:
            guard = build_guard(cfg)
            dirs = frozenset(cfg.directions) if cfg.directions else frozenset(guard.directions)
            inline = cfg.inline if cfg.inline is not None else bool(getattr(guard, "inline_safe", False))
            threshold = chain_threshold(cfg, guard)
            self.links.append(_Link(cfg, guard, dirs & frozenset(guard.directions), inline, threshold))
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
                "threshold": link.cfg.threshold if link.threshold is None else link.threshold,
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
                        # The verdict exists: using it costs nothing more, and it is the truth, whereas
                        # calling it a timeout made a CPU-starved process refuse benign requests
                        # (on_error: closed) or pass hostile ones (open). The lateness is recorded.
                        error = "late"
                else:
                    verdict = await self._on_pool(loop, link.guard, item, timeout)
                if not isinstance(verdict, GuardVerdict):
                    raise TypeError("guard returned no GuardVerdict")
            except GuardOverloaded:
                verdict, error = None, "overloaded"
            except TimeoutError:
                error = "timeout"
            except Exception as exc:  # a broken guard is handled per its on_error setting
                error = type(exc).__name__
            ms = (time.perf_counter() - t0) * 1000
            outcome = Outcome(cfg.name, item.direction, cfg.action, "pass", ms=ms, error=error)
            result.outcomes.append(outcome)
            if verdict is None:
                if cfg.action == "shadow":
                    outcome.effect = "error"
                    continue
                if error == "overloaded":  # never a silent pass, never a false guard block: a 503
                    outcome.effect = "error"
                    result.allowed, result.blocked_by, result.overloaded = False, cfg.name, True
                    return result
                if cfg.on_error == "open":
                    outcome.effect = "error"
                    continue
                outcome.effect = "block"
                result.allowed, result.blocked_by = False, cfg.name
                return result
            outcome.score = float(verdict.score)
            outcome.reasons = [str(r)[:120] for r in verdict.reasons]
            flagged = (not verdict.allowed) or (
                link.threshold is not None and verdict.score >= link.threshold and verdict.score > 0
            )
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

    async def _on_pool(
        self, loop: asyncio.AbstractEventLoop, guard: Guard, item: GuardInput, timeout: float
    ) -> GuardVerdict:
        """Run a guard on the pool within `timeout`; `GuardOverloaded` when waiting, not the guard, ate its time.

        Under overload the pool's queue and the CPU run queue (other threads holding the
        GIL) use up the budget, not the guard; with `on_error: open` that used to become a
        silent pass (prompts went through unchecked exactly when the gateway was busiest).
        So a timeout is the guard's own only when it got at least half its time to run
        *and* spent at least half its time on the CPU (its thread's CPU clock); otherwise
        it is overload, which the route answers with 503 rather than passing or blocking.
        The CPU test applies only while the gateway reports pressure (every admission slot
        taken): a guard that waits on I/O (a remote classifier) times out as its own
        failure, per `on_error`, on a quiet gateway.
        """
        queued = time.perf_counter()
        started: list[tuple[float, int, float]] = []

        def call() -> GuardVerdict:
            started.append((time.perf_counter(), threading.get_ident(), time.thread_time()))
            return guard.check(item)

        try:
            return await asyncio.wait_for(loop.run_in_executor(self._executor, call), timeout)
        except TimeoutError:
            if not started or started[0][0] - queued > timeout / 2:
                raise GuardOverloaded from None  # it waited for a thread
            if self._pressure is not None and self._pressure():
                cpu = _thread_cpu(started[0][1])
                if cpu is not None and cpu - started[0][2] < timeout / 2:
                    raise GuardOverloaded from None  # it ran, but mostly waited for the CPU (the GIL)
            raise


def _thread_cpu(ident: int) -> float | None:
    """CPU seconds used so far by the thread `ident` (Linux/BSD), or None where that cannot be read."""
    try:
        return time.clock_gettime(time.pthread_getcpuclockid(ident))
    except (AttributeError, OSError):
        return None
