"""Read a whole compacted topic from its beginning, then follow it, in every worker.

For topics that are not a partitioned workload (model updates, supplied covariate forecasts): each
worker needs every message, so the consumer has no group, is assigned every partition, starts from
the beginning (rebuilding the latest state of every key) and then follows the topic. The consumer is
closed however the loop ends; a Kafka error propagates to the caller (``agents.periodic.keep_running``
logs it, counts it and reads the topic again after a back-off).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from stream_app.kafka.security import aiokafka_security
from stream_app.settings import KafkaSettings

Handler = Callable[[ConsumerRecord[bytes, bytes]], Awaitable[None]]


async def tail_from_beginning(kafka: KafkaSettings, topic: str, handle: Handler) -> None:
    """Hand every record of ``topic`` (all ``kafka.topic_partitions`` partitions, oldest first within
    each) to ``handle``, from the beginning and then as they come; returns only by an exception."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka.bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **aiokafka_security(kafka),
    )
    try:
        await consumer.start()
        consumer.assign([TopicPartition(topic, p) for p in range(kafka.topic_partitions)])
        await consumer.seek_to_beginning()
        while True:
            batches = await consumer.getmany(timeout_ms=500, max_records=500)
            for records in batches.values():
                for record in records:
                    await handle(record)
    finally:
        await consumer.stop()
