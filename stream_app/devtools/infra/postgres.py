"""Local PostgreSQL from the Debian server binaries, on its own port and data dir.

PostgreSQL refuses to run as root, so as root every server command runs as the ``postgres``
system user (``runuser``), which must be able to traverse to the data dir.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import shlex
import shutil
import signal
import subprocess
from pathlib import Path

from schemas.errors import InfraError
from stream_app.devtools.infra import procs
from stream_app.settings import Settings

log = logging.getLogger(__name__)

NAME = "postgres"
LISTEN = "127.0.0.1"
FALLBACK_ROOT = Path("/var/lib/postgresql/kilowatch")


def _is_root() -> bool:
    return os.geteuid() == 0


def _as_pg() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if _is_root() else []


def bin_dir() -> Path:
    """Newest ``/usr/lib/postgresql/<major>/bin``, else ``pg_ctl`` on PATH; apt-installs if neither."""
    for attempt in range(2):
        found = sorted(
            Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
            key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
        )
        if found:
            return found[-1].parent
        on_path = shutil.which("pg_ctl")
        if on_path:
            return Path(on_path).resolve().parent
        if attempt == 0:
            procs.apt_install("postgresql", why="PostgreSQL server binaries (pg_ctl) not found")
    raise InfraError("PostgreSQL binaries still missing after apt-get install postgresql")


def _pg_can_traverse(path: Path) -> bool:
    if not _is_root():
        return True
    return subprocess.run([*_as_pg(), "test", "-x", str(path)], check=False).returncode == 0


def pg_root(settings: Settings) -> Path:
    """``<infra_dir>/postgres``, or a per-state-dir folder under /var/lib/postgresql when the
    postgres user cannot traverse the state dir (e.g. a checkout under /root)."""
    settings.infra_dir.mkdir(parents=True, exist_ok=True)
    if _pg_can_traverse(settings.infra_dir):
        root = settings.infra_dir / "postgres"
    else:
        digest = hashlib.sha256(str(settings.infra_dir).encode()).hexdigest()[:12]
        root = FALLBACK_ROOT / digest
    # A unix socket path is limited to 107 bytes: fall back to a short directory.
    if len(str(root / "run" / f".s.PGSQL.{settings.postgres.port}")) > 100:
        root = FALLBACK_ROOT / hashlib.sha256(str(settings.infra_dir).encode()).hexdigest()[:12]
    return root


def pid_file(settings: Settings) -> Path:
    return settings.infra_dir / "pids" / "postgres.json"


def running(settings: Settings) -> procs.PidRecord | None:
    return procs.read_pid(pid_file(settings))


def _run(cmd: list[str], what: str, stdin: str | None = None) -> str:
    res = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=180, check=False)
    if res.returncode != 0:
        raise InfraError(f"{what} failed: {(res.stdout + res.stderr).strip()[-1500:]}")
    return res.stdout


def _prepare(root: Path) -> None:
    for d in (root, root / "run"):
        d.mkdir(parents=True, exist_ok=True)
        if _is_root():
            shutil.chown(d, "postgres", "postgres")
    (root / "run").chmod(0o700)  # only the server user (and root) may use the socket


def start(settings: Settings) -> str:
    """Start PostgreSQL unless ours already runs, then make sure the role and database exist."""
    address = f"{LISTEN}:{settings.postgres.port}"
    bins = bin_dir()
    root = pg_root(settings)
    rec = running(settings)
    if rec is not None:
        procs.check_same_address(rec, address, NAME)
    else:
        if procs.port_open(LISTEN, settings.postgres.port):
            raise InfraError(f"port {address} is in use by a process kilowatch did not start (PostgreSQL)")
        _prepare(root)
        data = root / "data"
        if root != settings.infra_dir / "postgres":
            log.warning(
                "postgres user cannot traverse %s: PostgreSQL data is in %s", settings.infra_dir, data
            )
        if not (data / "PG_VERSION").exists():
            _run(
                [
                    *_as_pg(),
                    str(bins / "initdb"),
                    "-D",
                    str(data),
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                    "--auth-local=peer",
                    "--auth-host=scram-sha-256",
                ],
                "initdb",
            )
        opts = f"-c listen_addresses={LISTEN} -p {settings.postgres.port} -k {shlex.quote(str(root / 'run'))}"
        _run(
            [
                *_as_pg(),
                str(bins / "pg_ctl"),
                "start",
                "-w",
                "-t",
                "90",
                "-D",
                str(data),
                "-l",
                str(root / "postgres.log"),
                "-o",
                opts,
            ],
            f"pg_ctl start (log: {root / 'postgres.log'})",
        )
        pid = int((data / "postmaster.pid").read_text().split("\n", 1)[0])
        procs.write_pid(pid_file(settings), pid, address)
    ensure_role_and_db(settings, bins, root)
    return address


def scram_verifier(password: str, salt: bytes | None = None, iterations: int = 4096) -> str:
    """SCRAM-SHA-256 verifier as PostgreSQL stores it: the plain password never reaches the server
    (nor its log, should a statement fail)."""
    salt = salt if salt is not None else os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.digest(salted, b"Server Key", "sha256")

    def b64(b: bytes) -> str:
        return base64.b64encode(b).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def _psql_literal(value: str) -> str:
    """Quote a value for a psql ``\\set`` meta-command (backslashes and quotes escaped)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def ensure_role_and_db(settings: Settings, bins: Path, root: Path) -> None:
    """Create (or update the password of) the application role and its database; idempotent."""
    verifier = scram_verifier(settings.postgres.password.get_secret_value())
    script = "\n".join(
        [
            f"\\set role {_psql_literal(settings.postgres.user)}",
            f"\\set db {_psql_literal(settings.postgres.db)}",
            f"\\set pw {_psql_literal(verifier)}",
            "SELECT format('CREATE ROLE %I LOGIN', :'role') "
            "WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') \\gexec",
            "ALTER ROLE :\"role\" WITH LOGIN PASSWORD :'pw';",
            "SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'role') "
            "WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \\gexec",
        ]
    )
    cmd = [
        *_as_pg(),
        str(bins / "psql"),
        "-X",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "-h",
        str(root / "run"),
        "-p",
        str(settings.postgres.port),
        "-d",
        "postgres",
    ]
    _run(cmd, "creating the PostgreSQL role and database", stdin=script)


def stop(settings: Settings) -> bool:
    """SIGINT = PostgreSQL's fast shutdown: clients are disconnected, no recovery on next start."""
    return procs.stop(pid_file(settings), NAME, sig=signal.SIGINT, timeout=60.0)
