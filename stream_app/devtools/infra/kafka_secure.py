"""A throw-away Kafka broker with a SASL_SSL listener (PLAIN and SCRAM users, a generated
certificate) next to its PLAINTEXT one: what the secured-client tests connect to.

Same jars and JVM command as the local broker (``infra.kafka``), its own folder, ports and pid file;
SCRAM credentials are written into the KRaft metadata when the storage is formatted.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from schemas.errors import InfraError
from stream_app.devtools.infra import procs
from stream_app.devtools.infra.kafka import _java_cmd, metadata_ok, resolve
from stream_app.devtools.infra.kafka_config import (
    SaslSslListener,
    logging_config,
    random_cluster_id,
    render_server_properties,
)
from stream_app.settings import Settings

SCRAM_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")


def start(
    settings: Settings,
    workdir: Path,
    listener: SaslSslListener,
    scram_users: dict[str, str],
    timeout: float = 120.0,
) -> procs.PidRecord:
    """Format a fresh log dir in ``workdir`` (with the SCRAM users) and start the broker; its
    PLAINTEXT listener is ``settings.kafka.bootstrap``. Returns the pid record (``pid.json``)."""
    host, port = procs.split_hostport(settings.kafka.bootstrap)
    for p in (port, settings.kafka.controller_port, listener.port):
        if procs.port_open(host, p):
            raise InfraError(f"port {host}:{p} is already in use")
    java = procs.require("java", "install a JDK 17+ (Debian: apt-get install openjdk-17-jre-headless)")
    libs = resolve(settings)
    workdir.mkdir(parents=True, exist_ok=True)
    props = workdir / "server.properties"
    props.write_text(
        render_server_properties(
            version=settings.kafka.version,
            host=host,
            port=port,
            controller_port=settings.kafka.controller_port,
            log_dir=workdir / "data",
            sasl_ssl=listener,
        )
    )
    name, content, _ = logging_config(settings.kafka.version)
    log_cfg = workdir / name
    log_cfg.write_text(content)
    java_cmd = _java_cmd(settings, java, libs, log_cfg)
    scram: list[str] = []
    for user, password in scram_users.items():
        if any(c in password for c in '],="\\'):
            raise ValueError('a SCRAM test password may not contain ] , = " or backslashes')
        for mech in SCRAM_MECHANISMS:
            scram += ["--add-scram", f"{mech}=[name={user},password={password}]"]
    fmt = [
        *java_cmd,
        "kafka.tools.StorageTool",
        "format",
        "-t",
        random_cluster_id(),
        "-c",
        str(props),
        *scram,
    ]
    res = subprocess.run(fmt, capture_output=True, text=True, timeout=300, check=False)
    if res.returncode != 0:
        raise InfraError(
            f"formatting the secured broker's storage failed:\n{(res.stdout + res.stderr)[-1500:]}"
        )
    log_file = workdir / "kafka.log"
    pid = procs.spawn_detached([*java_cmd, "kafka.Kafka", str(props)], log_file, cwd=workdir)
    rec = procs.write_pid(workdir / "pid.json", pid, f"{host}:{port}", settings.kafka.version)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if procs.proc_start_time(pid) is None:
            raise InfraError(f"the secured broker exited during start-up:\n{procs.tail(log_file)}")
        up = procs.port_open(host, port) and procs.port_open(listener.bind, listener.port)
        if up and metadata_ok(settings.kafka.bootstrap):
            return rec
        time.sleep(0.5)
    stop(workdir)
    raise InfraError(f"the secured broker did not answer within {timeout:.0f} s; see {log_file}")


def stop(workdir: Path) -> bool:
    return procs.stop(workdir / "pid.json", "secured kafka", timeout=30.0)
