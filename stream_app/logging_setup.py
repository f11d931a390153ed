"""One logging set-up for every kilowatch process: JSON lines, or readable text on a terminal.

Context that applies to a stretch of work (the API's request id, the asset being scored, the model
version in use) lives in context variables, so every log line inside :func:`log_context` carries it
without being passed around. Secrets are masked in every line, whatever logged them.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import re
import sys
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import IO, Any

import orjson

CONTEXT_FIELDS = ("request_id", "asset_id", "model_version", "worker_id")
_context: dict[str, contextvars.ContextVar[Any]] = {
    name: contextvars.ContextVar(f"kilowatch_{name}", default=None) for name in CONTEXT_FIELDS
}
MASK = "***"

# Query parameters that carry credentials: signed URLs (S3, GCS, Azure SAS), tokens, keys, passwords.
_SECRET_PARAMS = (
    "x-amz-signature",
    "x-amz-credential",
    "x-amz-security-token",
    "x-goog-signature",
    "x-goog-credential",
    "signature",
    "sig",
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "key",
    "api_key",
    "apikey",
    "password",
    "passwd",
    "secret",
    "client_secret",
    "awsaccesskeyid",
)
# Secrets that may appear inside messages: URL passwords (the userinfo up to its last "@", then any
# "user:...@" left), kilowatch API keys by shape (kw_<8-char public prefix>_<secret>: the prefix stays,
# as the key list shows it), credential query parameters, key=value pairs, bearer tokens.
_PATTERNS = (
    re.compile(r"(?P<k>[a-z][a-z0-9+.-]*://[^:/?#@\s]*:)(?P<v>[^/?#\s]*)(?=@[^@/?#\s]*(?:[/?#\s]|$))", re.I),
    re.compile(r"(?P<k>[a-z][a-z0-9+.-]*://[^:/@\s]*:)(?P<v>[^@\s]+)(?=@)", re.I),
    re.compile(r"(?P<k>kw_[A-Za-z0-9]{8}_)(?P<v>[A-Za-z0-9_-]+)"),
    re.compile(
        r"(?P<k>[?&;](?:" + "|".join(re.escape(p) for p in _SECRET_PARAMS) + r")=)(?P<v>[^&#\s'\"<>]+)", re.I
    ),
    re.compile(
        r"(?P<k>\b(?:password|passwd|pwd|secret|token|api[_-]?key)\b\s*[=:]\s*)(?P<v>[^\s,;&'\"]+)", re.I
    ),
    re.compile(r"(?P<k>\bBearer\s+)(?P<v>[A-Za-z0-9._~+/=-]+)", re.I),
)
# LogRecord attributes that are not user-supplied ``extra`` fields.
_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


@contextlib.contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Attach ``request_id`` / ``asset_id`` / ``model_version`` / ``worker_id`` to every line logged
    inside the block (and in tasks it starts)."""
    unknown = set(fields) - set(_context)
    if unknown:
        raise ValueError(f"unknown log context field(s): {sorted(unknown)}")
    tokens = [(_context[k], _context[k].set(v)) for k, v in fields.items()]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def current_context() -> dict[str, Any]:
    return {k: v for k, var in _context.items() if (v := var.get()) is not None}


class Redactor:
    """Masks known secret values and secret-looking patterns in a text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        for pattern in _PATTERNS:
            text = pattern.sub(lambda m: m.group("k") + MASK, text)
        return text


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, context fields, extras, exception."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": self.redact(record.getMessage()),
        }
        doc.update(current_context())
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                doc[key] = self.redact(value) if isinstance(value, str) else value
        if record.exc_info:
            doc["exc"] = self.redact(self.formatException(record.exc_info))
        return orjson.dumps(doc, default=str).decode()


class TextFormatter(logging.Formatter):
    """Readable lines for a terminal, context appended as ``key=value``."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ctx = current_context()
        if ctx:
            line += "  [" + " ".join(f"{k}={v}" for k, v in ctx.items()) + "]"
        return self.redact(line)


def build_handler(fmt: str, secrets: Iterable[str] = (), stream: IO[str] | None = None) -> logging.Handler:
    """A stream handler with the chosen format; ``auto`` is text on a TTY, JSON otherwise."""
    out = stream if stream is not None else sys.stderr
    if fmt == "auto":
        fmt = "text" if out.isatty() else "json"
    handler = logging.StreamHandler(out)
    redact = Redactor(secrets)
    handler.setFormatter(JsonFormatter(redact) if fmt == "json" else TextFormatter(redact))
    return handler


def settings_secrets(settings: Any) -> list[str]:
    """Every SecretStr value in the settings object and its groups (masked wherever it shows up)."""
    from pydantic import BaseModel, SecretStr

    values = []
    pending: list[Any] = [settings]
    while pending:
        obj = pending.pop()
        for name in type(obj).model_fields:
            value = getattr(obj, name)
            if isinstance(value, SecretStr):
                values.append(value.get_secret_value())
            elif isinstance(value, BaseModel):
                pending.append(value)
    return values


def configure(settings: Any, *, verbose: bool = False, stream: IO[str] | None = None) -> logging.Handler:
    """Install the one root handler (replacing any other) and return it (the faust worker reuses it)."""
    handler = build_handler(settings.log_format, settings_secrets(settings), stream)
    root = logging.getLogger()
    root.handlers.clear()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    return handler


def worker_logging_config(level: str) -> dict[str, Any]:
    """dictConfig for faust/mode's worker: keep the root without handlers of its own, so that the
    handler passed as ``loghandlers`` (ours) is the only one."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "root": {"level": level.upper(), "handlers": []},
    }
