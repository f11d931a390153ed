"""JSON log lines with context, readable text on a terminal, secrets never written."""

from __future__ import annotations

import io
import json
import logging

import pytest
from pydantic import SecretStr

from stream_app.logging_setup import build_handler, configure, log_context
from stream_app.settings import Settings


def emit(handler: logging.Handler, msg: str, *args: object, **extra: object) -> str:
    logger = logging.getLogger("kw.test")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.info(msg, *args, extra=extra)
    stream = handler.stream  # type: ignore[attr-defined]
    return str(stream.getvalue())


def test_json_line_carries_context_and_extras() -> None:
    handler = build_handler("json", stream=io.StringIO())
    with log_context(request_id="req-1", asset_id="meter-7"), log_context(model_version=3):
        text = emit(handler, "scored %d readings", 5, batch=5)
    doc = json.loads(text)
    assert doc["msg"] == "scored 5 readings"
    assert doc["level"] == "info" and doc["logger"] == "kw.test"
    assert (doc["request_id"], doc["asset_id"], doc["model_version"], doc["batch"]) == (
        "req-1",
        "meter-7",
        3,
        5,
    )
    after = json.loads(emit(build_handler("json", stream=io.StringIO()), "outside"))
    assert "request_id" not in after and "asset_id" not in after


def test_secrets_are_masked_in_messages_extras_and_tracebacks() -> None:
    handler = build_handler("json", secrets=["s3cr3t-pass"], stream=io.StringIO())
    logger = logging.getLogger("kw.secret")
    logger.handlers = [handler]
    logger.propagate = False
    try:
        raise RuntimeError("connect failed with s3cr3t-pass")
    except RuntimeError:
        logger.exception(
            "dsn postgresql://kw:hunter22@db:5432/kw, password=abc123 header Bearer kwk_live_0123456789",
            extra={"note": "token: zzz999"},
        )
    text = handler.stream.getvalue()  # type: ignore[attr-defined]
    for secret in ("s3cr3t-pass", "hunter22", "abc123", "kwk_live_0123456789", "zzz999"):
        assert secret not in text, secret
    doc = json.loads(text)
    assert "postgresql://kw:***@db:5432/kw" in doc["msg"]
    assert "RuntimeError" in doc["exc"]


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_auto_is_text_on_a_terminal_and_json_elsewhere() -> None:
    with log_context(asset_id="meter-1"):
        text = emit(build_handler("auto", stream=Tty()), "hello")
        piped = emit(build_handler("auto", stream=io.StringIO()), "hello")
    assert text.rstrip().endswith("kw.test: hello  [asset_id=meter-1]")
    assert json.loads(piped)["asset_id"] == "meter-1"


def test_configure_masks_settings_secrets() -> None:
    settings = Settings(
        log_format="json",
        postgres_password=SecretStr("pg-pass-xyz"),
        alert_smtp_password=SecretStr("smtp-pw-1"),
    )
    out = io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure(settings, stream=out)
        logging.getLogger("kw.cfg").info("using pg-pass-xyz and smtp-pw-1")
    finally:
        root.handlers, _ = saved[0], root.setLevel(saved[1])
    assert json.loads(out.getvalue())["msg"] == "using *** and ***"


def test_unknown_context_field_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown log context"), log_context(user="x"):
        pass
