"""The published wire form of a reading (``ReadingMessage`` in the AsyncAPI document: its JSON Schema
and its Kafka key binding) against the worker's decoder, on generated messages.

- Every message the published contract accepts, the decoder accepts (a producer that validates
  against the schema never has a reading dead-lettered for its form).
- For where the asset id travels (key, body, both, neither; valid or not), the decoder accepts
  exactly what the contract accepts.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

import jsonschema_rs
import orjson
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from schemas.errors import InvalidReading
from schemas.events import ASSET_ID_PATTERN, COVARIATE_NAME, MAX_COVARIATES
from stream_app.core.decode import decode_fast, decode_reading
from stream_app.devtools.export import asyncapi
from stream_app.settings import Settings

MAX_BYTES = 64 * 1024
DOC = asyncapi(Settings.model_construct())
MESSAGE = DOC["components"]["messages"]["ReadingMessage"]
SCHEMAS = DOC["components"]["schemas"]
BODY = jsonschema_rs.validator_for(SCHEMAS["ReadingMessage"], validate_formats=True)
KEY = jsonschema_rs.validator_for(MESSAGE["bindings"]["kafka"]["key"])

MISSING = object()


def contract_accepts(key: bytes | None, body: dict[str, Any]) -> bool:
    """The published contract: the body's schema, the key's binding, and the rule in their
    descriptions (the asset id in the key or the body; if both, equal; an empty key is none)."""
    if not BODY.is_valid(body):
        return False
    body_id = body.get("asset_id")
    if not key:
        return body_id is not None
    try:
        key_id = key.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return KEY.is_valid(key_id) and (body_id is None or body_id == key_id)


def decoder_accepts(key: bytes | None, body: dict[str, Any]) -> bool:
    payload = orjson.dumps(body)
    try:
        slow = decode_reading(key, payload, max_bytes=MAX_BYTES)
    except InvalidReading:
        slow = None
    try:
        fast = decode_fast(key, payload, max_bytes=MAX_BYTES)
    except InvalidReading:
        fast = None
    assert (slow is None) == (fast is None), (key, body)
    return slow is not None


valid_ids = st.from_regex(re.compile(ASSET_ID_PATTERN.removesuffix("$") + r"\Z"), fullmatch=True)
asset_ids = st.one_of(
    valid_ids,
    st.sampled_from(["", " m1", "m1 ", "m1\n", "has space", "-lead", "x" * 129, "zähler", "m\x00"]),
)
keys = st.one_of(
    st.none(),
    st.just(b""),
    asset_ids.map(str.encode),
    st.sampled_from([b"\xff\xfe", b"m1\xff"]),
)


def _offset(minutes: int) -> timezone:
    return timezone(timedelta(minutes=minutes))


stamps = st.one_of(
    st.builds(
        lambda dt, off, sep, zulu: (
            dt.replace(tzinfo=_offset(off)).isoformat(sep=sep).replace("+00:00", "Z" if zulu else "+00:00")
        ),
        st.datetimes(min_value=datetime(1965, 1, 1), max_value=datetime(9999, 12, 31)),
        st.integers(-18 * 60 + 1, 18 * 60 - 1),
        st.sampled_from(["T", "t", " "]),
        st.booleans(),
    ),
    st.sampled_from(
        [
            "1970-01-01T00:00:00Z",
            "1970-01-01T00:30:00+01:00",
            "1969-12-31T23:59:59Z",
            "2025-07-03T23:59:60Z",
            "2025-07-03T10:00:00",
            "2025-07-03",
            "2025-02-30T10:00:00Z",
            "1700000000",
            "2025-07-03T10:00:00.123456789Z",
            "9999-12-31T23:00:00-05:00",
            "0001-01-01T00:00:00+05:00",
        ]
    ),
    st.integers(0, 2_000_000_000),
)
numbers = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(-(10**16), 10**16),
    st.floats(-1e15, 1e15),
)
values = st.one_of(numbers, st.sampled_from(["12.5", True, None, [1]]))
covariate_names = st.one_of(
    st.from_regex(re.compile(COVARIATE_NAME.removesuffix("$") + r"\Z"), fullmatch=True),
    st.sampled_from(["covariates", "control", "9lives", "with space", "x" * 65]),
)
units = st.one_of(st.text(max_size=20), st.sampled_from(["kWh", " kW ", "k\x07W", None]))


@st.composite
def messages(draw: st.DrawFn) -> tuple[bytes | None, dict[str, Any]]:
    body: dict[str, Any] = {}
    covariates = draw(st.dictionaries(covariate_names, values, max_size=MAX_COVARIATES + 3))
    body.update(covariates)
    asset = draw(st.one_of(st.just(MISSING), st.none(), asset_ids, st.integers(0, 9)))
    if asset is not MISSING:
        body["asset_id"] = asset
    body["timestamp"] = draw(stamps)
    body["value"] = draw(values)
    unit = draw(st.one_of(st.just(MISSING), units))
    if unit is not MISSING:
        body["unit"] = unit
    key = draw(st.one_of(keys, st.just(str(asset).encode())))
    return key, body


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages())
@example((None, {"timestamp": "2025-07-03T10:00:00Z", "value": 1.5, "temp": 21.0}))
@example((b"m1", {"timestamp": "1970-01-01T00:30:00+01:00", "value": 1.5}))
@example((b"m1", {"timestamp": "2025-07-03T10:00:00Z", "value": 1.5, "covariates": 2.0}))
@example((b"m1", {"timestamp": "9999-12-31T23:00:00-05:00", "value": 1.5}))
def test_every_message_the_contract_accepts_is_decoded(message: tuple[bytes | None, dict[str, Any]]) -> None:
    key, body = message
    if contract_accepts(key, body):
        assert decoder_accepts(key, body), (key, body)


@settings(max_examples=400, deadline=None)
@given(
    key=keys,
    asset=st.one_of(st.just(MISSING), st.none(), asset_ids, st.integers(0, 9)),
    same=st.booleans(),
)
def test_the_asset_id_rule_is_the_same_in_contract_and_decoder(
    key: bytes | None, asset: Any, same: bool
) -> None:
    body: dict[str, Any] = {"timestamp": "2025-07-03T10:00:00Z", "value": 120.5, "temp": 25.1}
    if asset is not MISSING:
        body["asset_id"] = asset
        if same and isinstance(asset, str):
            key = asset.encode()
    assert contract_accepts(key, body) == decoder_accepts(key, body), (key, body)


def test_the_device_payload_of_the_readme_is_in_the_contract() -> None:
    """Keyed by the asset, without asset_id in the body: what the README says devices send."""
    body = {"timestamp": "2025-07-03T10:00:00Z", "value": 120.5, "temp": 25.1, "production": 500}
    assert contract_accepts(b"meter-7", body)
    assert decoder_accepts(b"meter-7", body)
    assert not contract_accepts(None, body) and not decoder_accepts(None, body)
