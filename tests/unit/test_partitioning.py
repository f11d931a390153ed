"""Kafka's murmur2 partitioner, pinned to what real clients did on a real broker, and the scoring
path's count of readings that arrived on another partition."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stream_app.core.partitioning import PartitionCheck, murmur2, partition_for

# (key, partition with 8, 13 and 64 partitions): produced once each by aiokafka's default partitioner
# (and by confluent-kafka with partitioner=murmur2_random: the same) to a real broker, partition read
# from the broker's acknowledgement; `python -m bench.murmur2_vectors --vectors` prints them again.
PARTITIONS = (8, 13, 64)
VECTORS = [
    (b"", (1, 11, 25)),
    (b"a", (4, 5, 60)),
    (b"ab", (2, 10, 42)),
    (b"abc", (3, 12, 27)),
    (b"abcd", (4, 11, 52)),
    (b"abcde", (5, 12, 29)),
    (b"meter-7", (4, 9, 36)),
    (b"meter-42", (1, 4, 17)),
    (b"site:berlin/feeder.3", (7, 9, 39)),
    (b"z\xc3\xa4hler-\xc3\xbc", (3, 8, 59)),
    (b"\x80\x81\x82\x83\x84\x85\x86\x87\x88\x89\x8a", (3, 4, 35)),
    (b"\xff\xfe\xfd", (4, 11, 36)),
    (b"x" * 128, (7, 10, 23)),
]


@pytest.mark.parametrize(("key", "expected"), VECTORS)
def test_partition_matches_the_java_partitioner(key: bytes, expected: tuple[int, ...]) -> None:
    assert tuple(partition_for(key, n) for n in PARTITIONS) == expected


@given(st.binary(max_size=300), st.integers(1, 1000))
def test_hash_is_32_bit_and_partition_in_range(key: bytes, n: int) -> None:
    h = murmur2(key)
    assert 0 <= h < 2**32
    assert partition_for(key, n) == (h & 0x7FFFFFFF) % n


def test_a_topic_has_partitions() -> None:
    with pytest.raises(ValueError, match="at least one partition"):
        partition_for(b"a", 0)
    with pytest.raises(ValueError, match="at least one partition"):
        PartitionCheck(0)


def test_check_caches_within_its_bound() -> None:
    check = PartitionCheck(8, max_keys=3)
    assert not check.misrouted(b"meter-7", 4)
    assert check.misrouted(b"meter-7", 5)
    for key in (b"a", b"ab", b"abc", b"abcd"):
        check.expected(key)
    assert len(check._expected) <= 3
    assert check.expected(b"meter-42") == 1


def test_pipeline_counts_readings_off_their_keys_partition(tmp_path: Path) -> None:
    from stream_app import metrics
    from stream_app.scoring.pipeline import RawMessage, ScoringPipeline
    from stream_app.scoring.state import InMemoryStore
    from stream_app.settings import Settings

    pipe = ScoringPipeline(Settings(state_dir=tmp_path, topic_partitions=8))
    body = b'{"timestamp": "2025-07-03T10:00:00Z", "value": 1.5}'
    keyless = b'{"asset_id": "meter-42", "timestamp": "2025-07-03T10:15:00Z", "value": 1.5}'
    batch = [
        RawMessage(b"meter-7", body, "t.readings", 4, 0),  # where murmur2 puts it
        RawMessage(b"meter-7", body.replace(b"10:00", b"10:15"), "t.readings", 5, 0),  # elsewhere
        RawMessage(None, keyless, "t.readings", 1, 0),  # keyless, on its asset's partition
        RawMessage(None, keyless.replace(b"10:15", b"10:30"), "t.readings", 2, 1),  # keyless, elsewhere
        RawMessage(b"meter-7", b"{not json", "t.readings", 3, 1),  # dead-lettered: not counted
    ]
    before = metrics.READINGS_MISROUTED._value.get()
    out = pipe.process(batch, InMemoryStore(pipe.window))
    assert out.misrouted == 2
    out.observe(len(batch), 0.01, len(pipe.cache), 0.0, pipe.cache.bytes)
    assert metrics.READINGS_MISROUTED._value.get() - before == 2
