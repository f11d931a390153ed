"""The hot-path decoder agrees with the ``Reading`` model on every payload of a mixed corpus."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator

import orjson
import pytest

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
