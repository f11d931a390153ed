"""Create the topics kilowatch uses, with partitions and configs from settings (idempotent).

Message size limits (issue 14), set per topic at creation (``max.message.bytes`` bounds a whole
record *batch* since Kafka 0.11):

* readings: the payload the worker accepts (``worker.max_payload_bytes``; larger ones would only be
  dead-lettered) plus ``RECORD_OVERHEAD_BYTES`` for the key, headers and framing of one record in its
  batch. The broker refuses anything larger at the door, to the producer that sent it. A producer
  must therefore keep its batches within the limit: ``stream_app.kafka.clients.producer`` sets
  librdkafka's ``batch.size`` to it; aiokafka's default batch (16 KiB) is within it; other device
  producers need ``batch.size`` (librdkafka) or ``max.request.size``/``batch.size`` (Java) at most
  ``readings_max_message_bytes`` — a larger batch is refused whole.
* dead letters: a dead letter is bounded whatever arrived (``dead_letter_max_bytes``, ~120 kB
  worst case: 16 KiB of control characters escape to 96 kB of JSON); the topic takes the larger of
  that and Kafka's default (1,048,588, above a full librdkafka batch), whatever the broker's default.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from schemas.errors import InfraError
from schemas.events import DEAD_LETTER_KEY_BYTES, DEAD_LETTER_PAYLOAD_BYTES
from stream_app.core.decode import MAX_ERROR_CHARS
from stream_app.kafka.security import client_security
from stream_app.settings import TOPIC_KINDS, Settings, TopicKind

log = logging.getLogger(__name__)

# Key (asset ids <= 128 characters; the worker dead-letters longer keys but the broker must take them
# to), headers and the framing of one record and its batch (61 bytes of batch header, varints).
RECORD_OVERHEAD_BYTES = 4096
# Kafka's default topic limit: above any producer's default batch (librdkafka 1,000,000 bytes,
# faust's 256 KiB, Java's 16 KiB).
KAFKA_DEFAULT_MAX_MESSAGE_BYTES = 1_048_588
JSON_ESCAPE = 6  # the most JSON bytes one input byte (a control character: \u0000) becomes
TOPIC_NAME_MAX = 249  # Kafka's longest topic name


def readings_max_message_bytes(settings: Settings) -> int:
    """The readings topic's ``max.message.bytes``: one accepted reading with its key and framing."""
    return settings.worker.max_payload_bytes + RECORD_OVERHEAD_BYTES


def dead_letter_max_bytes() -> int:
    """Upper bound of a dead letter's JSON (``stream_app.core.decode.dead_letter``): every bounded
    text field at its worst escaping, plus the fixed fields (names, numbers, digest, timestamp)."""
    texts = DEAD_LETTER_PAYLOAD_BYTES + DEAD_LETTER_KEY_BYTES + MAX_ERROR_CHARS + TOPIC_NAME_MAX
    return JSON_ESCAPE * texts + 1024


def dead_letters_max_message_bytes() -> int:
    """Set explicitly, so a broker configured with a smaller default still takes a dead letter."""
    return max(KAFKA_DEFAULT_MAX_MESSAGE_BYTES, dead_letter_max_bytes() + RECORD_OVERHEAD_BYTES)


def topic_configs(settings: Settings, kind: TopicKind) -> dict[str, str]:
    """Per-topic configs: retention for data topics, compaction for model updates, size limits for the
    readings and dead letters (module docstring)."""
    if kind == "readings":
        return {
            "retention.ms": str(settings.kafka.readings_retention_ms),
            "max.message.bytes": str(readings_max_message_bytes(settings)),
        }
    if kind == "dead-letters":
        return {
            "retention.ms": str(settings.kafka.dead_letter_retention_ms),
            "max.message.bytes": str(dead_letters_max_message_bytes()),
        }
    if kind in ("model-updates", "covariate-forecasts"):
        # The newest update (covariate forecast) per asset is what matters; compaction keeps it forever,
        # so a restarted worker reads every asset's latest one again.
        return {"cleanup.policy": "compact"}
    return {}


def admin(settings: Settings, on_error: Callable[[KafkaError], None] | None = None) -> AdminClient:
    conf: dict[str, Any] = {
        "bootstrap.servers": settings.kafka.bootstrap,
        "socket.timeout.ms": 10_000,
        **client_security(settings.kafka, "confluent"),
    }
    if on_error is not None:
        conf["error_cb"] = on_error
    return AdminClient(conf)


_REFUSED = (KafkaError._AUTHENTICATION, KafkaError._SSL)  # noqa: SLF001 - librdkafka's local error codes


def refusal(errors: list[KafkaError]) -> KafkaError | None:
    """The first error that retrying cannot cure: credentials refused, a TLS handshake failure (an
    unknown CA, a certificate for another host) or a security protocol the listener does not speak."""
    for err in errors:
        text = err.str()
        if err.code() in _REFUSED or "SSL handshake failed" in text:
            return err
    return None


def list_topics_or_fail(
    client: AdminClient, settings: Settings, errors: list[KafkaError], timeout: float
) -> Any:
    """Metadata of the cluster, or an ``InfraError`` that names the cause: within a second of a
    refused login or TLS handshake (librdkafka would otherwise retry until ``timeout``)."""
    deadline = time.monotonic() + timeout
    where = f"Kafka at {settings.kafka.bootstrap} ({settings.kafka.security_protocol})"
    while True:
        try:
            return client.list_topics(timeout=max(0.1, min(1.0, deadline - time.monotonic())))
        except KafkaException as exc:
            client.poll(0)  # serves error_cb
            refused = refusal(errors)
            if refused is not None:
                raise InfraError(f"{where} refused the connection: {refused.str()}") from None
            if time.monotonic() >= deadline:
                raise InfraError(f"{where} is not reachable: {exc}") from None


def ensure_topics(settings: Settings, timeout: float = 30.0) -> list[str]:
    """Create missing topics; fail loudly when an existing one has the wrong partition count.

    Keyed topics must share one partition count: faust tables are co-partitioned with the readings
    topic, and an asset must map to the same partition in every topic.
    """
    errors: list[KafkaError] = []
    client = admin(settings, errors.append)
    meta = list_topics_or_fail(client, settings, errors, timeout)
    created: list[str] = []
    wanted = [
        NewTopic(
            settings.kafka.topic(kind),
            num_partitions=settings.kafka.topic_partitions,
            replication_factor=settings.kafka.topic_replication,
            config=topic_configs(settings, kind),
        )
        for kind in TOPIC_KINDS
        if settings.kafka.topic(kind) not in meta.topics
    ]
    for kind in TOPIC_KINDS:
        name = settings.kafka.topic(kind)
        if name in meta.topics and len(meta.topics[name].partitions) != settings.kafka.topic_partitions:
            raise InfraError(
                f"topic {name} has {len(meta.topics[name].partitions)} partitions, "
                f"settings say {settings.kafka.topic_partitions}"
            )
    if wanted:
        for name, fut in client.create_topics(wanted, operation_timeout=timeout).items():
            try:
                fut.result(timeout=timeout)
                created.append(name)
            except KafkaException as exc:
                if exc.args and exc.args[0].code() == 36:  # TOPIC_ALREADY_EXISTS: a racing worker won
                    continue
                raise InfraError(f"cannot create topic {name}: {exc}") from None
    if created:
        log.info("created topics: %s", ", ".join(created))
    return created
