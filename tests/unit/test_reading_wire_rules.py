"""The decoder's wire rules that the published ReadingMessage schema states (issue 15)."""

from __future__ import annotations

import orjson
import pytest

from schemas.errors import InvalidReading
from stream_app.core.decode import decode_fast, decode_reading

MAX = 64 * 1024


def _both(key: bytes | None, body: dict[str, object]) -> None:
    payload = orjson.dumps(body)
    for decode in (decode_reading, decode_fast):
        with pytest.raises(InvalidReading):
            decode(key, payload, max_bytes=MAX)


@pytest.mark.parametrize("stamp", ["1700000000", "1700000000.5", " 1700000000"])
def test_a_number_in_a_string_is_not_a_timestamp(stamp: str) -> None:
    """pydantic would read it as Unix seconds; the contract says ISO 8601 text."""
    _both(b"m1", {"timestamp": stamp, "value": 1.0})


@pytest.mark.parametrize("stamp", ["9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+05:00"])
def test_a_time_outside_the_calendar_in_utc_is_refused_not_raised(stamp: str) -> None:
    """It was an OverflowError out of the decoder (a 'failed' dead letter with a traceback)."""
    _both(b"m1", {"timestamp": stamp, "value": 1.0})


@pytest.mark.parametrize(("key", "asset"), [(b" m1", None), (b"m1\n", None), (None, " m1"), (None, "m1 ")])
def test_the_asset_id_is_taken_exactly_as_sent(key: bytes | None, asset: str | None) -> None:
    """A key of ' m1' hashes to another partition than 'm1': stripping it would split one asset's
    state over two partitions, so it is refused like the schema refuses it."""
    body: dict[str, object] = {"timestamp": "2025-07-03T10:00:00Z", "value": 1.0}
    if asset is not None:
        body["asset_id"] = asset
    _both(key, body)


def test_key_only_and_key_equal_to_body_are_taken() -> None:
    body = {"timestamp": "2025-07-03T10:00:00Z", "value": 1.0}
    assert decode_reading(b"m1", orjson.dumps(body), max_bytes=MAX).asset_id == "m1"
    assert decode_fast(b"m1", orjson.dumps({**body, "asset_id": "m1"}), max_bytes=MAX).asset_id == "m1"
