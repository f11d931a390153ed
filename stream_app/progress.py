"""Progress bars for long commands (rich), on stderr, only when stderr is a terminal and not ``--quiet``.

stdout stays the command's result (tables, paths), so piping it or redirecting stderr is unaffected.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO


def add_quiet_flag(parser: argparse.ArgumentParser) -> None:
    """``-q/--quiet`` on a sub-command; the top-level ``kilowatch -q`` sets the same flag."""
    parser.add_argument(
        "-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help="no progress bar"
    )


def enabled(args: argparse.Namespace, stream: TextIO | None = None) -> bool:
    stream = stream if stream is not None else sys.stderr
    return not getattr(args, "quiet", False) and bool(getattr(stream, "isatty", lambda: False)())


class Task:
    """One bar: ``advance`` by units done, ``stage`` to change its text. A no-op when disabled."""

    def __init__(self, bar: Any = None, task_id: Any = None) -> None:
        self._bar = bar
        self._id = task_id

    def advance(self, n: float = 1) -> None:
        if self._bar is not None:
            self._bar.advance(self._id, n)

    def stage(self, text: str) -> None:
        if self._bar is not None:
            self._bar.update(self._id, description=text)

    @property
    def shown(self) -> bool:
        return self._bar is not None


@contextmanager
def task(description: str, total: float | None, on: bool, stream: TextIO | None = None) -> Iterator[Task]:
    """A progress bar of ``total`` units (None: a spinner with elapsed time) while the block runs."""
    if not on:
        yield Task()
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = Console(file=stream if stream is not None else sys.stderr)
    columns: list[Any] = [SpinnerColumn(), TextColumn("{task.description}")]
    if total is not None:
        columns += [BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
    columns.append(TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        yield Task(bar, bar.add_task(description, total=total))
