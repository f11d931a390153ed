"""PostgreSQL over TLS with the settings' DSN form and sslmode: a throw-away cluster (Debian's server
binaries, ``ssl=on``, a certificate for ``localhost`` from a CA made here with openssl), reached by the
kilowatch pool and single connection; ``verify-full`` checks CA and host name, ``require`` against the
plain-text-only local server fails with a clear error."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import SecretStr

from schemas.errors import InfraError
from stream_app.devtools.infra import postgres, tls
from stream_app.settings import Settings
from stream_app.store.pool import connect, create_pool

USER, PASSWORD = "kwtls", "tls-db-pw-5e1"


@dataclass(frozen=True)
class TlsPostgres:
    port: int
    ca: Path
    other_ca: Path

    def settings(self, host: str, sslmode: str, ca: Path | None = None) -> Settings:
        dsn = (
            f"postgresql://{USER}:{PASSWORD}@{host}:{self.port}/postgres"
            f"?sslmode={sslmode}&sslrootcert={ca or self.ca}"
        )
        return Settings(postgres_dsn=SecretStr(dsn))


def _as_pg() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def _chown_pg(*paths: Path) -> None:
    if os.geteuid() == 0:
        for p in paths:
            shutil.chown(p, "postgres", "postgres")


@pytest.fixture(scope="module")
def tls_postgres() -> Iterator[TlsPostgres]:
    bins = postgres.bin_dir()
    root = Path(tempfile.mkdtemp(prefix="kw-pgtls-"))
    root.chmod(0o755)  # the postgres user must reach its data, socket and certificate
    ca = tls.make_ca(root / "ca")
    server = tls.make_cert(root / "server", ca, "server", ["localhost"])  # no IP address in it
    other_ca = tls.make_ca(root / "other", name="some other CA")
    pwfile = root / "pw"
    pwfile.write_text(PASSWORD + "\n")
    run = root / "run"
    run.mkdir()
    _chown_pg(root, run, pwfile, root / "server", server.cert, server.key)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = root / "data"
    subprocess.run(
        [*_as_pg(), str(bins / "initdb"), "-D", str(data), "-U", USER, f"--pwfile={pwfile}",
         "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    opts = (
        f"-c listen_addresses=127.0.0.1 -p {port} -k {run} -c ssl=on "
        f"-c ssl_cert_file={server.cert} -c ssl_key_file={server.key}"
    )
    subprocess.run(
        [*_as_pg(), str(bins / "pg_ctl"), "start", "-w", "-t", "60", "-D", str(data),
         "-l", str(root / "log"), "-o", opts],
        check=True, capture_output=True, timeout=90,
    )  # fmt: skip
    try:
        yield TlsPostgres(port, ca.cert, other_ca.cert)
    finally:
        subprocess.run(
            [*_as_pg(), str(bins / "pg_ctl"), "stop", "-m", "fast", "-D", str(data)],
            check=False, capture_output=True, timeout=60,
        )  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)


async def _ssl_in_use(settings: Settings) -> bool:
    conn = await connect(settings)
    try:
        return bool(await conn.fetchval("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"))
    finally:
        await conn.close()


def test_verify_full_connects_over_tls_with_pool_and_connection(tls_postgres: TlsPostgres) -> None:
    s = tls_postgres.settings("localhost", "verify-full")
    assert (s.postgres.host, s.postgres.sslmode) == ("localhost", "verify-full")
    assert asyncio.run(_ssl_in_use(s))

    async def through_pool() -> bool:
        pool = await create_pool(s, acquire_timeout=5.0)
        try:
            return bool(await pool.fetchval("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"))
        finally:
            await pool.close()

    assert asyncio.run(through_pool())


def test_verify_full_refuses_a_host_name_the_certificate_does_not_name(tls_postgres: TlsPostgres) -> None:
    with pytest.raises(InfraError) as err:
        asyncio.run(_ssl_in_use(tls_postgres.settings("127.0.0.1", "verify-full")))
    assert "sslmode verify-full" in str(err.value) and "mismatch" in str(err.value)
    assert PASSWORD not in str(err.value)
    # verify-ca checks the CA only: the same address is accepted
    assert asyncio.run(_ssl_in_use(tls_postgres.settings("127.0.0.1", "verify-ca")))


def test_a_server_certificate_from_another_ca_is_refused(tls_postgres: TlsPostgres) -> None:
    s = tls_postgres.settings("localhost", "verify-full", ca=tls_postgres.other_ca)
    with pytest.raises(InfraError, match="certificate verify failed") as err:
        asyncio.run(_ssl_in_use(s))
    assert PASSWORD not in str(err.value)


def test_disable_stays_plain_text(tls_postgres: TlsPostgres) -> None:
    assert not asyncio.run(_ssl_in_use(tls_postgres.settings("localhost", "disable")))


def test_require_against_a_plain_text_only_server_fails_clearly() -> None:
    """The local development server (`kilowatch infra up`) has no TLS."""
    plain = Settings()
    assert not asyncio.run(_ssl_in_use(plain.with_changes(postgres_sslmode="prefer")))  # it answers
    started = time.monotonic()
    with pytest.raises(InfraError) as err:
        asyncio.run(_ssl_in_use(plain.with_changes(postgres_sslmode="require")))
    assert time.monotonic() - started < 10
    assert "sslmode require" in str(err.value) and "rejected SSL upgrade" in str(err.value)
