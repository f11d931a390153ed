"""A poison message costs one bounded dead letter (issue 14): whatever arrives on the readings topic,
its dead letter keeps the first 16 KiB of the payload and 1 KiB of the key, with the size and SHA-256
of the whole, so it always fits the dead-letter topic (before, a 900 kB payload made a dead letter the
producer refused, and the worker crashed on it again after every restart)."""

from __future__ import annotations

import base64
import hashlib

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.events import DEAD_LETTER_KEY_BYTES, DEAD_LETTER_PAYLOAD_BYTES, DeadLetter
from stream_app.core.decode import dead_payload
from stream_app.scoring.pipeline import RawMessage, ScoringPipeline
from stream_app.scoring.state import InMemoryStore
from stream_app.settings import Settings

BOUND = 128 * 1024  # far below any producer's or broker's 1 MB message limit


def letters_of(key: bytes | None, value: bytes | None) -> list[tuple[bytes | None, bytes]]:
    out = ScoringPipeline(Settings()).process([RawMessage(key, value, "readings", 3, 7)], InMemoryStore(96))
    assert out.outcomes == {"dead_lettered": 1}
    return out.dead_letters


def test_a_900_kb_binary_payload_makes_a_bounded_dead_letter() -> None:
    value = bytes(range(256)) * 3516  # 900,096 bytes, not UTF-8
    ((key, body),) = letters_of(b"meter-1", value)
    assert len(body) < BOUND and key == b"meter-1"
    letter = DeadLetter.model_validate_json(body)
    assert letter.payload_encoding == "base64" and letter.payload_truncated
    assert base64.b64decode(letter.payload) == value[:DEAD_LETTER_PAYLOAD_BYTES]
    assert letter.payload_bytes == len(value) and letter.payload_sha256 == hashlib.sha256(value).hexdigest()
    assert (letter.source_topic, letter.partition, letter.offset) == ("readings", 3, 7)


def test_control_characters_inside_json_do_not_blow_up_the_dead_letter() -> None:
    value = b'{"timestamp": "2025-01-01T00:00:00Z", "value": 1, "note": "' + b"\x01" * 170_000 + b'"}'
    ((_, body),) = letters_of(b"meter-2", value)
    assert len(body) < BOUND  # each control character is 6 bytes of JSON: only 16 KiB of them are kept
    letter = DeadLetter.model_validate_json(body)
    assert letter.payload_encoding == "utf-8" and letter.payload.encode() == value[:DEAD_LETTER_PAYLOAD_BYTES]


def test_a_huge_key_is_cut_in_the_letter_and_in_its_kafka_key() -> None:
    ((key, body),) = letters_of(b"k" * 900_000, b"not json")
    assert key is not None and len(key) == DEAD_LETTER_KEY_BYTES
    letter = DeadLetter.model_validate_json(body)
    assert letter.key == "k" * DEAD_LETTER_KEY_BYTES and not letter.payload_truncated


def test_utf8_cut_inside_a_character_keeps_whole_characters() -> None:
    value = "é".encode() * 20_000  # 2 bytes each: the 16 KiB cut falls on a boundary or inside one
    for shift in (b"", b"x"):
        d = dead_payload(shift + value)
        assert d.encoding == "utf-8" and d.truncated
        assert (shift + value).decode().startswith(d.text)
        assert DEAD_LETTER_PAYLOAD_BYTES - 1 <= len(d.text.encode()) <= DEAD_LETTER_PAYLOAD_BYTES


@settings(max_examples=60, deadline=None)
@given(
    key=st.none() | st.binary(max_size=3000),
    value=st.none() | st.binary(max_size=40_000) | st.text(max_size=20_000).map(str.encode),
)
def test_any_message_gets_at_most_one_bounded_dead_letter(key: bytes | None, value: bytes | None) -> None:
    out = ScoringPipeline(Settings()).process([RawMessage(key, value, "readings", 0, 1)], InMemoryStore(96))
    assert len(out.dead_letters) + out.outcomes.get("scored", 0) == 1  # scored, or one dead letter
    for letter_key, body in out.dead_letters:
        assert len(body) < BOUND and (letter_key is None or len(letter_key) <= DEAD_LETTER_KEY_BYTES)
        letter = orjson.loads(body)
        assert letter["payload_bytes"] == len(value or b"")
