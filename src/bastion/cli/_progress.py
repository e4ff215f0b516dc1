"""A Rich progress bar that services drive through a plain `(phase, done, total)` callback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from bastion.cli._common import err_console

if TYPE_CHECKING:  # `bastion.scan` pulls in the whole scan pipeline; `--help` must not pay for it
    from bastion.scan import ProgressCallback


@contextmanager
def progress_bar(enabled: bool = True) -> Iterator[ProgressCallback]:
    """Yield a callback; draws on stderr only when it is a terminal and `enabled`."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

    if not enabled or not err_console.is_terminal:
        yield lambda phase, done, total: None
        return
    tasks: dict[str, TaskID] = {}
    with Progress(
        TextColumn("[bold]{task.description:<8}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as bar:

        def update(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total or None)
            bar.update(tasks[phase], completed=done, total=total or None)

        yield update
