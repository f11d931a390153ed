"""The poison-fuzz corpus: valid readings of a few hundred assets mixed with malformed messages of
every kind (pure: no Kafka here, so the integration test and the script build the same corpus).

Every malformed message is malformed on purpose and for one stated reason (its ``kind``); the runner
checks what the worker did with it. A kind is generated with a seeded ``random.Random`` so a run
is reproducible (same seed, same bytes)."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson

START = datetime(2025, 1, 1, tzinfo=UTC)
STEP = timedelta(minutes=15)
# Malformed messages carry a timestamp older than every valid reading: one the worker wrongly
# accepts is then "late" for its asset and cannot push the asset's valid readings into "late".
POISON_TS = "2024-06-01T00:00:00Z"


@dataclass(frozen=True, slots=True)
class Message:
    kind: str  # "valid" or the poison kind
    key: bytes | None
    value: bytes | None


def asset_ids(n_assets: int) -> list[str]:
    return [f"fz-{i:04d}" for i in range(n_assets)]


def valid_readings(n_assets: int, per_asset: int) -> list[Message]:
    """``per_asset`` readings of each asset, 15 minutes apart, interleaved in time order."""
    out = []
    for step in range(per_asset):
        ts = (START + step * STEP).strftime("%Y-%m-%dT%H:%M:%SZ")
        for i, asset in enumerate(asset_ids(n_assets)):
            value = 100.0 + 25.0 * ((step + i) % 96) / 96 + (i % 7)
            out.append(Message("valid", asset.encode(), orjson.dumps({"timestamp": ts, "value": value})))
    return out


def _reading(asset: str, **fields: object) -> dict[str, object]:
    body: dict[str, object] = {"asset_id": asset, "timestamp": POISON_TS, "value": 1.0}
    body.update(fields)
    return body


Gen = Callable[[random.Random, str], tuple[bytes | None, bytes | None]]


def _binary(r: random.Random, asset: str) -> tuple[bytes | None, bytes | None]:
    return asset.encode(), r.randbytes(r.choice([1, 7, 64, 512, 4096, 60_000]))


def _about_1mb(r: random.Random, asset: str) -> tuple[bytes | None, bytes | None]:
    """Binary or JSON from just over the worker's 64 KiB payload limit (under the readings topic's
    69,632-byte message limit) to ~1.05 MB (over Kafka's default 1,048,588)."""
    size = r.choice([66_000, 70_000, 300_000, 900_000, 1_000_000, 1_040_000, 1_048_000, 1_060_000])
    if r.random() < 0.5:
        return asset.encode(), r.randbytes(size)
    pad = "x" * (size - 80)
    return asset.encode(), orjson.dumps(_reading(asset, unit=pad))


def _deep_json(r: random.Random, asset: str) -> tuple[bytes | None, bytes | None]:
    depth = r.choice([1_000, 20_000, 100_000])
    if r.random() < 0.5:
        return asset.encode(), b"[" * depth + b"]" * depth
    nested = b'{"a":' * depth + b"1" + b"}" * depth
    return asset.encode(), (
        b'{"asset_id":"' + asset.encode() + b'","timestamp":"' + POISON_TS.encode() + b'","value":1.0,'
        b'"covariates":' + nested + b"}"
    )


def _control_chars(r: random.Random, asset: str) -> tuple[bytes | None, bytes | None]:
    ctrl = "".join(chr(r.randrange(0, 32)) for _ in range(r.choice([8, 200, 170_000])))
    choice = r.randrange(3)
    if choice == 0:  # escaped control characters in a JSON string: valid JSON, invalid asset id
        return asset.encode(), orjson.dumps(_reading(asset + ctrl))
    if choice == 1:  # in the unit, too long for it
        return asset.encode(), orjson.dumps(_reading(asset, unit="kWh" + ctrl + "x" * 16))
    raw = ctrl.encode()  # raw control bytes inside a JSON string: invalid JSON
    return asset.encode(), b'{"asset_id":"' + asset.encode() + raw + b'","timestamp":"x","value":1}'


def _control_chars_in_unit(r: random.Random, asset: str) -> tuple[bytes | None, bytes | None]:
    """Control characters inside a unit short enough for the unit's 16-character limit."""
    ctrl = "".join(chr(r.randrange(0, 32)) for _ in range(r.randrange(1, 9)))
    return asset.encode(), orjson.dumps(_reading(asset, unit="kW" + ctrl + "h"))


def _huge_number(r: random.Random, asset: str) -> tuple[bytes | None, bytes | None]:
    literal = r.choice(
        [b"1e400", b"1e308", b"-1e200", b"1e16", b"-1.7976931348623157e308", str(9**999).encode()]
    )
    field = r.choice([b"value", b"temp"])
    head = b'{"asset_id":"' + asset.encode() + b'","timestamp":"' + POISON_TS.encode() + b'",'
    if field == b"value":
        return asset.encode(), head + b'"value":' + literal + b"}"
    return asset.encode(), head + b'"value":1.0,"temp":' + literal + b"}"


def _nan_infinity(r: random.Random, asset: str) -> tuple[bytes | None, bytes | None]:
    literal = r.choice([b"NaN", b"Infinity", b"-Infinity", b"nan", b"inf"])
    return asset.encode(), (
        b'{"asset_id":"'
        + asset.encode()
        + b'","timestamp":"'
        + POISON_TS.encode()
        + b'","value":'
        + literal
        + b"}"
    )


def _wrong_types(r: random.Random, asset: str) -> tuple[bytes | None, bytes | None]:
    bodies: list[object] = [
        _reading(asset, value="12.5"),
        _reading(asset, value=True),
        _reading(asset, value=None),
        _reading(asset, value=[1.0]),
        _reading(asset, value={"v": 1}),
        _reading(asset, timestamp=None),
        _reading(asset, unit=5),
        _reading(asset, covariates=[1, 2]),
        _reading(asset, covariates={"temp": "hot"}),
        [asset, "2025-01-02T00:00:00Z", 1.0],
        "a reading",
        42,
        None,
        True,
    ]
    return asset.encode(), orjson.dumps(r.choice(bodies))


def _number_timestamp(r: random.Random, asset: str) -> tuple[bytes | None, bytes | None]:
    """A timestamp given as a number (epoch seconds or milliseconds) instead of ISO 8601 text."""
    return asset.encode(), orjson.dumps(
        _reading(asset, timestamp=r.choice([1717200000, 1717200000000, 1.7172e9]))
    )


def _missing_fields(r: random.Random, asset: str) -> tuple[bytes | None, bytes | None]:
    full = _reading(asset)
    drop = r.choice([("value",), ("timestamp",), ("value", "timestamp"), ("asset_id", "value")])
    body = {k: v for k, v in full.items() if k not in drop}
    return asset.encode(), orjson.dumps(body if body else {})


def _far_future(r: random.Random, asset: str) -> tuple[bytes | None, bytes | None]:
    ts = r.choice(["9999-12-31T23:59:59Z", "2999-01-01T00:00:00Z", "2100-06-01T00:00:00+14:00"])
    if r.random() < 0.3:  # just beyond the default 7-day clock skew
        ts = (datetime.now(UTC) + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return asset.encode(), orjson.dumps(_reading(asset, timestamp=ts))


def _ancient(r: random.Random, asset: str) -> tuple[bytes | None, bytes | None]:
    ts = r.choice(
        ["0001-01-01T00:00:00Z", "1000-01-01T00:00:00Z", "1900-01-01T00:00:00Z", "1969-12-31T23:59:59Z"]
    )
    return asset.encode(), orjson.dumps(_reading(asset, timestamp=ts))


def _bad_timestamp_text(r: random.Random, asset: str) -> tuple[bytes | None, bytes | None]:
    ts = r.choice(["2025-13-45T00:00:00Z", "yesterday", "", "2025-01-02T25:61:00Z", "-0001-01-01T00:00:00Z"])
    return asset.encode(), orjson.dumps(_reading(asset, timestamp=ts))


def _unknown_fields(r: random.Random, asset: str) -> tuple[bytes | None, bytes | None]:
    """Unknown non-numeric fields (numeric ones are covariates by design), or too many covariates."""
    options: list[dict[str, object]] = [
        _reading(asset, firmware="1.2.3"),
        _reading(asset, meta={"site": "x"}),
        _reading(asset, flag=True),
        _reading(asset, **{f"c{i}": float(i) for i in range(40)}),
        _reading(asset, **{"bad name": 1.0}),
    ]
    return asset.encode(), orjson.dumps(r.choice(options))


def _empty(r: random.Random, asset: str) -> tuple[bytes | None, bytes | None]:
    return asset.encode(), r.choice([b"", None, b" ", b"\n", b"{}", b"null"])


def _invalid_utf8(r: random.Random, asset: str) -> tuple[bytes | None, bytes | None]:
    bad = r.choice([b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"])
    if r.random() < 0.5:  # in the payload
        return (
            asset.encode(),
            b'{"asset_id":"'
            + asset.encode()
            + bad
            + b'","timestamp":"'
            + POISON_TS.encode()
            + b'","value":1}',
        )
    # in the key, payload without asset_id (the key supplies it)
    return asset.encode() + bad, b'{"timestamp":"' + POISON_TS.encode() + b'","value":1}'


def _huge_key(r: random.Random, asset: str) -> tuple[bytes | None, bytes | None]:
    key = asset.encode() + b"k" * r.choice([200, 10_000, 500_000])
    return key, orjson.dumps({"timestamp": POISON_TS, "value": 1.0})


def _null_key(r: random.Random, asset: str) -> tuple[bytes | None, bytes | None]:
    """No key and no asset_id in the payload (with an asset_id it would be a valid reading)."""
    return None, orjson.dumps({"timestamp": POISON_TS, "value": 1.0})


def _key_mismatch(r: random.Random, asset: str) -> tuple[bytes | None, bytes | None]:
    return asset.encode(), orjson.dumps(_reading("other-" + asset))


def _bad_control(r: random.Random, asset: str) -> tuple[bytes | None, bytes | None]:
    body = r.choice(
        [
            {"control": "reset"},
            {"control": "reset", "asset_id": asset},
            {"control": "explode", "asset_id": asset},
        ]
    )
    return asset.encode(), orjson.dumps(body)


# kind -> (generator, weight). ~1 MB and deep JSON are heavy: fewer of them.
KINDS: dict[str, tuple[Gen, float]] = {
    "binary": (_binary, 1.0),
    "about_1mb": (_about_1mb, 0.04),
    "deep_json": (_deep_json, 0.3),
    "control_chars": (_control_chars, 1.0),
    "control_chars_in_unit": (_control_chars_in_unit, 0.3),
    "huge_number": (_huge_number, 1.0),
    "nan_infinity": (_nan_infinity, 1.0),
    "wrong_types": (_wrong_types, 1.0),
    "number_timestamp": (_number_timestamp, 0.3),
    "missing_fields": (_missing_fields, 1.0),
    "far_future_ts": (_far_future, 1.0),
    "ancient_ts": (_ancient, 1.0),
    "bad_timestamp_text": (_bad_timestamp_text, 1.0),
    "unknown_fields": (_unknown_fields, 1.0),
    "empty_payload": (_empty, 1.0),
    "invalid_utf8": (_invalid_utf8, 1.0),
    "huge_key": (_huge_key, 0.3),
    "null_key": (_null_key, 1.0),
    "key_mismatch": (_key_mismatch, 1.0),
    "bad_control": (_bad_control, 1.0),
}


def poison(n: int, assets: list[str], rng: random.Random) -> list[Message]:
    """``n`` malformed messages spread over the kinds by weight (every kind at least once)."""
    total = sum(w for _, w in KINDS.values())
    counts = {k: max(1, round(n * w / total)) for k, (_, w) in KINDS.items()}
    counts["binary"] += n - sum(counts.values())  # exact total
    out = []
    for kind, count in counts.items():
        gen = KINDS[kind][0]
        for _ in range(count):
            key, value = gen(rng, rng.choice(assets))
            out.append(Message(kind, key, value))
    return out


def corpus(n_bad: int, n_assets: int, per_asset: int, seed: int = 20261207) -> list[Message]:
    """Valid readings in time order with the malformed messages inserted at random places."""
    rng = random.Random(seed)
    valid = valid_readings(n_assets, per_asset)
    bad = poison(n_bad, asset_ids(n_assets), rng)
    rng.shuffle(bad)
    slots = sorted(rng.randrange(len(valid) + 1) for _ in bad)
    out: list[Message] = []
    j = 0
    for i, m in enumerate(valid):
        while j < len(slots) and slots[j] <= i:
            out.append(bad[j])
            j += 1
        out.append(m)
    out.extend(bad[j:])
    return out
