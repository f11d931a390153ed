"""The ``kilowatch`` console script: one sub-command per module, each registering itself.

Each command module exposes ``register(subparsers)``; the handler receives the parsed args and the
one ``Settings`` object built here from the environment.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable

from schemas.errors import KilowatchError
from stream_app import logging_setup
from stream_app.settings import Settings

# Modules that contribute sub-commands (imported lazily so `kilowatch infra` does not import faust).
COMMAND_MODULES: tuple[str, ...] = (
    "stream_app.devtools.infra.cli",
    "stream_app.worker.cli",
    "stream_app.devtools.replay",
    "stream_app.evaluation.cli",
    "stream_app.devtools.simulate",
    "stream_app.devtools.export",
    "stream_app.store.cli",
    "stream_app.sinks.history",
    "stream_app.sinks.results",
    "stream_app.admin.reset",
    "trainers.backtest",
    "api.cli",
)

Handler = Callable[[argparse.Namespace, Settings], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kilowatch", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        module = importlib.import_module(name)
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    settings = Settings()
    args.log_handler = logging_setup.configure(settings, verbose=args.verbose)
    handler: Handler = args.handler
    try:
        return handler(args, settings)
    except KilowatchError as exc:
        print(f"kilowatch: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
