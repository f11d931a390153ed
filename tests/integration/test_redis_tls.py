"""Redis over TLS with a ``rediss://`` URL: Debian's redis-server (built with TLS) on a TLS-only
port with a certificate for ``localhost`` from a CA made here with openssl, reached by the client the
worker and the API use (``stream_app.lifecycle.coord.redis_client``)."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis.exceptions
from pydantic import SecretStr

from stream_app.devtools.infra import tls
from stream_app.lifecycle.coord import redis_client
from stream_app.settings import Settings

PASSWORD = "redis-tls-pw-2c9"


@dataclass(frozen=True)
class TlsRedis:
    port: int
    ca: Path
    other_ca: Path

    def settings(self, url: str, ca: Path | None = None) -> Settings:
        return Settings(redis_url=SecretStr(url), redis_ssl_cafile=str(ca or self.ca), redis_timeout_s=5.0)


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsRedis]:
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.fail("redis-server not found: `kilowatch infra up` installs it")
    work = tmp_path_factory.mktemp("redis-tls")
    ca = tls.make_ca(work / "ca")
    server = tls.make_cert(work / "server", ca, "server", ["localhost"])
    other_ca = tls.make_ca(work / "other", name="some other CA")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [exe, "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
         "--tls-cert-file", str(server.cert), "--tls-key-file", str(server.key),
         "--tls-ca-cert-file", str(ca.cert), "--tls-auth-clients", "no",
         "--requirepass", PASSWORD, "--save", "", "--appendonly", "no", "--dir", str(work)],
        stdout=(work / "redis.log").open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert proc.poll() is None, (work / "redis.log").read_text()
            assert time.monotonic() < deadline, "redis-server did not open its TLS port"
            time.sleep(0.1)
        yield TlsRedis(port, ca.cert, other_ca.cert)
    finally:
        proc.terminate()
        proc.wait(20)


async def _roundtrip(settings: Settings) -> object:
    client = redis_client(settings)
    try:
        await client.set("kw:tls-probe", "ok", ex=60)
        return await client.get("kw:tls-probe")
    finally:
        await client.aclose()


def test_rediss_url_reaches_a_tls_redis_and_checks_its_host_name(tls_redis: TlsRedis) -> None:
    s = tls_redis.settings(f"rediss://:{PASSWORD}@localhost:{tls_redis.port}/0")
    assert s.redis.tls
    assert asyncio.run(_roundtrip(s)) == "ok"
    # the certificate names localhost, not 127.0.0.1
    wrong_name = tls_redis.settings(f"rediss://:{PASSWORD}@127.0.0.1:{tls_redis.port}/0")
    with pytest.raises(redis.exceptions.ConnectionError, match="mismatch"):
        asyncio.run(_roundtrip(wrong_name))


def test_a_server_certificate_from_another_ca_is_refused(tls_redis: TlsRedis) -> None:
    s = tls_redis.settings(f"rediss://:{PASSWORD}@localhost:{tls_redis.port}/0", ca=tls_redis.other_ca)
    with pytest.raises(redis.exceptions.ConnectionError, match="certificate verify failed"):
        asyncio.run(_roundtrip(s))


def test_plain_text_to_the_tls_port_fails_within_the_timeout(tls_redis: TlsRedis) -> None:
    s = Settings(
        redis_url=SecretStr(f"redis://:{PASSWORD}@localhost:{tls_redis.port}/0"), redis_timeout_s=3.0
    )
    started = time.monotonic()
    with pytest.raises(redis.exceptions.RedisError):
        asyncio.run(_roundtrip(s))
    assert time.monotonic() - started < 15
