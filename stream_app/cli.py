"""The ``kilowatch`` console script: one sub-command per module, each registering itself (``COMMANDS``).

Each command module exposes ``register(subparsers)``; the handler receives the parsed args and the
one ``Settings`` object built here from the environment.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from importlib import metadata
from typing import Any, Protocol

from api import cli as api_cli
from schemas.errors import KilowatchError
from stream_app import logging_setup
from stream_app.admin import reset
from stream_app.devtools import export, replay, simulate
from stream_app.devtools.infra import cli as infra_cli
from stream_app.evaluation import cli as evaluation_cli
from stream_app.exit_codes import EPILOG, ExitCode, classify, error_line
from stream_app.settings import Settings
from stream_app.sinks import history, results
from stream_app.store import cli as store_cli
from stream_app.worker import cli as worker_cli
from trainers import backtest


class CommandModule(Protocol):
    """A module contributing sub-commands. Its top-level imports stay light (no faust, torch or
    fastapi at import time): each handler imports what it runs."""

    def register(self, subparsers: Any) -> None: ...


# In the order `kilowatch --help` lists them.
COMMANDS: tuple[CommandModule, ...] = (
    infra_cli,
    worker_cli,
    replay,
    evaluation_cli,
    simulate,
    export,
    store_cli,
    history,
    results,
    reset,
    backtest,
    api_cli,
)

Handler = Callable[[argparse.Namespace, Settings], int]


def version() -> str:
    try:
        return metadata.version("kilowatch")
    except metadata.PackageNotFoundError:  # a source tree that was never installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kilowatch",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bars (they show only on a terminal)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; every expected failure ends as one stderr line and an ``ExitCode``.

    An exception that is none of ours, of a service client or of the settings is a bug: it keeps its
    traceback (exit 1) rather than being reduced to a line that hides where it came from."""
    parser = build_parser()
    args = parser.parse_args(argv)  # usage errors: argparse prints them and exits 2
    handler: Handler = args.handler
    try:
        settings = Settings()
        args.log_handler = logging_setup.configure(settings, verbose=args.verbose)
        return handler(args, settings)
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED
    except Exception as exc:
        code = classify(exc)
        if code is ExitCode.FAILURE and not isinstance(exc, KilowatchError):
            raise
        print(error_line(exc), file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
