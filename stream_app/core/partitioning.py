"""Kafka's default partitioner for keyed messages, as the Java client computes it: the 32-bit
murmur2 hash of the key bytes (seed 0x9747b28c), made positive by clearing the sign bit, modulo the
partition count. aiokafka and faust use the same function; librdkafka (confluent-kafka) does only
with ``partitioner=murmur2_random`` (its default, ``consistent_random``, hashes with CRC32).

kilowatch keeps an asset's state in the partition its key hashes to; a reading that arrives on
another partition (a producer with another partitioner, or an explicit partition) breaks the asset's
ordering and state. ``PartitionCheck`` tells the scoring path which readings those are. Pure.
"""

from __future__ import annotations

import struct

_M = 0x5BD1E995
_SEED = 0x9747B28C
_MASK = 0xFFFFFFFF
_WORDS = struct.Struct("<I")


def murmur2(data: bytes) -> int:
    """The unsigned 32-bit murmur2 hash Kafka's Java client computes (``Utils.murmur2``)."""
    length = len(data)
    h = (_SEED ^ length) & _MASK
    body = length - length % 4
    for (k,) in _WORDS.iter_unpack(data[:body]):
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    tail = data[body:]
    if tail:
        for i in range(len(tail) - 1, -1, -1):
            h ^= tail[i] << (8 * i)
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h


def partition_for(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner puts ``key`` in (``toPositive(murmur2) % n``)."""
    if partitions < 1:
        raise ValueError(f"a topic has at least one partition, not {partitions}")
    return (murmur2(key) & 0x7FFFFFFF) % partitions


class PartitionCheck:
    """Whether a keyed message arrived on the partition its key hashes to; the hash of each key is
    computed once (a bounded cache: it is cleared when it holds ``max_keys`` keys)."""

    def __init__(self, partitions: int, max_keys: int = 100_000) -> None:
        if partitions < 1:
            raise ValueError(f"a topic has at least one partition, not {partitions}")
        self.partitions = partitions
        self.max_keys = max_keys
        self._expected: dict[bytes, int] = {}

    def expected(self, key: bytes) -> int:
        p = self._expected.get(key)
        if p is None:
            if len(self._expected) >= self.max_keys:
                self._expected.clear()
            p = self._expected[key] = partition_for(key, self.partitions)
        return p

    def misrouted(self, key: bytes, partition: int) -> bool:
        return self.expected(key) != partition
