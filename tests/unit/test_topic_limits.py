"""Topic size limits (issue 14): the readings topic takes what the worker accepts and no more; the
dead-letters topic takes any dead letter, whatever message it came from."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from schemas.events import DEAD_LETTER_PAYLOAD_BYTES
from stream_app.core.decode import dead_letter
from stream_app.kafka.topics import (
    KAFKA_DEFAULT_MAX_MESSAGE_BYTES,
    RECORD_OVERHEAD_BYTES,
    dead_letter_max_bytes,
    readings_max_message_bytes,
    topic_configs,
)
from stream_app.settings import Settings

AT = datetime(2026, 12, 7, tzinfo=UTC)


def test_readings_topic_takes_the_accepted_payload_and_no_more() -> None:
    s = Settings()
    conf = topic_configs(s, "readings")
    assert conf["max.message.bytes"] == str(s.worker.max_payload_bytes + RECORD_OVERHEAD_BYTES) == "69632"
    assert conf["retention.ms"] == str(s.kafka.readings_retention_ms)
    small = Settings(max_payload_bytes=2048)
    assert topic_configs(small, "readings")["max.message.bytes"] == str(2048 + RECORD_OVERHEAD_BYTES)
    assert readings_max_message_bytes(small) == 2048 + RECORD_OVERHEAD_BYTES


def test_dead_letters_topic_takes_the_largest_dead_letter() -> None:
    conf = topic_configs(Settings(), "dead-letters")
    limit = int(conf["max.message.bytes"])
    assert limit >= dead_letter_max_bytes() + RECORD_OVERHEAD_BYTES
    assert limit >= KAFKA_DEFAULT_MAX_MESSAGE_BYTES  # never below Kafka's default (producer batches)
    # the worst dead letter there is: every bounded field of control characters, escaped 6x in JSON
    worst = dead_letter(
        "r" * 249, 2**31 - 1, 2**63 - 1, b"\x01" * 5000, b"\x00" * 100_000, "\x02" * 10_000, AT
    )
    size = len(worst.model_dump_json().encode())
    assert 6 * DEAD_LETTER_PAYLOAD_BYTES < size <= dead_letter_max_bytes()


@given(
    topic=st.text(st.characters(codec="ascii"), max_size=249),
    key=st.none() | st.binary(max_size=3000),
    value=st.none() | st.binary(max_size=40_000) | st.text(max_size=20_000).map(str.encode),
    error=st.text(max_size=4000),
)
def test_any_dead_letter_fits_the_bound(
    topic: str, key: bytes | None, value: bytes | None, error: str
) -> None:
    letter = dead_letter(topic, 0, 0, key, value, error, AT)
    assert len(letter.model_dump_json().encode()) <= dead_letter_max_bytes()


def test_other_topics_keep_the_broker_default() -> None:
    assert "max.message.bytes" not in topic_configs(Settings(), "anomalies")
    assert topic_configs(Settings(), "model-updates") == {"cleanup.policy": "compact"}
