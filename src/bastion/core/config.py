"""Configuration: `bastion.toml` plus `BASTION_*` environment variables.

Precedence, highest first: explicit overrides (CLI flags), environment,
`bastion.toml`, defaults. The file is found in the working directory or named by
`BASTION_CONFIG`. Relative paths in the file resolve against the file's folder,
so a project behaves the same whichever directory the command runs from.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_serializer, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bastion.core.types import Severity

CONFIG_FILE = "bastion.toml"


class ConfigError(ValueError):
    """A configuration that cannot be used; the message names the problem."""


class ScanSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    workers: int = Field(default=0, ge=0, le=256, description="0 = one per CPU")
    max_file_size: int = Field(default=4 * 1024**3, ge=1)
    timeout_per_file: float = Field(default=60.0, gt=0)
    follow_symlinks: bool = False
    exclude: list[str] = Field(default_factory=lambda: [".git", ".bastion", "__pycache__", ".venv", "node_modules"])
    scanners: list[str] | None = None


class Settings(BaseSettings):
    """Validated settings. Unknown keys are errors: a typo must not silently pass."""

    model_config = SettingsConfigDict(
        env_prefix="BASTION_",
        env_nested_delimiter="__",
        extra="forbid",
    )

    project: str = Field(default="default", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    state_dir: Path = Path(".bastion")
    database_url: str | None = None
    fail_on: Severity = Severity.HIGH
    policy: Path | None = None
    actor: str | None = None
    owners: dict[str, str] = Field(default_factory=dict, description="glob -> owner")
    scan: ScanSettings = Field(default_factory=ScanSettings)

    @field_validator("fail_on", mode="before")
    @classmethod
    def _severity(cls, value: Any) -> Severity:
        return Severity.parse(value)

    @field_serializer("fail_on")
    def _severity_label(self, value: Severity) -> str:
        return value.label

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.state_dir / 'bastion.db').as_posix()}"

    @property
    def who(self) -> str:
        return self.actor or os.environ.get("USER") or "unknown"

    def redacted(self) -> dict[str, Any]:
        """Settings as shown to people: a database password never appears."""
        data = self.model_dump(mode="json")
        data["database_url"] = _mask_url(self.db_url)
        return data


def _mask_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable url>"


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    section = data.get("bastion", data)
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [bastion] must be a table")
    base = path.parent
    for key in ("state_dir", "policy"):
        if isinstance(section.get(key), str) and not Path(section[key]).is_absolute():
            section[key] = str(base / section[key])
    return section


def find_config_file(start: Path | None = None) -> Path | None:
    explicit = os.environ.get("BASTION_CONFIG")
    if explicit:
        return Path(explicit)
    candidate = (start or Path.cwd()) / CONFIG_FILE
    return candidate if candidate.is_file() else None


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Load settings; raises `ConfigError` with a one-line reason on any problem."""
    path = config_file or find_config_file()
    file_values = _read_toml(path) if path else {}
    env_keys = {k[len("BASTION_") :].lower().split("__")[0] for k in os.environ if k.startswith("BASTION_")}
    values = {k: v for k, v in file_values.items() if k not in env_keys}
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        settings = Settings(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "settings"
        source = f"{path}: " if path else ""
        raise ConfigError(f"{source}{where}: {first['msg']}") from exc
    if not settings.state_dir.is_absolute():
        settings.state_dir = Path.cwd() / settings.state_dir
    return settings
