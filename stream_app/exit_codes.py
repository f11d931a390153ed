"""The ``kilowatch`` exit codes, defined once, and how an error maps to one (and to one stderr line).

Scripts and supervisors branch on these: 3 means "fix the file", 4 "retry later or start the
service", 5 "fix the settings". They are listed in ``kilowatch --help``.
"""

from __future__ import annotations

import sys
from enum import IntEnum
from pathlib import Path

from schemas.errors import ConfigError, DataError, InfraError, KilowatchError


class ExitCode(IntEnum):
    OK = 0
    FAILURE = 1  # the command ran and failed (a training or a detector run failed, pending migrations)
    USAGE = 2  # bad arguments (argparse)
    BAD_INPUT = 3  # an input file is missing, unreadable, empty, not CSV or lacks a column / numbers
    UNAVAILABLE = 4  # Kafka, PostgreSQL or Redis cannot be reached
    CONFIG = 5  # settings are invalid or a prerequisite is missing
    INTERRUPTED = 130  # Ctrl-C


EPILOG = """exit codes:
  0  success
  1  the command failed (e.g. a detector or training run failed; db status: migrations pending)
  2  usage error (bad or missing arguments)
  3  bad input data (missing, unreadable or empty file, bad CSV, missing column, non-numeric values)
  4  a service is unavailable (Kafka, PostgreSQL or Redis unreachable)
  5  configuration error (invalid KILOWATCH_* setting, missing prerequisite)
  130  interrupted"""

# (module, class) of client errors that mean "the service is not there", looked up only when the
# module is already imported: an error cannot be an instance of a class that was never loaded.
_UNREACHABLE: tuple[tuple[str, str], ...] = (
    ("asyncpg", "CannotConnectNowError"),
    ("asyncpg.exceptions", "CannotConnectNowError"),
    ("psycopg", "OperationalError"),
    ("redis.exceptions", "ConnectionError"),
    ("redis.exceptions", "TimeoutError"),
    ("confluent_kafka", "KafkaException"),
    ("aiokafka.errors", "KafkaConnectionError"),
)


def _unreachable_types() -> tuple[type[BaseException], ...]:
    found: list[type[BaseException]] = []
    for module, name in _UNREACHABLE:
        mod = sys.modules.get(module)
        cls = getattr(mod, name, None) if mod is not None else None
        if isinstance(cls, type) and issubclass(cls, BaseException):
            found.append(cls)
    return tuple(found)


def classify(exc: BaseException) -> ExitCode:
    """The exit code of an error that ends a command."""
    if isinstance(exc, KeyboardInterrupt):
        return ExitCode.INTERRUPTED
    if isinstance(exc, DataError):
        return ExitCode.BAD_INPUT
    if isinstance(exc, ConfigError):
        return ExitCode.CONFIG
    if isinstance(exc, (InfraError, ConnectionError, TimeoutError, *_unreachable_types())):
        return ExitCode.UNAVAILABLE
    if _is_settings_error(exc):
        return ExitCode.CONFIG
    return ExitCode.FAILURE


def _is_settings_error(exc: BaseException) -> bool:
    pydantic_core = sys.modules.get("pydantic_core")
    cls = getattr(pydantic_core, "ValidationError", None)
    return isinstance(cls, type) and isinstance(exc, cls)


def one_line(text: str) -> str:
    """Collapse a (possibly multi-line) message into one line."""
    return " ".join(str(text).split())


def error_line(exc: BaseException) -> str:
    """``kilowatch: error: <message>`` on one line."""
    code = classify(exc)
    if code is ExitCode.UNAVAILABLE and not isinstance(exc, KilowatchError):
        what = one_line(str(exc)) or type(exc).__name__
        return (
            f"kilowatch: error: service unavailable: {what} (is it running? `kilowatch infra up` starts it)"
        )
    if code is ExitCode.CONFIG and not isinstance(exc, KilowatchError):
        return f"kilowatch: error: invalid settings: {_settings_summary(exc)} (see docs/settings.md)"
    return f"kilowatch: error: {one_line(str(exc)) or type(exc).__name__}"


def _settings_summary(exc: BaseException) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        parts = []
        for e in errors():
            loc = ".".join(str(p) for p in e.get("loc", ()))
            parts.append(f"{loc}: {e.get('msg', '')}" if loc else str(e.get("msg", "")))
        if parts:
            return one_line("; ".join(parts))
    return one_line(str(exc))


def bad_input(path: Path | str, what: str, hint: str) -> DataError:
    """The error for an unusable input file: ``<file>: <what> (<hint>)``."""
    return DataError(f"{path}: {one_line(what)} ({hint})")


def check_input_file(path: Path) -> Path:
    """Refuse a path that is missing, not a file, unreadable or empty, before pandas sees it."""
    if not path.exists():
        raise bad_input(path, "no such file", "check the path")
    if not path.is_file():
        raise bad_input(path, "not a file", "give a CSV file, not a directory")
    try:
        with path.open("rb") as fh:
            head = fh.read(1)
    except OSError as exc:
        raise bad_input(path, f"cannot read: {exc.strerror or exc}", "check its permissions") from None
    if not head:
        raise bad_input(path, "empty file", "expected a CSV with a header row")
    return path
