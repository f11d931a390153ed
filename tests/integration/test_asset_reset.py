"""Issue 12 on the real broker, database and cache: an absurd magnitude is dead-lettered with its
reason while the asset goes on being scored, and an admin reset through the API route reaches the
worker that owns the asset (both readings paths), which deletes the asset's state (table and
changelog) so that its next reading is scored from a fresh state."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource

from stream_app.admin.reset import AUDIT_ACTION
from stream_app.core.state_codec import decode_record
from stream_app.kafka.topics import admin, ensure_topics
from stream_app.scoring.pipeline import RawMessage, ScoringPipeline
from stream_app.scoring.state import InMemoryStore, split_record
from stream_app.settings import Settings
from stream_app.store import audit
from tests.integration.api.conftest import keyed_api
from tests.integration.harness import TopicReader, Worker, isolated_settings, produce

WINDOW = 96


@pytest.fixture(params=["batch", "agent"])
def readings_path(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def payload(i: int, value: float | None = None) -> bytes:
    v = 100.0 + 20.0 * ((i % 24) / 24) + (i % 5) if value is None else value
    return orjson.dumps(
        {"timestamp": f"2025-03-{1 + i // 96:02d}T{(i // 4) % 24:02d}:{15 * (i % 4):02d}:00Z", "value": v}
    )


def changelog_view(settings: Settings, prefix: str) -> dict[bytes, bytes | None]:
    """The compacted view of the state table's changelog: last value (None = tombstone) per key."""
    topic = f"{settings.worker.app_id}-asset-state-changelog"
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka.bootstrap,
            "group.id": f"reader-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    consumer.assign(
        [TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(settings.kafka.topic_partitions)]
    )
    view: dict[bytes, bytes | None] = {}
    at_end: set[int] = set()
    try:
        while len(at_end) < settings.kafka.topic_partitions:
            for m in consumer.consume(10_000, timeout=1.0):
                if m.error():
                    if m.error().code() == KafkaError._PARTITION_EOF:
                        at_end.add(m.partition())
                        continue
                    raise RuntimeError(m.error())
                key = m.key() or b""
                if key.startswith(prefix.encode() + b"|"):
                    view[key] = m.value()
    finally:
        consumer.close()
    return view


def live_seqs(view: dict[bytes, bytes | None]) -> list[int]:
    return sorted(decode_record(split_record(v)[1]).seq for v in view.values() if v is not None)


def test_an_absurd_magnitude_is_dead_lettered_and_the_asset_goes_on(tmp_path: Path) -> None:
    settings, env = isolated_settings(tmp_path, window_size=WINDOW)
    ensure_topics(settings)
    asset = "bounds-1"
    msgs = [(asset.encode(), payload(i)) for i in range(40)]
    msgs.append((asset.encode(), payload(40, 1e200)))
    msgs += [(asset.encode(), payload(i)) for i in range(41, 80)]
    worker = Worker(env, "bounds", tmp_path)
    scores, dead = TopicReader(settings, "scores"), TopicReader(settings, "dead-letters")
    try:
        produce(settings, msgs)
        got = scores.wait_for(lambda items: len(items) >= 79, 180, "scores", [worker])
        letters = dead.wait_for(lambda items: len(items) >= 1, 60, "the dead letter", [worker])
    finally:
        worker.stop()
    (letter,) = letters
    assert letter["error"].startswith("value: magnitude 1e+200 is out of range: must be between -1e15")
    assert orjson.loads(letter["payload"])["value"] == 1e200 and letter["key"] == asset
    by_ts = {s["timestamp"]: s for s in got}
    assert len(by_ts) == 79 and all(s["status"] == "scored" for s in got)
    after = sorted(s["timestamp"] for s in got)[40:]
    assert len(after) == 39  # every valid reading after the refused one was scored
    # ... exactly as if the absurd reading had never been sent (it touched nothing)
    pipe = ScoringPipeline(settings)
    offline = pipe.process(
        [RawMessage(k, v, "offline", 0, i) for i, (k, v) in enumerate(msgs)], InMemoryStore(WINDOW)
    )
    want = {s["timestamp"]: s for s in (orjson.loads(v) for _, v in offline.scores)}
    assert {t: (s["expected"], s["score"]) for t, s in by_ts.items()} == {
        t: (s["expected"], s["score"]) for t, s in want.items()
    }


async def test_admin_reset_starts_the_asset_afresh(tmp_path: Path, readings_path: str) -> None:
    settings, env = isolated_settings(
        tmp_path, window_size=WINDOW, readings_path=readings_path, api_verifications_per_minute=100_000
    )
    await asyncio.to_thread(ensure_topics, settings)
    asset, bystander = "site-9/meter-1", "site-9/meter-2"
    first = [(asset.encode(), payload(i)) for i in range(150)]
    first += [(bystander.encode(), payload(i)) for i in range(30)]
    worker = Worker(env, f"reset-{readings_path}", tmp_path)
    scores = TopicReader(settings, "scores")
    try:
        async with keyed_api(settings) as api:
            await asyncio.to_thread(produce, settings, first)
            await asyncio.to_thread(scores.wait_for, lambda items: len(items) >= 180, 180, "scores", [worker])
            before = await asyncio.to_thread(changelog_view, settings, asset)
            assert live_seqs(before) == list(range(150 - WINDOW, 150))  # a full ring of old records

            url = f"/api/v1/assets/{asset}/reset"
            for scope in ("read", "write"):  # admin only
                r = await api.client.post(url, json={"reason": "x"}, headers=api.auth(scope))
                assert r.status_code == 403, r.text
                assert r.json()["error"]["code"] == "FORBIDDEN"
            r = await api.client.post(url, json={"reason": "poisoned by a test"}, headers=api.auth("admin"))
            assert r.status_code == 202, r.text
            data = r.json()["data"]
            assert data["asset_id"] == asset and data["topic"] == settings.kafka.topic("readings")

            # audit log: who, what, outcome, where it was published
            pool = await api.resources.pool()
            (entry,) = [
                e
                for e in await audit.entries(pool, asset, AUDIT_ACTION)
                if e["details"]["reset_id"] == data["reset_id"]
            ]
            assert entry["actor"].startswith("api-key:") and entry["request_id"]
            assert entry["details"]["outcome"] == "published"
            assert entry["details"]["reason"] == "poisoned by a test"
            assert (entry["details"]["partition"], entry["details"]["offset"]) == (
                data["partition"],
                data["offset"],
            )

            later = [(asset.encode(), payload(i)) for i in range(150, 160)]
            later += [(bystander.encode(), payload(i)) for i in range(30, 35)]
            await asyncio.to_thread(produce, settings, later)
            items = await asyncio.to_thread(
                scores.wait_for, lambda items: len(items) >= 195, 120, "scores after the reset", [worker]
            )
    finally:
        worker.stop()

    after = await asyncio.to_thread(changelog_view, settings, asset)
    # the old records are tombstoned; what is left is the ring of a fresh state: seq 0..9
    assert live_seqs(after) == list(range(10))
    assert sum(v is None for v in after.values()) == WINDOW - 10
    assert len(live_seqs(await asyncio.to_thread(changelog_view, settings, bystander))) == 35

    # The asset's readings after the reset are scored exactly as a fresh asset's would be...
    fresh = ScoringPipeline(settings).process(
        [RawMessage(k, v, "offline", 0, i) for i, (k, v) in enumerate(later[:10])], InMemoryStore(WINDOW)
    )
    want = [orjson.loads(v) for _, v in fresh.scores]
    mine: dict[str, dict[str, Any]] = {s["timestamp"]: s for s in items if s["asset_id"] == asset}
    got = [mine[w["timestamp"]] for w in want]
    assert [(s["expected"], s["score"], s["status"]) for s in got] == [
        (w["expected"], w["score"], w["status"]) for w in want
    ]
    # ... and not as the continuation of its old state
    continued = ScoringPipeline(settings)
    cont_store = InMemoryStore(WINDOW)
    msgs = [RawMessage(k, v, "offline", 0, i) for i, (k, v) in enumerate(first[:150] + later[:10])]
    cont = [orjson.loads(v) for _, v in continued.process(msgs, cont_store).scores][150:]
    assert [s["expected"] for s in cont] != [s["expected"] for s in got]


async def test_post_readings_refuses_a_magnitude_naming_the_field(tmp_path: Path) -> None:
    settings, _env = isolated_settings(tmp_path, api_verifications_per_minute=100_000)
    good = {"asset_id": "bounds-2", "timestamp": "2025-03-01T00:00:00Z", "value": 1.0}
    body = {
        "readings": [
            good,
            {**good, "value": 1e200},
            {**good, "value": -1e15, "temp": 2e15},
            {**good, "value": 1e15, "temp": -1e15},  # the bound itself is accepted
        ]
    }
    async with keyed_api(settings) as api:
        r = await api.client.post("/api/v1/readings", json=body, headers=api.auth("write"))
    assert r.status_code == 422, r.text
    details = r.json()["error"]["details"]
    assert [d["loc"] for d in details] == [
        ["body", "readings", 1, "value"],
        ["body", "readings", 2, "covariates", "temp"],
    ]
    assert all("must be between -1e15 and 1e15" in d["msg"] for d in details)


async def test_cli_reset_is_audited_and_lands_in_the_assets_partition(tmp_path: Path) -> None:
    from aiokafka.partitioner import murmur2

    from stream_app.core.decode import decode_control
    from stream_app.store.pool import connect
    from tests.integration.harness import KILOWATCH, ROOT

    settings, env = isolated_settings(tmp_path)
    asset = "site-3/meter-4"
    done = await asyncio.create_subprocess_exec(
        KILOWATCH, "reset-asset", asset, "--reason", "drill", env=env, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await done.communicate()
    assert done.returncode == 0, err.decode()
    assert f"of asset {asset} published" in out.decode()

    consumer = Consumer({"bootstrap.servers": settings.kafka.bootstrap, "group.id": uuid.uuid4().hex})
    topic = settings.kafka.topic("readings")
    consumer.assign(
        [TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(settings.kafka.topic_partitions)]
    )
    try:
        msgs = await asyncio.to_thread(consumer.consume, 10, 10.0)
    finally:
        consumer.close()
    (msg,) = [m for m in msgs if not m.error()]
    # the partition every kilowatch producer (and the Java client) picks for the asset's readings
    assert msg.partition() == (murmur2(asset.encode()) & 0x7FFFFFFF) % settings.kafka.topic_partitions
    event = decode_control(msg.key(), msg.value(), max_bytes=settings.worker.max_payload_bytes)
    assert event is not None and event.asset_id == asset and event.requested_by.startswith("cli:")

    conn = await connect(settings)
    try:
        entries = [
            e
            for e in await audit.entries(conn, asset, AUDIT_ACTION)
            if e["details"]["reset_id"] == str(event.reset_id)
        ]
    finally:
        await conn.close()
    (entry,) = entries
    assert entry["actor"] == event.requested_by and entry["details"]["reason"] == "drill"
    assert entry["details"]["outcome"] == "published"
    assert (entry["details"]["partition"], entry["details"]["offset"]) == (msg.partition(), msg.offset())


def test_poison_messages_cost_one_bounded_dead_letter_each_and_the_worker_goes_on(tmp_path: Path) -> None:
    """Issue 14's reproduction on the real broker: a 900 kB binary payload and ~170 kB of control
    characters inside a JSON string used to make dead letters the producer refused, which crashed the
    batch path's worker on every restart. Now each costs one bounded dead letter."""
    settings, env = isolated_settings(tmp_path, window_size=WINDOW)
    ensure_topics(settings)
    # A readings topic created before its size limit (issue 14) takes such messages; one created now
    # refuses them at the broker (tests/integration/test_topic_limits.py). The worker must survive both.
    readings = ConfigResource(
        ConfigResource.Type.TOPIC,
        settings.kafka.topic("readings"),
        incremental_configs=[
            ConfigEntry("max.message.bytes", "2000000", incremental_operation=AlterConfigOpType.SET)
        ],
    )
    client = admin(settings)
    client.incremental_alter_configs([readings])[readings].result(timeout=30)
    asset = "poison-1"
    binary = bytes(range(256)) * 3516  # 900,096 bytes, not UTF-8
    controls = b'{"timestamp": "2025-03-01T00:00:00Z", "value": 1, "x": "' + b"\x01" * 170_000 + b'"}'
    msgs = [(asset.encode(), payload(i)) for i in range(30)]
    msgs += [(asset.encode(), binary), (asset.encode(), controls)]
    msgs += [(asset.encode(), payload(i)) for i in range(30, 60)]
    worker = Worker(env, "poison", tmp_path)
    scores, dead = TopicReader(settings, "scores"), TopicReader(settings, "dead-letters")
    try:
        produce(settings, msgs)
        got = scores.wait_for(lambda items: len(items) >= 60, 180, "scores", [worker])
        letters = dead.wait_for(lambda items: len(items) >= 2, 60, "the dead letters", [worker])
        assert worker.proc.poll() is None, worker.tail()  # still running
    finally:
        worker.stop()
    assert len({s["timestamp"] for s in got}) == 60  # every valid reading, before and after, scored
    sizes = sorted(int(letter["payload_bytes"]) for letter in letters)
    assert sizes == sorted([len(binary), len(controls)])
    assert all(letter["payload_truncated"] and letter["key"] == asset for letter in letters)
