"""Request schemas for the OpenAPI description.

Bodies are parsed by hand on the hot path (see `read_json`), so the schemas are
declared here for the description; `tests/gateway/test_gateway_openapi.py` runs
schemathesis against it (no 5xx, documented statuses, schema-conformant bodies).
"""

from __future__ import annotations

from typing import Any

_ERROR = {
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "error": {
                        "type": "object",
                        "properties": {
                            "message": {"type": "string"},
                            "type": {"type": "string"},
                            "param": {"type": ["string", "null"]},
                            "code": {"type": ["string", "null"]},
                        },
                        "required": ["message", "type"],
                    }
                },
                "required": ["error"],
            }
        }
    }
}

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"description": desc, **_ERROR}
    for code, desc in {
        400: "Malformed request, or blocked by an input guard",
        401: "Missing or invalid credentials",
        403: "Authenticated but not allowed",
        404: "Unknown (or invisible) resource",
        408: "Request body not received in time",
        413: "Request body too large",
        415: "Unsupported content type",
        423: "Account locked",
        429: "Rate limit or brute-force throttle",
        502: "Upstream failed",
        503: "Overloaded: no admission slot (retry after Retry-After seconds)",
        504: "Upstream timed out",
    }.items()
}

_TEXT_PART = {"type": "object", "properties": {"type": {"type": "string"}, "text": {"type": "string"}}}
SCHEMAS: dict[str, dict[str, Any]] = {
    "ChatCompletionRequest": {
        "type": "object",
        "required": ["model", "messages"],
        "properties": {
            "model": {"type": "string"},
            "messages": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["role"],
                    "properties": {
                        "role": {
                            "type": "string",
                            "enum": ["system", "user", "assistant", "tool", "developer", "function"],
                        },
                        "content": {
                            "anyOf": [{"type": "string"}, {"type": "array", "items": _TEXT_PART}, {"type": "null"}]
                        },
                    },
                },
            },
            "stream": {"type": "boolean"},
            "max_tokens": {"type": "integer", "minimum": 1},
            "max_completion_tokens": {"type": "integer", "minimum": 1},
            "n": {"type": "integer", "minimum": 1},
            "temperature": {"type": "number"},
        },
    },
    "CompletionRequest": {
        "type": "object",
        "required": ["model", "prompt"],
        "properties": {
            "model": {"type": "string"},
            "prompt": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
            "stream": {"type": "boolean"},
            "max_tokens": {"type": "integer", "minimum": 1},
            "n": {"type": "integer", "minimum": 1},
        },
    },
    "EmbeddingRequest": {
        "type": "object",
        "required": ["model", "input"],
        "properties": {
            "model": {"type": "string"},
            "input": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
        },
    },
    "PredictRequest": {
        "type": "object",
        "required": ["inputs"],
        "properties": {"inputs": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}}},
    },
    "LoginRequest": {
        "type": "object",
        "required": ["username", "password", "totp"],
        "properties": {"username": {"type": "string"}, "password": {"type": "string"}, "totp": {"type": "string"}},
    },
    "KeyCreateRequest": {
        "type": "object",
        "required": ["tenant", "name", "roles"],
        "properties": {
            "tenant": {"type": "string"},
            "name": {"type": "string"},
            "roles": {"type": "array", "items": {"type": "string"}},
            "scopes": {"type": "array", "items": {"type": "string"}},
            "models": {"type": "array", "items": {"type": "string"}},
            "expires_in_s": {"type": "integer"},
        },
    },
    "RotateRequest": {"type": "object", "properties": {"overlap_s": {"type": "integer"}}},
}


def body_schema(name: str) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": SCHEMAS[name]}},
        }
    }
