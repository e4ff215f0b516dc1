"""Gateway settings: models, guards, limits, identity providers, hardening limits.

Kept apart from `bastion.toml`'s core settings (which forbid unknown keys) in a
file of their own (`gateway.yaml` / `gateway.toml`), because a deployment's
model map and guard chain change far more often than the store or project do,
and are reviewed by different people.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

NAME = r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}$"
TENANT = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class GatewayConfigError(ValueError):
    """A gateway configuration that cannot be used; the message names the problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GuardConfig(_Strict):
    """One link of a guard chain.

    `action` says what a negative verdict does: `block` refuses the request,
    `redact` forwards the guard's sanitised text, `flag` forwards unchanged but
    records the verdict, `shadow` runs the guard and records it without it ever
    affecting traffic (for trying a new guard on live load). `on_error` decides
    what a crash or a blown `timeout_ms` means: `closed` blocks, `open` passes.
    """

    name: str = Field(pattern=NAME)
    action: Literal["block", "redact", "flag", "shadow"] = "block"
    on_error: Literal["open", "closed"] = "closed"
    timeout_ms: float = Field(default=200.0, gt=0, le=60_000)
    directions: list[Literal["input", "output"]] | None = None
    threshold: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description=(
            "Score at or above which the verdict counts as negative. Guards that take a `threshold` option "
            "(the injection guard) get it as that option, so they decide with it; for others the chain "
            "compares the verdict's score (0.5 when unset)"
        ),
    )
    inline: bool | None = Field(default=None, description="Run on the event loop; None = the guard's own choice")
    options: dict[str, Any] = Field(default_factory=dict)


class Limits(_Strict):
    """Quotas; None means unlimited. Tokens are counted from prompts and upstream usage."""

    requests_per_minute: int | None = Field(default=None, ge=0)
    tokens_per_minute: int | None = Field(default=None, ge=0)
    tokens_per_day: int | None = Field(default=None, ge=0)


class LLMModel(_Strict):
    """An OpenAI-compatible model the gateway fronts."""

    name: str = Field(pattern=NAME)
    upstream: str = Field(description="Base URL of the OpenAI-compatible API, e.g. http://127.0.0.1:8000/v1")
    upstream_model: str | None = None
    api_key_env: str | None = Field(default=None, description="Environment variable holding the upstream key")
    timeout: float = Field(default=60.0, gt=0)
    tenants: list[str] | None = Field(default=None, description="Tenants allowed; None = all")
    guards: list[GuardConfig] | None = Field(default=None, description="Overrides the default chain")
    system_prompt: str | None = None

    @field_validator("upstream")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("upstream must be an http(s) URL")
        return value.rstrip("/")


class ClassicModel(_Strict):
    """A classic ML model behind `/v1/predict/{name}`.

    `onnx` runs in-process with onnxruntime (no code execution from the file).
    `sklearn` loads a joblib/pickle file, which executes code: it is refused
    unless `sha256` pins the exact file (approved and scanned beforehand).
    `upstream` forwards the JSON body to a prediction service.
    """

    name: str = Field(pattern=NAME)
    kind: Literal["onnx", "sklearn", "upstream"]
    path: Path | None = None
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    url: str | None = None
    timeout: float = Field(default=30.0, gt=0)
    tenants: list[str] | None = None
    guards: list[GuardConfig] | None = None
    max_rows: int = Field(default=1024, ge=1)
    return_probabilities: bool = True


class OIDCIssuer(_Strict):
    """A trusted token issuer. Keys come from `jwks_url` (fetched and cached) or inline `jwks`."""

    issuer: str
    audience: str
    jwks_url: str | None = None
    jwks: dict[str, Any] | None = None
    algorithms: list[Literal["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"]] = ["RS256", "ES256"]
    roles_claim: str = "roles"
    tenant_claim: str = "tenant"
    scopes_claim: str = "scope"
    models_claim: str = "models"
    leeway_s: int = Field(default=30, ge=0, le=300)
    max_lifetime_s: int = Field(default=24 * 3600, ge=60)


class AdminSettings(_Strict):
    lockout_after: int = Field(default=5, ge=1)
    lockout_seconds: int = Field(default=900, ge=1)
    session_ttl_s: int = Field(default=900, ge=60, le=24 * 3600)


class GatewaySettings(_Strict):
    """Everything `create_app` needs besides the store."""

    project: str = Field(default="default", pattern=TENANT)
    models: list[LLMModel] = Field(default_factory=list)
    predict: list[ClassicModel] = Field(default_factory=list)
    guards: list[GuardConfig] = Field(
        default_factory=lambda: [GuardConfig(name="pii", action="redact", on_error="closed", timeout_ms=250)]
    )
    key_limits: Limits = Field(default_factory=Limits)
    tenant_limits: dict[str, Limits] = Field(default_factory=dict)
    redis_url: str | None = None
    redis_prefix: str = Field(default="bastion:gw", pattern=r"^[A-Za-z0-9:_.-]{1,64}$")
    oidc: list[OIDCIssuer] = Field(default_factory=list)
    admin: AdminSettings = Field(default_factory=AdminSettings)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    body_timeout_s: float = Field(default=10.0, gt=0)
    key_cache_s: float = Field(default=5.0, ge=0, le=300)
    auth_failures_per_minute: int = Field(default=20, ge=1)
    audit_queue: int = Field(default=100_000, ge=100)
    audit_store_redacted: bool = Field(default=False, description="Keep a redacted prompt copy in audit events")
    trust_forwarded_for: bool = False
    guard_budget_ms: float = Field(default=500.0, gt=0, description="Total time for one direction of a chain")
    stream_output_guard: Literal["window", "record"] = Field(
        default="window",
        description="Streams: hold text back until output guards pass it (window), or judge it after (record)",
    )
    stream_guard_window: int = Field(default=64, ge=1, le=65_536, description="New characters between checks")
    stream_guard_holdback: int = Field(default=64, ge=0, le=4096, description="Characters kept back for values")
    workers: int = Field(default=1, ge=1, le=64, description="Server processes (set by `bastion serve --workers`)")
    # Request shape: refused with 400/413 before any guard runs, because every item a guard
    # reads costs CPU on the request path (100,000 embedding inputs once cost ~50 s of guard time).
    max_n: int = Field(default=8, ge=1, le=128, description="Largest `n` (and `best_of`) accepted")
    max_output_tokens: int = Field(
        default=131_072, ge=1, le=10_000_000, description="Largest `max_tokens`/`max_completion_tokens` accepted"
    )
    max_messages: int = Field(default=4096, ge=1, le=100_000, description="Messages per chat request")
    max_embedding_inputs: int = Field(default=2048, ge=1, le=100_000, description="Items in one embeddings `input`")
    max_embedding_chars: int = Field(
        default=1_048_576, ge=1, description="Total characters (or 4 per token id) of one embeddings `input`"
    )
    # Connection hardening (the server protocol in `_server.py`).
    header_timeout_s: float = Field(
        default=10.0, gt=0, le=600, description="A request head must arrive within this (slow-header clients)"
    )
    drain_bytes: int = Field(
        default=1024 * 1024, ge=0, description="Unread body bytes read and discarded after an early answer"
    )
    drain_timeout_s: float = Field(default=2.0, ge=0, le=60, description="How long such a drain may last")
    # Admission control: bounded work in flight and a bounded queue; the rest is refused at once.
    max_concurrent_requests: int = Field(
        default=8,
        ge=1,
        le=100_000,
        description="Requests in the guarded stage at once (validation, input guards, limits; not the upstream "
        "call); 8 = the guard thread pool's size: more only queues inside the pool, where budgets run out",
    )
    max_queued_requests: int = Field(default=32, ge=0, le=1_000_000, description="Requests waiting for that stage")
    queue_timeout_s: float = Field(default=1.0, gt=0, le=600, description="Longest wait for a slot before 503")

    def llm(self, name: str) -> LLMModel | None:
        return next((m for m in self.models if m.name == name), None)

    def classic(self, name: str) -> ClassicModel | None:
        return next((m for m in self.predict if m.name == name), None)


def load_gateway_settings(path: Path | None, **overrides: Any) -> GatewaySettings:
    """Read YAML, TOML or JSON; `GatewayConfigError` with a one-line reason on any problem."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            raw = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise GatewayConfigError(f"cannot read {path}: {exc}") from None
        try:
            if path.suffix == ".toml":
                data = tomllib.loads(raw).get("gateway", {})
            elif path.suffix == ".json":
                data = json.loads(raw)
            else:
                data = yaml.safe_load(raw) or {}
        except (tomllib.TOMLDecodeError, json.JSONDecodeError, yaml.YAMLError) as exc:
            raise GatewayConfigError(f"{path}: cannot parse: {str(exc).splitlines()[0]}") from None
        if not isinstance(data, dict):
            raise GatewayConfigError(f"{path}: the top level must be a mapping")
        base = Path(path).parent
        for model in data.get("predict", []) or []:
            if isinstance(model, dict) and isinstance(model.get("path"), str) and not Path(model["path"]).is_absolute():
                model["path"] = str(base / model["path"])
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return GatewaySettings.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "settings"
        raise GatewayConfigError(f"gateway settings: {where}: {err['msg']}") from None
