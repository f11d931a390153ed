"""Integration tests run against the real local broker, database and cache (`kilowatch infra up`)."""

from __future__ import annotations

import socket

import pytest

from stream_app.settings import Settings


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session", autouse=True)
def kafka_is_up() -> None:
    s = Settings()
    host, port = s.kafka.bootstrap.split(",")[0].rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=3).close()
    except OSError:
        pytest.fail(f"no Kafka at {s.kafka.bootstrap}: run `kilowatch infra up` (make test does)")
