"""Request-shape checks for the OpenAI routes, done before any guard runs.

Bodies are passed through to the upstream as they came (new OpenAI parameters keep
working), so only the fields that cost the gateway something or that the guards and
limits rely on are checked here: message roles (a role the upstream does not know
would reach it unguarded as whatever it makes of it), output-token counts and `n`
(they multiply the upstream's work and are counted against token limits up front),
and the size of an embeddings `input` (each item is one guard run: a 100,000-item
request once cost about 50 s of CPU in the chain). Every refusal is a 400 or 413
with OpenAI's error body naming the parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bastion.gateway._context import ApiError
from bastion.gateway._settings import GatewaySettings

# The roles OpenAI's chat API accepts ("function" is deprecated but still accepted).
ROLES = frozenset({"system", "user", "assistant", "tool", "developer", "function"})
TOOL_ROLES = frozenset({"tool", "function"})


@dataclass(frozen=True, slots=True)
class Shape:
    """What the limits need to know about a request: its text size and the output tokens it may ask for."""

    chars: int
    reserve: int  # max output tokens × choices; 0 when the request sets no maximum


def _int(body: dict[str, Any], name: str, low: int, high: int) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(400, f"'{name}' must be an integer", param=name, code="invalid_type")
    if not low <= value <= high:
        raise ApiError(400, f"'{name}' must be between {low} and {high}", param=name, code="invalid_value")
    return value


def _reserve(body: dict[str, Any], settings: GatewaySettings, *, chat: bool) -> int:
    """Output tokens the request may cost: max_tokens (or max_completion_tokens) × n (× best_of)."""
    cap = settings.max_output_tokens
    most = _int(body, "max_tokens", 1, cap)
    if chat:
        newer = _int(body, "max_completion_tokens", 1, cap)
        if newer is not None:
            most = newer if most is None else max(most, newer)
    n = _int(body, "n", 1, settings.max_n) or 1
    choices = n
    if not chat:
        best_of = _int(body, "best_of", 1, settings.max_n)
        if best_of is not None:
            if best_of < n:
                raise ApiError(400, "'best_of' must be at least 'n'", param="best_of", code="invalid_value")
            choices = best_of
    return (most or 0) * choices


def chat_request(body: dict[str, Any], settings: GatewaySettings) -> Shape:
    """Check a chat request's messages, roles and counts; its size for the limits."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "'messages' must be a non-empty list", param="messages")
    if len(messages) > settings.max_messages:
        raise ApiError(
            400, f"'messages' has more than {settings.max_messages} items", param="messages", code="too_many_items"
        )
    chars = 0
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict) or not isinstance(msg.get("role"), str):
            raise ApiError(400, "each message must be an object with a 'role'", param=f"messages[{i}]")
        if msg["role"] not in ROLES:
            raise ApiError(
                400,
                f"messages[{i}].role must be one of {', '.join(sorted(ROLES))}",
                param=f"messages[{i}].role",
                code="invalid_value",
            )
        content = msg.get("content")
        if isinstance(content, str):
            chars += len(content)
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    chars += len(part["text"])
        elif content is not None:
            raise ApiError(
                400,
                "message 'content' must be a string, a list of parts or null",
                param=f"messages[{i}].content",
            )
    return Shape(chars, _reserve(body, settings, chat=True))


def completion_request(body: dict[str, Any], settings: GatewaySettings) -> tuple[list[str], Shape]:
    """Check a text-completion request; its prompts and size."""
    prompt = body.get("prompt")
    prompts = [prompt] if isinstance(prompt, str) else prompt
    if not isinstance(prompts, list) or not prompts or not all(isinstance(p, str) for p in prompts):
        raise ApiError(400, "'prompt' must be a string or a list of strings", param="prompt")
    if len(prompts) > settings.max_embedding_inputs:
        raise ApiError(
            400,
            f"'prompt' has more than {settings.max_embedding_inputs} items",
            param="prompt",
            code="too_many_items",
        )
    return prompts, Shape(sum(len(p) for p in prompts), _reserve(body, settings, chat=False))


def _token_list(value: Any) -> bool:
    return (
        isinstance(value, list) and bool(value) and all(isinstance(x, int) and not isinstance(x, bool) for x in value)
    )


def embeddings_request(body: dict[str, Any], settings: GatewaySettings) -> tuple[list[Any], int]:
    """Check an embeddings `input`: kinds of items, their count and total size; (items, chars).

    `items` keeps the request's shape (a flat token list stays one list of ints), so the
    route can guard the strings and forward the rest as it came.
    """
    raw = body.get("input")
    if isinstance(raw, str):
        items: list[Any] = [raw]
    elif isinstance(raw, list) and raw:
        items = raw
    else:
        raise ApiError(400, "'input' must be a string or a non-empty list", param="input")
    if _token_list(items):  # one input given as token ids
        count, chars = 1, 4 * len(items)
    else:
        count, chars = len(items), 0
    if count > settings.max_embedding_inputs:
        raise ApiError(
            400,
            f"'input' has {count} items, more than {settings.max_embedding_inputs}",
            param="input",
            code="too_many_items",
        )
    if count > 1 or not _token_list(items):
        for t in items:
            if isinstance(t, str):
                chars += len(t)
            elif _token_list(t):
                chars += 4 * len(t)
            else:
                raise ApiError(400, "'input' items must be strings or token lists", param="input")
    if chars > settings.max_embedding_chars:
        raise ApiError(
            413,
            f"'input' totals more than {settings.max_embedding_chars} characters",
            param="input",
            code="input_too_large",
        )
    return items, chars
