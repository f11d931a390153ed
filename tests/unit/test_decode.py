"""The hot-path decoder agrees with the ``Reading`` model on every payload of a mixed corpus."""

from __future__ import annotations

import itertools
import time
import unicodedata
from collections.abc import Iterator

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.errors import InvalidReading
from stream_app.core.decode import decode_fast, decode_reading

TIMESTAMPS = [
    "2025-07-03T10:00:00Z",
    "2025-07-03T10:00:00+02:00",
    "2025-07-03T10:00:00.250-05:30",
    "2025-07-03 10:00:00",
    "2025-07-03T10:00",
    "2025-07-03",
    "20250703T100000Z",
    " 2025-07-03T10:00:00Z",
    "2025-13-03T10:00:00Z",
    "yesterday",
    1751536800,
    1751536800.5,
    "1969-12-31T23:59:59Z",
    "1970-01-01T00:00:00Z",
    "1970-01-01T02:00:00+03:00",
    "0001-01-01T00:00:00",
    None,
]
VALUES = [120.5, 0, -3, 1e308, "12.5", True, None, [1], 10**18]
ASSETS = [None, "meter-1", "meter 1", " meter-1", "meter-1\n", "a" * 129, "m:1/2.x_y", 7]
EXTRAS = [
    {},
    {"temp": 25.1},
    {"temp": "hot"},
    {"unit": "kWh"},
    {"unit": 5},
    {"unit": "kW\x00h"},
    {"unit": "kW\u0085h"},
    {"unit": "m\u00b3"},
    {"9bad": 1.0},
    {"covariates": {"t": 1}},
]
KEYS = [None, b"meter-1", b"\xff\xfe"]


@pytest.fixture(autouse=True)
def _local_time_is_not_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Naive timestamps mean UTC, whatever the machine's zone: run with a zone that is not UTC."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def _outcome(fn, key, payload):  # type: ignore[no-untyped-def]
    try:
        r = fn(key, payload, max_bytes=4096)
    except InvalidReading as exc:
        return ("invalid", str(exc))
    if hasattr(r, "timestamp"):
        return ("ok", r.asset_id, r.timestamp.timestamp(), r.value)
    return ("ok", r.asset_id, r.ts, r.value)


@pytest.mark.parametrize("key", KEYS)
def test_fast_path_matches_the_model(key: bytes | None) -> None:
    cases = 0
    for stamp, value, asset, extra in itertools.product(TIMESTAMPS, VALUES, ASSETS, EXTRAS):
        body: dict[str, object] = {"timestamp": stamp, "value": value, **extra}
        if asset is not None:
            body["asset_id"] = asset
        payload = orjson.dumps(body)
        fast, model = _outcome(decode_fast, key, payload), _outcome(decode_reading, key, payload)
        assert fast[0] == model[0], (body, fast, model)
        if fast[0] == "ok":
            assert fast[1:] == model[1:], (body, fast, model)
        else:
            assert fast[1] == model[1]
        cases += 1
    assert cases == len(TIMESTAMPS) * len(VALUES) * len(ASSETS) * len(EXTRAS)


def test_fast_path_rejects_what_it_cannot_parse_with_the_models_reason() -> None:
    for payload in (b"{oops", b"[1]", None, b"x" * 5000):
        with pytest.raises(InvalidReading):
            decode_fast(b"m", payload, max_bytes=4096)


@pytest.mark.parametrize(
    ("field", "bad", "reason"),
    [
        ("timestamp", 1717200000, "timestamp: must be an ISO 8601 string"),
        ("timestamp", 1717200000123.0, "timestamp: must be an ISO 8601 string"),
        ("timestamp", "0001-01-01T00:00:00Z", "timestamp: is before 1970-01-01"),
        ("timestamp", "1970-01-01T02:00:00+03:00", "timestamp: is before 1970-01-01"),
        ("unit", "kW\x00\x11h", "unit: String should match pattern"),
        ("unit", "\x1b[31mkWh", "unit: String should match pattern"),
    ],
)
def test_numbers_as_times_times_before_the_epoch_and_control_characters_are_refused(
    field: str, bad: object, reason: str
) -> None:
    """The poison fuzz (bench/hardening) found these scored instead of dead-lettered: a number could be
    seconds or milliseconds, a reading from year 1 has a clock never set, and a unit is shown in logs."""
    body = {"asset_id": "m-1", "timestamp": "2025-07-03T10:00:00Z", "value": 1.0, field: bad}
    for decode in (decode_fast, decode_reading):
        with pytest.raises(InvalidReading, match=reason.replace("[", r"\[")):
            decode(None, orjson.dumps(body), max_bytes=4096)


@settings(max_examples=300, deadline=None)
@given(unit=st.text(max_size=16))
def test_a_unit_is_taken_only_without_control_characters(unit: str) -> None:
    body = orjson.dumps({"asset_id": "m-1", "timestamp": "2025-07-03T10:00:00Z", "value": 1.0, "unit": unit})
    fast, model = _outcome(decode_fast, None, body), _outcome(decode_reading, None, body)
    assert fast == model
    if not any(unicodedata.category(c) == "Cc" for c in unit):
        assert model[0] == "ok", (unit, model)
    if model[0] == "ok":  # what is kept (after the model strips surrounding whitespace) is printable
        kept = decode_reading(None, body, max_bytes=4096).unit or ""
        assert not any(unicodedata.category(c) == "Cc" for c in kept), (unit, kept)
