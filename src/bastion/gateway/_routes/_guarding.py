"""Running a guard chain for a route: one place that records outcomes and turns a block into a 400.

Both the OpenAI-compatible routes and the prediction route run their chains through here,
so every guard outcome reaches the request's audit record and the per-guard metrics.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request

from bastion.core.plugins import GuardInput
from bastion.gateway._context import ApiError, Gateway
from bastion.gateway._guards.chain import ChainResult, GuardChain


def guard_input(request: Request, who: Any, model: str, direction: str, **fields: Any) -> GuardInput:
    """A `GuardInput` with what every route knows about the request: path, model, tenant and caller."""
    return GuardInput(
        direction=direction,
        route=request.scope["path"],
        model=model,
        tenant=who.tenant,
        client_id=who.actor,
        **fields,
    )


def record(gw: Gateway, request: Request, result: ChainResult) -> None:
    """Add the chain's outcomes to the request's audit record and to the guard metrics."""
    audit = request.scope.setdefault("state", {}).setdefault("audit", {})
    outs = audit.setdefault("guards", [])
    for o in result.outcomes:
        outs.append(o.to_dict())
        effects, latency = gw.metrics.guard(o.guard, o.direction, o.effect)
        effects.inc()
        latency.observe(o.ms / 1000)


async def run_chain(
    gw: Gateway, request: Request, chain: GuardChain, item: GuardInput, vault: dict[str, str] | None = None
) -> ChainResult:
    """Run `chain` on `item` and record it; a block is noted and raised as a 400 naming the guard."""
    result = await chain.run(item, vault)
    record(gw, request, result)
    if result.overloaded:  # a guard could not run in time: refuse, retryable, rather than pass unchecked
        gw.note(request, decision="overloaded", blocked_by=result.blocked_by)
        raise ApiError(
            503, f"gateway overloaded: guard {result.blocked_by!r} could not run", "overloaded", {"Retry-After": "1"}
        )
    if not result.allowed:
        gw.note(request, decision="blocked", blocked_by=result.blocked_by)
        what = "request blocked" if item.direction == "input" else "response withheld"
        raise ApiError(400, f"{what} by guard {result.blocked_by!r}", "guard_blocked")
    return result
