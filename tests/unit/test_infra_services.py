"""Pure parts of the service modules and the CLI wiring."""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
from pathlib import Path

import pytest
from pydantic import SecretStr

from schemas.errors import ConfigError
from stream_app.devtools import infra
from stream_app.devtools.infra import cli, postgres, redis
from stream_app.settings import Settings


def test_parse_only() -> None:
    assert infra.parse_only(None) == infra.SERVICES
    assert infra.parse_only("redis, kafka") == ("kafka", "redis")
    assert infra.parse_only(["postgres"]) == ("postgres",)
    with pytest.raises(ConfigError, match="zookeeper"):
        infra.parse_only("kafka,zookeeper")
    with pytest.raises(ConfigError):
        infra.parse_only(",")


def test_redis_config_quotes_password(tmp_path: Path) -> None:
    s = Settings(redis_port=16999, redis_password=SecretStr('a"b\\c'))
    conf = redis.render_config(s, tmp_path)
    assert "port 16999" in conf
    assert "bind 127.0.0.1" in conf
    assert 'requirepass "a\\"b\\\\c"' in conf
    assert "requirepass" not in redis.render_config(Settings(redis_password=None), tmp_path)


def test_scram_verifier_matches_postgres_format() -> None:
    salt = b"0123456789abcdef"
    v = postgres.scram_verifier("pencil", salt=salt)
    head, keys = v.split("$", 1)[1].split("$")
    iterations, salt_b64 = head.split(":")
    stored_b64, server_b64 = keys.split(":")
    assert v.startswith("SCRAM-SHA-256$4096:")
    assert base64.b64decode(salt_b64) == salt
    salted = hashlib.pbkdf2_hmac("sha256", b"pencil", salt, int(iterations))
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    assert base64.b64decode(stored_b64) == hashlib.sha256(client_key).digest()
    assert base64.b64decode(server_b64) == hmac.digest(salted, b"Server Key", "sha256")
    assert "pencil" not in v


def test_psql_literal_escapes() -> None:
    assert postgres._psql_literal("it's\\x") == "'it''s\\\\x'"


def test_status_line() -> None:
    st = infra.ServiceStatus("kafka", True, "127.0.0.1:19092", "3.9.1", 42)
    assert st.line().split() == ["kafka", "running", "127.0.0.1:19092", "(Kafka", "3.9.1)", "pid", "42"]
    assert "stopped" in infra.ServiceStatus("redis", False, "127.0.0.1:16379").line()


def test_status_when_nothing_started(tmp_path: Path) -> None:
    s = Settings(state_dir=tmp_path, kafka_bootstrap="127.0.0.1:1", postgres_port=2, redis_port=3)
    statuses = infra.status(s)
    assert [x.name for x in statuses] == list(infra.SERVICES)
    assert not any(x.running for x in statuses)


def test_cli_registers_infra_actions() -> None:
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["infra", "up", "--only", "kafka,redis"])
    assert args.only == "kafka,redis"
    assert args.handler is cli._up
    assert parser.parse_args(["infra", "status"]).handler is cli._status
    assert parser.parse_args(["infra", "down"]).handler is cli._down
