"""Which Kafka errors make the API replace its idempotent producer (see api.services.resources)."""

from __future__ import annotations

import pytest
from aiokafka import errors

from api.services.resources import breaks_producer


@pytest.mark.parametrize(
    "exc",
    [
        errors.OutOfOrderSequenceNumber(),
        errors.ProducerFenced(),
        errors.UnknownProducerId(),
        errors.InvalidProducerEpoch(),
        errors.KafkaTimeoutError(),  # a batch expired: its sequence numbers are lost to the broker
        errors.ProducerClosed(),
        errors.IllegalStateError(),
    ],
)
def test_fatal_errors_replace_the_producer(exc: Exception) -> None:
    assert breaks_producer(exc)


@pytest.mark.parametrize(
    "exc",
    [
        errors.NotLeaderForPartitionError(),  # retriable: aiokafka retries these itself
        errors.KafkaConnectionError(),
        errors.RequestTimedOutError(),
        errors.MessageSizeTooLargeError(),  # about one request's records, not the producer
        errors.RecordTooLargeError(),
        OSError("not a Kafka error"),
    ],
)
def test_other_errors_keep_it(exc: Exception) -> None:
    assert not breaks_producer(exc)
