"""Every Kafka client over SASL_SSL against a real broker: a throw-away Kafka 3.9 with a SASL_SSL
listener (PLAIN and SCRAM users, a certificate from a CA made here with openssl). A worker (faust
consumer, confluent producer, aiokafka follower) scores readings into anomalies; the confluent and
aiokafka clients produce and consume; wrong credentials and an unknown CA fail within seconds with
the broker's reason."""

from __future__ import annotations

import asyncio
import json
import math
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError as AIOKafkaError
from pydantic import SecretStr

from schemas.errors import InfraError
from stream_app.devtools.infra import kafka_secure, tls
from stream_app.devtools.infra.kafka_config import SaslSslListener
from stream_app.kafka.clients import consumer, produce, producer
from stream_app.kafka.security import aiokafka_security
from stream_app.kafka.topics import ensure_topics
from stream_app.settings import Settings

KILOWATCH = str(Path(sys.executable).parent / "kilowatch")
ROOT = Path(__file__).resolve().parents[2]
SCRAM_USER, SCRAM_PW = "meter-svc", "scram-pw-7f3a"
PLAIN_USER, PLAIN_PW = "plain-svc", "plain-pw-91bc"


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@dataclass(frozen=True)
class Broker:
    base: Settings
    port: int
    ca: Path
    other_ca: Path

    def settings(self, mechanism: str, user: str, password: str, **changes: Any) -> Settings:
        """Settings of a client of the SASL_SSL listener (host name checked against the certificate)."""
        return self.base.with_changes(
            kafka_bootstrap=f"localhost:{self.port}",
            kafka_security_protocol="SASL_SSL",
            kafka_sasl_mechanism=mechanism,
            kafka_sasl_username=user,
            kafka_sasl_password=SecretStr(password),
            kafka_ssl_cafile=str(self.ca),
            **changes,
        )


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    work = tmp_path_factory.mktemp("sasl-ssl-broker")
    ca = tls.make_ca(work / "tls")
    cert = tls.make_cert(work / "tls", ca, "broker", ["localhost"])
    keystore = tls.pkcs12(cert, ca, work / "tls" / "broker.p12", "keystore-pw")
    other_ca = tls.make_ca(work / "other", name="some other CA")
    plain_port, controller_port, sasl_port = _free_ports(3)
    base = Settings().with_changes(
        kafka_bootstrap=f"127.0.0.1:{plain_port}", kafka_controller_port=controller_port, topic_partitions=2
    )
    listener = SaslSslListener(
        "127.0.0.1", "localhost", sasl_port, keystore, "keystore-pw", {PLAIN_USER: PLAIN_PW}
    )
    kafka_secure.start(base, work / "kafka", listener, {SCRAM_USER: SCRAM_PW})
    try:
        yield Broker(base, sasl_port, ca.cert, other_ca.cert)
    finally:
        kafka_secure.stop(work / "kafka")


def _readings(asset: str, n: int, spike_at: int) -> list[tuple[bytes, bytes]]:
    out = []
    for i in range(n):
        value = 10.0 + 3.0 * math.sin(2 * math.pi * i / 96)
        if i == spike_at:
            value = 400.0
        ts = f"2024-01-{1 + i // 96:02d}T{(i % 96) // 4:02d}:{15 * (i % 4):02d}:00"
        out.append(
            (asset.encode(), json.dumps({"asset_id": asset, "timestamp": ts, "value": value}).encode())
        )
    return out


def _consume_all(settings: Settings, kind: str, want: int, timeout: float) -> list[dict[str, Any]]:
    """Read a topic from the beginning with the confluent consumer (SASL_SSL)."""
    c = consumer(settings, f"it-reader-{uuid.uuid4().hex[:6]}")
    c.subscribe([settings.kafka.topic(kind)])  # type: ignore[arg-type]
    items: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    try:
        while len(items) < want and time.monotonic() < deadline:
            for m in c.consume(1000, timeout=0.5):
                value = m.value()
                if m.error() is None and value is not None:
                    items.append(json.loads(value))
    finally:
        c.close()
    return items


async def _aiokafka_read(settings: Settings, kind: str, want: int, seconds: float) -> list[dict[str, Any]]:
    topic = settings.kafka.topic(kind)  # type: ignore[arg-type]
    c = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka.bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **aiokafka_security(settings.kafka),
    )
    await c.start()
    try:
        c.assign([TopicPartition(topic, p) for p in range(settings.kafka.topic_partitions)])
        await c.seek_to_beginning()
        items: list[dict[str, Any]] = []
        deadline = time.monotonic() + seconds
        while len(items) < want and time.monotonic() < deadline:
            for records in (await c.getmany(timeout_ms=500)).values():
                items += [json.loads(r.value) for r in records]
        return items
    finally:
        await c.stop()


def test_a_worker_scores_readings_into_anomalies_over_scram_sha_512(broker: Broker, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:6]
    changes: dict[str, Any] = {
        "topic_prefix": f"sasl-{tag}",
        "app_id": f"sasl-{tag}-worker",
        "state_dir": str(tmp_path / "state"),
        "emit_scores": True,
        "batch_within": 0.02,
        "results_sink_enabled": False,
        "retraining_enabled": False,
    }
    s = broker.settings("SCRAM-SHA-512", SCRAM_USER, SCRAM_PW, **changes)
    ensure_topics(s)
    env = dict(os.environ)
    env.update({f"KILOWATCH_{k.upper()}": str(v) for k, v in changes.items()})
    env.update(
        {
            "KILOWATCH_KAFKA_BOOTSTRAP": s.kafka.bootstrap,
            "KILOWATCH_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KILOWATCH_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "KILOWATCH_KAFKA_SASL_USERNAME": SCRAM_USER,
            "KILOWATCH_KAFKA_SASL_PASSWORD": SCRAM_PW,
            "KILOWATCH_KAFKA_SSL_CAFILE": str(broker.ca),
            "KILOWATCH_TOPIC_PARTITIONS": "2",
        }
    )
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        worker = subprocess.Popen(
            [KILOWATCH, "worker", "--worker-id", "w1"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        try:
            readings = _readings("meter-7", 300, spike_at=250)
            prod = producer(s)  # confluent over SASL_SSL
            for key, value in readings:
                produce(prod, s.kafka.topic("readings"), key, value)
            assert prod.flush(30) == 0
            scores = _consume_all(s, "scores", len(readings), timeout=90)
            assert worker.poll() is None, log_path.read_text()[-3000:]
            assert len(scores) == len(readings), log_path.read_text()[-3000:]
            anomalies = asyncio.run(_aiokafka_read(s, "anomalies", 1, seconds=20))
        finally:
            worker.terminate()
            worker.wait(30)
    flagged = {a["timestamp"][:16] for a in anomalies if a["asset_id"] == "meter-7"}
    assert "2024-01-03T14:30" in flagged, anomalies  # reading 250, the spike
    text = log_path.read_text()
    assert SCRAM_PW not in text
    assert "Authentication failed" not in text and "SSL handshake failed" not in text


def test_confluent_and_aiokafka_clients_with_plain_and_scram_sha_256(broker: Broker) -> None:
    tag = uuid.uuid4().hex[:6]
    plain = broker.settings("PLAIN", PLAIN_USER, PLAIN_PW, topic_prefix=f"cl-{tag}")
    scram = broker.settings("SCRAM-SHA-256", SCRAM_USER, SCRAM_PW, topic_prefix=f"cl-{tag}")
    ensure_topics(plain)
    prod = producer(plain)
    for i in range(20):
        produce(prod, plain.kafka.topic("forecasts"), b"a", json.dumps({"n": i}).encode())
    assert prod.flush(30) == 0

    async def aiokafka_produce() -> None:
        p = AIOKafkaProducer(bootstrap_servers=scram.kafka.bootstrap, **aiokafka_security(scram.kafka))
        await p.start()
        try:
            for i in range(20, 30):
                await p.send_and_wait(scram.kafka.topic("forecasts"), json.dumps({"n": i}).encode(), key=b"b")
        finally:
            await p.stop()

    asyncio.run(aiokafka_produce())
    by_aiokafka = asyncio.run(_aiokafka_read(plain, "forecasts", 30, seconds=20))  # PLAIN
    by_confluent = _consume_all(scram, "forecasts", 30, timeout=20)  # SCRAM-SHA-256
    assert sorted(x["n"] for x in by_aiokafka) == list(range(30))
    assert sorted(x["n"] for x in by_confluent) == list(range(30))


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-512"])
def test_wrong_credentials_fail_within_seconds_with_the_reason(broker: Broker, mechanism: str) -> None:
    user = PLAIN_USER if mechanism == "PLAIN" else SCRAM_USER
    s = broker.settings(mechanism, user, "wrong-password-123", topic_prefix="never")
    started = time.monotonic()
    with pytest.raises(InfraError) as err:
        ensure_topics(s, timeout=30)
    assert time.monotonic() - started < 5
    assert "refused the connection" in str(err.value) and "Authentication failed" in str(err.value)
    assert "wrong-password-123" not in str(err.value)

    async def aiokafka_start() -> None:
        p = AIOKafkaProducer(bootstrap_servers=s.kafka.bootstrap, **aiokafka_security(s.kafka))
        try:
            await asyncio.wait_for(p.start(), 20)
        finally:
            await p.stop()

    started = time.monotonic()
    with pytest.raises(AIOKafkaError):
        asyncio.run(aiokafka_start())
    assert time.monotonic() - started < 20


def test_a_broker_certificate_from_another_ca_is_refused(broker: Broker) -> None:
    s = broker.settings("SCRAM-SHA-256", SCRAM_USER, SCRAM_PW).with_changes(
        kafka_ssl_cafile=str(broker.other_ca)
    )
    started = time.monotonic()
    with pytest.raises(InfraError, match=r"certificate verify failed|SSL handshake failed"):
        ensure_topics(s, timeout=30)
    assert time.monotonic() - started < 5


def test_a_worker_with_wrong_credentials_exits_with_the_reason(broker: Broker, tmp_path: Path) -> None:
    env = dict(os.environ)
    env.update(
        {
            "KILOWATCH_STATE_DIR": str(tmp_path / "state"),
            "KILOWATCH_KAFKA_BOOTSTRAP": f"localhost:{broker.port}",
            "KILOWATCH_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KILOWATCH_KAFKA_SASL_MECHANISM": "SCRAM-SHA-256",
            "KILOWATCH_KAFKA_SASL_USERNAME": SCRAM_USER,
            "KILOWATCH_KAFKA_SASL_PASSWORD": "not-it-456",
            "KILOWATCH_KAFKA_SSL_CAFILE": str(broker.ca),
            "KILOWATCH_TOPIC_PREFIX": "never",
        }
    )
    res = subprocess.run(
        [KILOWATCH, "worker"], env=env, capture_output=True, text=True, timeout=60, cwd=ROOT, check=False
    )
    assert res.returncode != 0
    assert "refused the connection" in res.stdout + res.stderr
    assert "not-it-456" not in res.stdout + res.stderr
