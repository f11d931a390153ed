"""Create the topics kilowatch uses, with partitions and configs from settings (idempotent)."""

from __future__ import annotations

import logging

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from schemas.errors import InfraError
from stream_app.settings import TOPIC_KINDS, Settings, TopicKind

log = logging.getLogger(__name__)


def topic_configs(settings: Settings, kind: TopicKind) -> dict[str, str]:
    """Per-topic configs: retention for data topics, compaction for model updates."""
    if kind == "readings":
        return {"retention.ms": str(settings.kafka.readings_retention_ms)}
    if kind == "dead-letters":
        return {"retention.ms": str(settings.kafka.dead_letter_retention_ms)}
    if kind == "model-updates":
        # The newest update per asset is what matters; compaction keeps it forever.
        return {"cleanup.policy": "compact"}
    return {}


def admin(settings: Settings) -> AdminClient:
    return AdminClient({"bootstrap.servers": settings.kafka.bootstrap, "socket.timeout.ms": 10_000})


def ensure_topics(settings: Settings, timeout: float = 30.0) -> list[str]:
    """Create missing topics; fail loudly when an existing one has the wrong partition count.

    Keyed topics must share one partition count: faust tables are co-partitioned with the readings
    topic, and an asset must map to the same partition in every topic.
    """
    client = admin(settings)
    try:
        meta = client.list_topics(timeout=timeout)
    except KafkaException as exc:
        raise InfraError(f"Kafka at {settings.kafka.bootstrap} is not reachable: {exc}") from None
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
