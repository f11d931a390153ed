"""Pure rendering of the Kafka files: Maven POM, server.properties, logging config.

Kept apart from the process code so the 3.9 / 4.x differences are unit-tested without a JVM.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

# Pinned so a resolve is reproducible and does not depend on Maven's default plugin version.
DEPENDENCY_PLUGIN_VERSION = "3.8.1"
# Kafka 4.x depends on log4j-core 2.24.3 (checked with `mvn dependency:tree` for 4.1.1).
LOG4J2_VERSION = "2.24.3"


@dataclass(frozen=True)
class Artifact:
    group: str
    artifact: str
    version: str


def major(version: str) -> int:
    """Major version number of a Kafka version string (``"4.1.1"`` -> 4)."""
    head = version.split(".", 1)[0]
    if not head.isdigit():
        raise ValueError(f"not a Kafka version: {version!r}")
    return int(head)


def logging_artifacts(version: str) -> list[Artifact]:
    """The SLF4J 1.x backend the broker needs: its POM brings slf4j-api but no binding."""
    if major(version) >= 4:
        return [Artifact("org.apache.logging.log4j", "log4j-slf4j-impl", LOG4J2_VERSION)]
    return [
        Artifact("org.slf4j", "slf4j-reload4j", "1.7.36"),
        Artifact("ch.qos.reload4j", "reload4j", "1.2.25"),
    ]


def render_pom(version: str) -> str:
    """A throw-away POM whose runtime closure is exactly the broker plus its logging backend."""
    deps = [Artifact("org.apache.kafka", "kafka_2.13", version), *logging_artifacts(version)]
    dep_xml = "\n".join(
        f"    <dependency><groupId>{escape(d.group)}</groupId><artifactId>{escape(d.artifact)}</artifactId>"
        f"<version>{escape(d.version)}</version></dependency>"
        for d in deps
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.kilowatch</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>{escape(version)}</version>
  <packaging>pom</packaging>
  <dependencies>
{dep_xml}
  </dependencies>
  <build>
    <plugins>
      <plugin>
        <groupId>org.apache.maven.plugins</groupId>
        <artifactId>maven-dependency-plugin</artifactId>
        <version>{DEPENDENCY_PLUGIN_VERSION}</version>
      </plugin>
    </plugins>
  </build>
</project>
"""


@dataclass(frozen=True)
class SaslSslListener:
    """An extra SASL_SSL listener (PLAIN and SCRAM-SHA-256/512) next to the PLAINTEXT one, for testing
    secured clients: ``bind`` is the listening address, ``advertised`` the host name clients use (the
    certificate's); PLAIN users come from ``plain_users``, SCRAM users are added when the storage is
    formatted (``kafka-storage format --add-scram``)."""

    bind: str
    advertised: str
    port: int
    keystore: Path  # PKCS#12 (key, certificate chain)
    keystore_password: str
    plain_users: dict[str, str]


def _jaas_value(text: str) -> str:
    """A JAAS option value inside server.properties (where a backslash is an escape of its own):
    test passwords only, so quotes, backslashes and line breaks are refused rather than escaped."""
    if any(c in text for c in '"\\\n\r'):
        raise ValueError("a listener password may not contain quotes, backslashes or line breaks")
    return f'"{text}"'


def secure_listener_props(listener: SaslSslListener) -> dict[str, str | int]:
    """server.properties entries of the SASL_SSL listener (merged by render_server_properties)."""
    plain_users = " ".join(f"user_{u}={_jaas_value(pw)}" for u, pw in listener.plain_users.items())
    prefix = "listener.name.sasl_ssl"
    scram = "org.apache.kafka.common.security.scram.ScramLoginModule"
    return {
        "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
        f"{prefix}.plain.sasl.jaas.config": (
            f"org.apache.kafka.common.security.plain.PlainLoginModule required {plain_users};"
        ),
        f"{prefix}.scram-sha-256.sasl.jaas.config": f"{scram} required;",
        f"{prefix}.scram-sha-512.sasl.jaas.config": f"{scram} required;",
        f"{prefix}.ssl.keystore.type": "PKCS12",
        f"{prefix}.ssl.keystore.location": str(listener.keystore),
        f"{prefix}.ssl.keystore.password": listener.keystore_password,
        f"{prefix}.ssl.key.password": listener.keystore_password,
        f"{prefix}.ssl.client.auth": "none",
    }


def render_server_properties(
    *,
    version: str,
    host: str,
    port: int,
    controller_port: int,
    log_dir: Path,
    partitions: int = 8,
    sasl_ssl: SaslSslListener | None = None,
) -> str:
    """Single combined broker+controller on loopback with static voters (works on 3.9 and 4.x);
    with ``sasl_ssl``, also a SASL_SSL listener (brokers and controller keep PLAINTEXT between them)."""
    props: dict[str, str | int] = {
        "process.roles": "broker,controller",
        "node.id": 1,
        "controller.quorum.voters": f"1@{host}:{controller_port}",
        "listeners": f"PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{host}:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(log_dir),
        "num.partitions": partitions,
        "auto.create.topics.enable": "false",
        "default.replication.factor": 1,
        "offsets.topic.replication.factor": 1,
        "transaction.state.log.replication.factor": 1,
        "transaction.state.log.min.isr": 1,
        "min.insync.replicas": 1,
        # Otherwise every consumer-group join waits 3 s: tests and demos would crawl.
        "group.initial.rebalance.delay.ms": 0,
        "log.retention.check.interval.ms": 300000,
    }
    if sasl_ssl is not None:
        props["listeners"] = f"{props['listeners']},SASL_SSL://{sasl_ssl.bind}:{sasl_ssl.port}"
        props["advertised.listeners"] = (
            f"{props['advertised.listeners']},SASL_SSL://{sasl_ssl.advertised}:{sasl_ssl.port}"
        )
        props["listener.security.protocol.map"] = (
            f"{props['listener.security.protocol.map']},SASL_SSL:SASL_SSL"
        )
        props |= secure_listener_props(sasl_ssl)
    if major(version) >= 4:
        props["share.coordinator.state.topic.replication.factor"] = 1
        props["share.coordinator.state.topic.min.isr"] = 1
    lines = [f"# generated by `kilowatch infra up` for Kafka {version}; edits are overwritten"]
    lines += [f"{k}={v}" for k, v in props.items()]
    return "\n".join(lines) + "\n"


_LOG4J1 = """\
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.org.apache.kafka=INFO
log4j.logger.kafka=INFO
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.request.logger=WARN
"""

_LOG4J2 = """\
status = warn
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
"""


def logging_config(version: str) -> tuple[str, str, str]:
    """(file name, content, JVM system property) of the logging config for this version."""
    if major(version) >= 4:
        return "log4j2.properties", _LOG4J2, "log4j2.configurationFile"
    return "log4j.properties", _LOG4J1, "log4j.configuration"


def logging_jvm_flag(version: str, path: Path) -> str:
    """``-D`` flag pointing the logging backend at ``path`` (log4j 1 wants a URL)."""
    _, _, prop = logging_config(version)
    value = path.as_uri() if major(version) < 4 else str(path)
    return f"-D{prop}={value}"


def random_cluster_id() -> str:
    """Same format as ``kafka-storage random-uuid``: 16 random bytes, URL-safe base64, no padding."""
    while True:
        cid = base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid
