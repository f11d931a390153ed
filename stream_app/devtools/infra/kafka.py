"""Local Kafka (KRaft, one combined broker+controller) run from Maven Central jars.

Why Maven rather than the tarball: the registry is reachable from CI and dev boxes where
downloads.apache.org is not, and the tarball's scripts only build a classpath and call two classes.
"""

from __future__ import annotations

import logging
import shlex
import shutil
import subprocess
import time
from pathlib import Path

from schemas.errors import InfraError
from stream_app.devtools.infra import procs
from stream_app.devtools.infra.kafka_config import (
    logging_config,
    logging_jvm_flag,
    random_cluster_id,
    render_pom,
    render_server_properties,
)
from stream_app.settings import Settings

log = logging.getLogger(__name__)

NAME = "kafka"
MARKER = ".resolved"
READY_TIMEOUT_S = 120.0


def libs_dir(settings: Settings) -> Path:
    return settings.cache_dir.expanduser().resolve() / "kafka" / settings.kafka.version / "libs"


def runtime_dir(settings: Settings) -> Path:
    """Config, pid and console log of the running broker (one broker per state dir)."""
    return settings.infra_dir / "kafka"


def data_dir(settings: Settings) -> Path:
    """Per-version storage: a 3.9 and a 4.x broker must never share a log dir."""
    return settings.infra_dir / f"kafka-{settings.kafka.version}" / "data"


def pid_file(settings: Settings) -> Path:
    return settings.infra_dir / "pids" / "kafka.json"


def log_file(settings: Settings) -> Path:
    return runtime_dir(settings) / "kafka.log"


def resolve(settings: Settings) -> Path:
    """Download the broker's runtime closure once into the cache (marker file = complete)."""
    libs = libs_dir(settings)
    if (libs / MARKER).exists():
        return libs
    mvn = procs.require("mvn", "install Maven 3.6+ (Debian: apt-get install maven) to fetch the Kafka jars")
    version_dir = libs.parent
    with procs.locked(version_dir / ".lock"):
        if (libs / MARKER).exists():  # another process resolved it while we waited
            return libs
        pom = version_dir / "pom.xml"
        pom.write_text(render_pom(settings.kafka.version))
        tmp = version_dir / "libs.partial"
        shutil.rmtree(tmp, ignore_errors=True)
        log.info("resolving Kafka %s jars from Maven Central (once) ...", settings.kafka.version)
        started = time.monotonic()
        cmd = [
            mvn,
            "-q",
            "-B",
            "-f",
            str(pom),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={tmp}",
        ]
        try:
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, check=False)
        except subprocess.TimeoutExpired as exc:
            raise InfraError(
                f"mvn did not finish resolving Kafka {settings.kafka.version} in 30 min"
            ) from exc
        if res.returncode != 0 or not any(tmp.glob("kafka_2.13-*.jar")):
            out = (res.stdout + res.stderr).strip()[-1500:]
            raise InfraError(
                f"mvn could not resolve org.apache.kafka:kafka_2.13:{settings.kafka.version}:\n{out}"
            )
        (tmp / MARKER).write_text(f"{len(list(tmp.glob('*.jar')))} jars\n")
        shutil.rmtree(libs, ignore_errors=True)
        tmp.replace(libs)
        log.info(
            "resolved Kafka %s in %.0f s into %s", settings.kafka.version, time.monotonic() - started, libs
        )
    return libs


def write_configs(settings: Settings) -> tuple[Path, Path]:
    """(server.properties, logging config), regenerated from settings on every start."""
    host, port = procs.split_hostport(settings.kafka.bootstrap)
    rdir = runtime_dir(settings)
    rdir.mkdir(parents=True, exist_ok=True)
    props = rdir / "server.properties"
    props.write_text(
        render_server_properties(
            version=settings.kafka.version,
            host=host,
            port=port,
            controller_port=settings.kafka.controller_port,
            log_dir=data_dir(settings),
        )
    )
    name, content, _ = logging_config(settings.kafka.version)
    log_cfg = rdir / name
    log_cfg.write_text(content)
    return props, log_cfg


def _java_cmd(settings: Settings, java: str, libs: Path, log_cfg: Path) -> list[str]:
    return [
        java,
        *shlex.split(settings.kafka.heap),
        "-Djava.awt.headless=true",
        logging_jvm_flag(settings.kafka.version, log_cfg),
        "-cp",
        f"{libs}/*",
    ]


def format_storage(settings: Settings, java: str, libs: Path, props: Path, log_cfg: Path) -> None:
    """Format the KRaft log dir once per version (static voters: no ``--standalone`` needed)."""
    ddir = data_dir(settings)
    if (ddir / "meta.properties").exists():
        return
    ddir.mkdir(parents=True, exist_ok=True)
    cid_file = ddir.parent / "cluster.id"
    if not cid_file.exists():
        cid_file.write_text(random_cluster_id() + "\n")
    cmd = [
        *_java_cmd(settings, java, libs, log_cfg),
        "kafka.tools.StorageTool",
        "format",
        "-t",
        cid_file.read_text().strip(),
        "-c",
        str(props),
        "--ignore-formatted",
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    if res.returncode != 0:
        raise InfraError(f"formatting Kafka storage in {ddir} failed:\n{(res.stdout + res.stderr)[-1500:]}")


def running(settings: Settings) -> procs.PidRecord | None:
    return procs.read_pid(pid_file(settings))


def start(settings: Settings) -> str:
    """Start the broker unless ours is already running; returns ``host:port (version)``."""
    host, port = procs.split_hostport(settings.kafka.bootstrap)
    rec = running(settings)
    if rec is not None:
        if rec.version != settings.kafka.version:
            raise InfraError(
                f"Kafka {rec.version} (pid {rec.pid}) is running from this state dir; "
                f"run `kilowatch infra down --only kafka` before starting {settings.kafka.version}"
            )
        procs.check_same_address(rec, f"{host}:{port}", NAME)
        wait_ready(settings, rec.pid)
        return rec.address
    for p in (port, settings.kafka.controller_port):
        if procs.port_open(host, p):
            raise InfraError(f"port {host}:{p} is in use by a process kilowatch did not start (Kafka)")
    java = procs.require("java", "install a JDK 17+ (Debian: apt-get install openjdk-17-jre-headless)")
    libs = resolve(settings)
    props, log_cfg = write_configs(settings)
    format_storage(settings, java, libs, props, log_cfg)
    cmd = [*_java_cmd(settings, java, libs, log_cfg), "kafka.Kafka", str(props)]
    pid = procs.spawn_detached(cmd, log_file(settings), cwd=runtime_dir(settings))
    address = f"{host}:{port}"
    procs.write_pid(pid_file(settings), pid, address, settings.kafka.version)
    wait_ready(settings, pid)
    return address


def wait_ready(settings: Settings, pid: int, timeout: float = READY_TIMEOUT_S) -> None:
    """Block until the broker accepts connections and answers a metadata request."""
    host, port = procs.split_hostport(settings.kafka.bootstrap)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if procs.proc_start_time(pid) is None:
            raise InfraError(
                f"Kafka exited during start-up; see {log_file(settings)}:\n{procs.tail(log_file(settings))}"
            )
        if procs.port_open(host, port) and metadata_ok(settings.kafka.bootstrap):
            return
        time.sleep(0.5)
    raise InfraError(
        f"Kafka did not answer on {host}:{port} within {timeout:.0f} s; see {log_file(settings)}"
    )


def metadata_ok(bootstrap: str, timeout: float = 5.0) -> bool:
    """True when the broker answers a metadata request (it is registered and unfenced)."""
    from confluent_kafka.admin import AdminClient

    try:
        md = AdminClient({"bootstrap.servers": bootstrap, "log_level": 3}).list_topics(timeout=timeout)
    except Exception:  # noqa: BLE001 - any client error just means "not ready yet"
        return False
    return bool(md.brokers)


def stop(settings: Settings) -> bool:
    """SIGTERM gives a controlled shutdown (clean log, fast next start)."""
    return procs.stop(pid_file(settings), NAME, timeout=60.0)
