"""POST /readings while Kafka is down or its producer is broken: 503 with Retry-After within
``api_publish_timeout_s`` (never a hang), and the same API process answers 202 again afterwards.

The outage test stops and starts this checkout's Kafka (``kilowatch infra down/up --only kafka``):
run on an infrastructure of its own, never beside other tests.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

import pytest
from aiokafka.structs import TopicPartition

from .conftest import Api, api_settings, keyed_api
from .test_outage_503 import _readings, assert_503, infra, until

PUBLISH_TIMEOUT_S = 2.0
WITHIN_S = PUBLISH_TIMEOUT_S + 0.5


async def _asset(api: Api) -> str:
    asset = f"kafka-out-{uuid.uuid4().hex[:8]}"
    r = await api.client.post(
        "/api/v1/assets", json={"asset_id": asset, "name": "k"}, headers=api.auth("model")
    )
    assert r.status_code == 201, r.text
    return asset


async def _post(api: Api, asset: str) -> tuple[int, float, dict[str, str], str]:
    started = time.monotonic()
    # Without the bound a send waits for metadata and then the batch's expiry (15 s) or longer.
    r = await asyncio.wait_for(
        api.client.post("/api/v1/readings", json=_readings(asset), headers=api.auth("write")), 12.0
    )
    return r.status_code, time.monotonic() - started, dict(r.headers), r.text


async def test_a_kafka_outage_is_503_within_the_publish_timeout_and_recovers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="aiokafka")
    async with keyed_api(api_settings(api_publish_timeout_s=PUBLISH_TIMEOUT_S)) as api:
        asset = await _asset(api)
        r = await api.client.post("/api/v1/readings", json=_readings(asset), headers=api.auth("write"))
        assert r.status_code == 202, r.text  # the producer is connected
        await infra("down", "kafka")
        caplog.clear()
        down = time.monotonic()
        try:
            for _ in range(3):
                started = time.monotonic()
                r = await asyncio.wait_for(
                    api.client.post("/api/v1/readings", json=_readings(asset), headers=api.auth("write")),
                    12.0,
                )
                took = time.monotonic() - started
                assert_503(r, "Kafka")
                assert took < WITHIN_S, f"503 after {took:.2f} s"
            # The admin reset publishes its control event with the same bound (it waited ~15 s).
            started = time.monotonic()
            r = await asyncio.wait_for(
                api.client.post(f"/api/v1/assets/{asset}/reset", json={}, headers=api.auth("admin")), 12.0
            )
            took = time.monotonic() - started
            assert_503(r, "Kafka")
            assert took < WITHIN_S, f"reset: 503 after {took:.2f} s"
            await asyncio.sleep(max(0.0, 10.0 - (time.monotonic() - down)))  # 10 s of outage
            unable = [r for r in caplog.records if r.name.startswith("aiokafka") and "Unable" in r.msg]
            # Throttled: a few lines per kind per 10 s (this was thousands a second in an outage).
            assert 0 < len(unable) <= 20, len(unable)
        finally:
            await infra("up", "kafka")

        async def back() -> bool:
            r = await api.client.post("/api/v1/readings", json=_readings(asset), headers=api.auth("write"))
            assert r.status_code in (202, 503), r.text
            return r.status_code == 202

        await until(back, 90.0)
        for _ in range(5):  # and it stays recovered
            r = await api.client.post("/api/v1/readings", json=_readings(asset), headers=api.auth("write"))
            assert r.status_code == 202, r.text


async def test_a_producer_the_broker_refuses_for_good_is_replaced() -> None:
    """The broker answers OutOfOrderSequenceNumber when the producer's sequence numbers no longer
    match its own (what a broker restart with batches in flight left behind in the fault-injection
    run): every later send of that producer fails the same way, so the API must make a new one."""
    async with keyed_api(api_settings(api_publish_timeout_s=PUBLISH_TIMEOUT_S)) as api:
        asset = await _asset(api)
        r = await api.client.post("/api/v1/readings", json=_readings(asset), headers=api.auth("write"))
        assert r.status_code == 202, r.text
        broken = await api.resources.producer()
        topic = api.settings.kafka.topic("readings")
        txn = broken._txn_manager  # the idempotent producer's sequence numbers, per partition
        assert txn is not None
        for partition in await broken.partitions_for(topic):
            txn.increment_sequence_number(TopicPartition(topic, partition), 7)  # a gap the broker refuses
        status, took, headers, text = await _post(api, asset)
        assert status == 503 and int(headers["retry-after"]) >= 1, text
        assert took < WITHIN_S
        for _ in range(3):  # a new producer: accepted again, without restarting the API
            status, _took, _headers, text = await _post(api, asset)
            assert status == 202, text
        assert await api.resources.producer() is not broken
