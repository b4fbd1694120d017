"""Progress on the terminal for the CLI's long commands (rich), on stderr.

Only on a terminal: when stderr is a file or a pipe (scripts, CI, tests), nothing is drawn, so
what the commands print stays as it was.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn


def stderr_console() -> Console:
    return Console(stderr=True)


@contextlib.contextmanager
def steps(description: str, expected: list[str], console: Console | None = None) -> Iterator[Callable[[str], None]]:
    """A progress bar over `expected` steps; yields the callback that marks one done (by name)."""
    console = console or stderr_console()
    columns = (SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[last]}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task(description, total=len(expected), last="")

        def done(step: str) -> None:
            bar.update(task, advance=1, last=step)
            if console.is_terminal:
                console.print(f"[green]✓[/green] {step}")

        yield done


@contextlib.contextmanager
def working(message: str, console: Console | None = None) -> Iterator[None]:
    """A spinner with `message` while the block runs (nothing when stderr is not a terminal)."""
    console = console or stderr_console()
    if not console.is_terminal:
        yield
        return
    with console.status(message):
        yield
