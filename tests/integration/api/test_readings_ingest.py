"""POST /api/v1/readings on the real broker: what is published, all-or-nothing validation, limits."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from schemas.events import Reading
from stream_app.core.decode import decode_fast, decode_reading
from stream_app.kafka.topics import ensure_topics
from stream_app.settings import Settings

from .conftest import Api, api_settings, open_api

URL = "/api/v1/readings"


def steel_readings(data_dir: Path, asset: str, n: int, skip: int = 0) -> list[dict[str, Any]]:
    """Rows of the real steel-plant file as a client would post them (covariates as top-level fields)."""
    frame = pd.read_csv(
        data_dir / "energy" / "steel_industry_2018_15min.csv", skiprows=range(1, skip + 1), nrows=n
    )
    return [
        {
            "asset_id": asset,
            "timestamp": t,
            "value": float(v),
            "unit": "kWh",
            "co2": float(c),
            "pf": float(pf),
        }
        for t, v, c, pf in zip(
            frame["timestamp"],
            frame["Usage_kWh"],
            frame["CO2(tCO2)"],
            frame["Lagging_Current_Power_Factor"],
            strict=True,
        )
    ]


def high_watermarks(settings: Settings) -> dict[int, int]:
    c = Consumer({"bootstrap.servers": settings.kafka.bootstrap, "group.id": f"probe-{uuid.uuid4().hex[:8]}"})
    topic = settings.kafka.topic("readings")
    try:
        for _ in range(50):  # a topic created a moment ago may have no leader yet
            try:
                parts = c.list_topics(topic, timeout=10).topics[topic].partitions
                return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts}
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.NOT_LEADER_FOR_PARTITION:
                    raise
                time.sleep(0.2)
        raise AssertionError(f"{topic} has no leaders")
    finally:
        c.close()


def consume_from(settings: Settings, start: dict[int, int], keys: set[bytes], n: int) -> list[Any]:
    """The first ``n`` messages with one of ``keys`` after the offsets ``start``."""
    c = Consumer(
        {
            "bootstrap.servers": settings.kafka.bootstrap,
            "group.id": f"probe-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
        }
    )
    topic = settings.kafka.topic("readings")
    c.assign([TopicPartition(topic, p, off) for p, off in start.items()])
    got: list[Any] = []
    try:
        for _ in range(300):
            for m in c.consume(1000, timeout=0.2):
                if m.error() is None and m.key() in keys:
                    got.append(m)
            if len(got) >= n:
                return got
    finally:
        c.close()
    raise AssertionError(f"only {len(got)} of {n} readings on {topic}")


@pytest.fixture(scope="module")
async def topics(api: Api) -> None:
    await asyncio.to_thread(ensure_topics, api.settings)


async def test_posted_readings_are_published_keyed_by_asset_as_sent(
    api: Api, data_dir: Path, topics: None
) -> None:
    tag = uuid.uuid4().hex[:8]
    sent = steel_readings(data_dir, f"{tag}-a", 300) + steel_readings(data_dir, f"{tag}-b", 200, skip=5000)
    start = await asyncio.to_thread(high_watermarks, api.settings)
    r = await api.client.post(URL, json={"readings": sent}, headers=api.auth("write"))
    assert r.status_code == 202, r.text
    assert r.json()["data"] == {"accepted": 500, "assets": 2}
    keys = {f"{tag}-a".encode(), f"{tag}-b".encode()}
    msgs = await asyncio.to_thread(consume_from, api.settings, start, keys, 500)
    assert len(msgs) == 500
    by_asset: dict[str, list[Reading]] = {}
    for m in msgs:
        reading = decode_reading(m.key(), m.value(), max_bytes=api.settings.worker.max_payload_bytes)
        by_asset.setdefault(reading.asset_id, []).append(reading)
        # the worker's fast decoder takes the published form as it is
        fast = decode_fast(m.key(), m.value(), max_bytes=api.settings.worker.max_payload_bytes)
        assert (fast.asset_id, fast.ts, fast.value) == (
            reading.asset_id,
            reading.timestamp.timestamp(),
            reading.value,
        )
    for key in keys:  # one asset, one partition
        assert len({m.partition() for m in msgs if m.key() == key}) == 1
    want: dict[str, list[Reading]] = {}
    for item in sent:
        want.setdefault(item["asset_id"], []).append(Reading.model_validate(item))
    assert by_asset == want  # same readings, in the order sent per asset
    assert by_asset[f"{tag}-a"][0].covariates == {"co2": sent[0]["co2"], "pf": sent[0]["pf"]}


async def test_one_bad_item_rejects_the_whole_batch_with_field_locations(api: Api, topics: None) -> None:
    asset = f"bad-{uuid.uuid4().hex[:8]}"
    good = f'{{"asset_id": "{asset}", "timestamp": "2018-01-01T00:15:00Z", "value": 3.17}}'
    items = [
        good,
        f'{{"asset_id": "{asset}", "timestamp": "2018-01-01T00:30:00Z", "value": "NaN"}}',
        f'{{"asset_id": "{asset}", "timestamp": "31/02/2018", "value": 1.5}}',
        f'{{"asset_id": "{asset}", "timestamp": "2018-01-01T00:45:00Z"}}',
        f'{{"asset_id": "{asset}", "timestamp": "2018-01-01T01:00:00Z", "value": NaN}}',
        f'{{"asset_id": "{asset}", "timestamp": "2018-01-01T01:15:00Z", "value": 1, "temp": "warm"}}',
        good,
    ]
    start = await asyncio.to_thread(high_watermarks, api.settings)
    body = ('{"readings": [' + ",".join(items) + "]}").encode()
    headers = {**api.auth("write"), "Content-Type": "application/json"}
    r = await api.client.post(URL, content=body, headers=headers)
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == "VALIDATION_ERROR"
    locs = [d["loc"] for d in err["details"]]
    assert ["body", "readings", 1, "value"] in locs
    assert ["body", "readings", 2, "timestamp"] in locs
    assert ["body", "readings", 3, "value"] in locs
    assert ["body", "readings", 4, "value"] in locs
    assert any(loc[:3] == ["body", "readings", 5] for loc in locs)
    assert not any(loc[:3] in (["body", "readings", 0], ["body", "readings", 6]) for loc in locs)
    # a reading the worker would dead-letter as too far in the future is refused here too
    future = (datetime.now(UTC) + timedelta(seconds=api.settings.worker.max_clock_skew_s + 3600)).isoformat()
    late = {"readings": [orjson.loads(good), {"asset_id": asset, "timestamp": future, "value": 1.0}]}
    r = await api.client.post(URL, json=late, headers=api.auth("write"))
    assert r.status_code == 422 and r.json()["error"]["details"][0]["loc"] == [
        "body",
        "readings",
        1,
        "timestamp",
    ]
    for payload in ({"readings": []}, {"readings": [orjson.loads(good)], "extra": 1}, [orjson.loads(good)]):
        r = await api.client.post(URL, json=payload, headers=api.auth("write"))
        assert r.status_code == 422, (payload, r.text)
    assert await asyncio.to_thread(high_watermarks, api.settings) == start  # nothing was published


async def test_batches_over_the_item_or_byte_limit_are_413(api: Api, data_dir: Path) -> None:
    readings = steel_readings(data_dir, f"big-{uuid.uuid4().hex[:8]}", 40)
    client, resources = await open_api(api_settings(api_max_points=10, api_max_body_bytes=4096))
    try:
        r = await client.post(URL, json={"readings": readings[:11]}, headers=api.auth("write"))
        assert r.status_code == 413, r.text
        err = r.json()["error"]
        assert err["code"] == "FILE_TOO_LARGE" and err["details"][0]["loc"] == ["body", "readings"]
        assert "10" in err["message"] and "11" in err["message"]
        r = await client.post(URL, json={"readings": readings}, headers=api.auth("write"))
        assert r.status_code == 413 and r.json()["error"]["code"] == "FILE_TOO_LARGE"
    finally:
        await client.aclose()
        await resources.close()


async def test_posting_needs_the_write_scope(api: Api) -> None:
    body = {"readings": [{"asset_id": "x", "timestamp": "2018-01-01T00:15:00Z", "value": 1.0}]}
    assert (await api.client.post(URL, json=body)).status_code == 401
    r = await api.client.post(URL, json=body, headers=api.auth("read"))
    assert r.status_code == 403 and r.json()["error"]["code"] == "FORBIDDEN"
