"""What every command shares: settings, the store, output and error handling.

Errors the user can fix (bad input, bad config, a corrupt store) become one line
on stderr and exit code 2; findings at or above the threshold are exit code 1.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.console import Console

from bastion.core.types import Severity

if TYPE_CHECKING:  # config (pydantic), policy (pydantic, yaml) and the store load when a command needs them
    from bastion.core.config import Settings
    from bastion.core.policy import Policy
    from bastion.core.store import Store

EXIT_CLEAN = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


class UserError(Exception):
    """An error caused by input or configuration; shown as one line, exit 2."""


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}", soft_wrap=True, markup=True, highlight=False)
    raise typer.Exit(code)


class State:
    """Lazily built per-invocation state, so `--help` never touches the store."""

    def __init__(self) -> None:
        self.config_file: Path | None = None
        self.overrides: dict[str, Any] = {}
        self._settings: Settings | None = None
        self._store: Store | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from bastion.core.config import ConfigError, load_settings

            try:
                self._settings = load_settings(self.config_file, **self.overrides)
            except ConfigError as exc:
                fail(str(exc))
        return self._settings

    @property
    def store(self) -> Store:
        if self._store is None:
            from bastion.core.store import Store, StoreError

            settings = self.settings
            try:
                self._store = Store.open(settings.db_url, state_dir=settings.state_dir)
            except StoreError as exc:
                fail(str(exc))
        return self._store

    def policy(self, path: Path | None = None, fail_on: Severity | None = None) -> Policy:
        """The active policy: `--fail-on` beats the policy file, which beats `bastion.toml`."""
        from bastion.core.policy import load_policy

        policy_file = path or self.settings.policy
        override = fail_on or (None if policy_file else self.settings.fail_on)
        return load_policy(policy_file, fail_on=override)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


state = State()


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn expected input errors into a one-line message and exit code 2."""
    try:
        yield
    except (
        UserError,
        _config_error(),
        FileNotFoundError,
        FileExistsError,
        NotADirectoryError,
        PermissionError,
        ValueError,
    ) as exc:
        fail(_one_line(exc))


def _config_error() -> type[Exception]:
    """`ConfigError`, imported only once an exception is being handled (config is a heavy import)."""
    from bastion.core.config import ConfigError

    return ConfigError


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror or exc}"
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def command(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator: run a command body with `user_errors` handling."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with user_errors():
            return fn(*args, **kwargs)

    return wrapper
