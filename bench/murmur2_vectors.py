"""Partitions Kafka clients choose for keyed messages, read back from a real broker (issue 15).

Produces each key once with aiokafka's default partitioner (murmur2, as the Java client), with
confluent-kafka configured ``partitioner=murmur2_random``, and with confluent-kafka's default
(``consistent_random``, CRC32), to fresh topics of 8, 13 and 64 partitions; reports the partition each
message landed on (the broker's acknowledgement), whether ``stream_app.core.partitioning`` predicts
it, and how many asset keys librdkafka's default puts elsewhere.

    env $MYENV .venv/bin/python -m bench.murmur2_vectors [--assets 1000] [--vectors]

``--vectors`` prints the (key, partitions, partition) triples the unit test pins
(tests/unit/test_partitioning.py). Needs the infrastructure up (``kilowatch infra up``).
"""

from __future__ import annotations

import argparse
import asyncio
import uuid

from aiokafka import AIOKafkaProducer
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from stream_app.core.partitioning import partition_for
from stream_app.settings import Settings

PARTITIONS = (8, 13, 64)
# Every tail length (0-3 bytes past a 4-byte word), multi-byte UTF-8, bytes >= 0x80, asset-id shapes.
KEYS: tuple[bytes, ...] = (
    b"",
    b"a",
    b"ab",
    b"abc",
    b"abcd",
    b"abcde",
    b"meter-7",
    b"meter-42",
    b"site:berlin/feeder.3",
    "zähler-ü".encode(),
    bytes(range(0x80, 0x8B)),
    b"\xff\xfe\xfd",
    b"x" * 128,
)


def _topics(admin: AdminClient, prefix: str) -> dict[int, str]:
    names = {n: f"{prefix}.murmur2-{n}-{uuid.uuid4().hex[:6]}" for n in PARTITIONS}
    futures = admin.create_topics(
        [NewTopic(t, num_partitions=n, replication_factor=1) for n, t in names.items()]
    )
    for fut in futures.values():
        fut.result(30)
    return names


async def _aiokafka(
    bootstrap: str, topics: dict[int, str], keys: list[bytes]
) -> dict[tuple[bytes, int], int]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        out = {}
        for n, topic in topics.items():
            for key in keys:
                meta = await producer.send_and_wait(topic, key=key, value=b"{}")
                out[(key, n)] = meta.partition
        return out
    finally:
        await producer.stop()


def _librdkafka(
    bootstrap: str, topics: dict[int, str], keys: list[bytes], partitioner: str | None
) -> dict[tuple[bytes, int], int]:
    conf = {"bootstrap.servers": bootstrap}
    if partitioner is not None:
        conf["partitioner"] = partitioner
    producer = Producer(conf)
    out: dict[tuple[bytes, int], int] = {}
    for n, topic in topics.items():
        for key in keys:

            def done(err: object, msg: object, key: bytes = key, n: int = n) -> None:
                if err is not None:
                    raise RuntimeError(f"not delivered: {err}")
                out[(key, n)] = msg.partition()  # type: ignore[attr-defined]

            producer.produce(topic, key=key, value=b"{}", on_delivery=done)
        producer.flush(30)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assets", type=int, default=1000, help="asset keys for the misrouting count")
    parser.add_argument("--vectors", action="store_true", help="print the unit test's vectors")
    args = parser.parse_args()
    settings = Settings()
    bootstrap = settings.kafka.bootstrap
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topics = _topics(admin, settings.kafka.topic_prefix)
    assets = [f"meter-{i}".encode() for i in range(args.assets)]
    keys = list(KEYS) + assets
    try:
        java = asyncio.run(_aiokafka(bootstrap, topics, keys))
        murmur = _librdkafka(bootstrap, topics, keys, "murmur2_random")
        default = _librdkafka(bootstrap, topics, keys, None)
    finally:
        admin.delete_topics(list(topics.values()))
    predicted = {(k, n): partition_for(k, n) for k, n in java}
    print(f"messages per client: {len(java)} ({len(keys)} keys x partitions {PARTITIONS})")
    same_java = sum(java[x] == predicted[x] for x in java)
    same_murmur = sum(murmur[x] == predicted[x] for x in java)
    print(f"aiokafka default == partition_for: {same_java}/{len(java)}")
    print(f"librdkafka murmur2_random == partition_for: {same_murmur}/{len(java)}")
    for n in PARTITIONS:
        off = sum(default[(k, n)] != predicted[(k, n)] for k in assets)
        print(f"librdkafka default (consistent_random), {n} partitions: {off}/{len(assets)} keys misrouted")
    if args.vectors:
        print("VECTORS = [")
        for key in KEYS:
            print(f"    ({key!r}, {tuple(java[(key, n)] for n in PARTITIONS)}),")
        print("]")


if __name__ == "__main__":
    main()
