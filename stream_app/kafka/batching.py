"""Bookkeeping of the batch readings path (``agents/batch_readings.py``, its consumer in
``stream_app/kafka/faust_compat/consumer.py``), without Kafka or faust.

Why these parts exist (the crash-safety argument of the batch path):

- faust commits, per partition, the first run of consecutive acked offsets, and it treats a jump in
  the offsets it reads as a legitimate gap (compaction, transaction markers) that counts as done. A
  reading that was fetched and then dropped (a buffer cleared on rebalance, a fetch abandoned because
  flow was suspended, a message skipped during table recovery) therefore either silently becomes
  "done" — the next offset read after it opens a gap — or, with faust's off-by-one head check
  (``min(acked) - committed > 1``), is committed past when it is the only missing offset. After a
  SIGKILL such a reading is never scored. ``OffsetTracker`` makes every drop visible and turns it into
  a seek back; ``committable_offset`` only ever commits a run that starts at the committed offset.
- Micro-batches are delivered concurrently; ``BatchDelivery`` resolves when every record of a batch
  has a delivery report, and the caller acks batches strictly in the order they were taken.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from typing import Any, Literal

log = logging.getLogger(__name__)

Decision = Literal["accept", "skip"]


class OffsetTracker:
    """Per readings partition: the lowest offset not yet handed to the scorer (``expected``).

    Invariant: every offset below ``expected[p]`` was handed to the scorer since the last seek (or is
    below the committed offset faust sought to). A fetched message above ``expected[p]`` means
    something in between was dropped: the partition must be sought back to ``expected[p]`` before
    anything after it is scored. Partitions are plain ints (one topic)."""

    # Seeks back to the same offset that still start above it before a gap is believed: a record
    # fetched before a seek can still arrive after it once.
    GAP_PROBES = 2

    def __init__(self) -> None:
        self.expected: dict[int, int] = {}
        self.pending: set[int] = set()  # partitions whose consumer position may be past ``expected``
        self.probes: dict[int, tuple[int, int]] = {}  # partition -> (offset sought back to, times)
        self.accepted_gap: tuple[int, int] | None = None  # set by check(): offsets [a, b) absent

    def on_seek(self, positions: dict[int, int | None]) -> None:
        """faust sought these partitions (to their committed offsets): nothing is pending there."""
        for p, offset in positions.items():
            self.pending.discard(p)
            self.probes.pop(p, None)
            if offset is None:
                self.expected.pop(p, None)
            else:
                self.expected[p] = offset

    def forget(self, partitions: Iterable[int]) -> None:
        """Partitions revoked: their next owner starts from the committed offset."""
        for p in partitions:
            self.expected.pop(p, None)
            self.pending.discard(p)
            self.probes.pop(p, None)

    def dropped(self, partition: int, offset: int) -> None:
        """A fetched message will not be scored: it has to be fetched again."""
        current = self.expected.get(partition)
        if current is None or offset < current:
            self.expected[partition] = offset
        self.pending.add(partition)

    def check(self, partition: int, offset: int) -> Decision:
        """Decide on a fetched message: ``accept`` hands it to the scorer; ``skip`` drops it (the
        partition is then pending a seek back to ``expected``)."""
        if partition in self.pending:
            return "skip"  # the position is being rewound; this fetch is stale
        want = self.expected.get(partition)
        if want is None or offset == want:
            self.expected[partition] = offset + 1
            self.probes.pop(partition, None)
            return "accept"
        if offset < want:
            # A re-fetch of a message already handed over (after faust sought back): the pipeline
            # recognises the redelivery by its source offset.
            return "accept"
        probed_at, times = self.probes.get(partition, (-1, 0))
        times = times + 1 if probed_at == want else 1
        if times > self.GAP_PROBES:
            # Sought back to ``want`` repeatedly and the broker still starts above it: a real gap.
            log.info("readings partition %d: offsets %d..%d absent from the log", partition, want, offset - 1)
            del self.probes[partition]
            self.expected[partition] = offset + 1
            self.accepted_gap = (want, offset)
            return "accept"
        log.warning(
            "readings partition %d: fetched offset %d but %d was never scored; seeking back",
            partition,
            offset,
            want,
        )
        self.probes[partition] = (want, times)
        self.pending.add(partition)
        return "skip"

    def take_rewinds(self) -> dict[int, int]:
        """Partitions to seek back, and where (clears the pending set)."""
        out = {p: self.expected[p] for p in self.pending if p in self.expected}
        self.pending.clear()
        return out


def committable_offset(acked: Sequence[int], committed: int | None) -> int | None:
    """The offset to commit given the sorted acked offsets of a partition: one past the first run of
    consecutive offsets, and only when that run starts at (or below) the committed offset — a run
    starting above it would commit past an offset nobody acked. ``None``: nothing to commit."""
    if not acked:
        return None
    if committed is not None and acked[0] > committed:
        return None
    end = acked[0]
    for offset in acked[1:]:
        if offset != end + 1:
            break
        end = offset
    return end + 1


class ReadingsBuffer:
    """Raw faust ``Message`` objects of the readings topic, waiting to be scored."""

    def __init__(self, topic: str, batch_size: int, max_size: int) -> None:
        self.topic = topic
        self.batch_size = batch_size
        self.max_size = max_size
        self.items: list[Any] = []
        self.nonempty = asyncio.Event()
        self.batch_ready = asyncio.Event()
        self.has_room = asyncio.Event()
        self.has_room.set()
        self.offsets = OffsetTracker()
        # Bumped by clear(): the drain loop abandons a fetched batch it was in the middle of.
        self.epoch = 0

    def append(self, message: Any) -> None:
        items = self.items
        items.append(message)
        n = len(items)
        if n == 1:
            self.nonempty.set()
        if n >= self.batch_size:
            self.batch_ready.set()
            if n >= self.max_size:
                self.has_room.clear()

    def take(self, n: int) -> list[Any]:
        items = self.items
        batch = items[:n]
        del items[:n]
        self._update()
        return batch

    def clear(self) -> None:
        """Called by faust's flow control on a rebalance and when streams resume: the dropped
        messages are recorded so that they are fetched again."""
        if self.items:
            log.info("dropping %d buffered readings (fetched again)", len(self.items))
        for m in self.items:
            self.offsets.dropped(m.partition, m.offset)
        self.items.clear()
        self.epoch += 1
        self._update()

    def _update(self) -> None:
        n = len(self.items)
        if n == 0:
            self.nonempty.clear()
        if n < self.batch_size:
            self.batch_ready.clear()
        if n < self.max_size:
            self.has_room.set()

    def __len__(self) -> int:
        return len(self.items)


class DeliveryError(RuntimeError):
    """A changelog or event record was not delivered: the batch must not be acked."""


class BatchDelivery:
    """Delivery tracking of one micro-batch's records; ``future`` resolves (on the loop) when every
    record the batch produced has a delivery report. ``on_delivery`` runs on the producer's poll
    thread; the counters are only compared there and on the loop after ``seal``."""

    def __init__(self, loop: asyncio.AbstractEventLoop, changelog_topic: str) -> None:
        self.loop = loop
        self.changelog_topic = changelog_topic
        self.produced = 0
        self.delivered = 0
        self.sealed = False
        self.errors: list[str] = []
        self.changelog_offsets: dict[int, int] = {}
        self.future: asyncio.Future[None] = loop.create_future()

    def on_delivery(self, err: Any, msg: Any) -> None:
        if err is not None:
            self.errors.append(f"{msg.topic()}[{msg.partition()}]: {err}")
        elif msg.topic() == self.changelog_topic:
            p = msg.partition()
            off = msg.offset()
            if off > self.changelog_offsets.get(p, -1):
                self.changelog_offsets[p] = off
        self.delivered += 1
        if self.sealed and self.delivered >= self.produced and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.check)

    def seal(self) -> None:
        """No more records for this batch."""
        self.sealed = True
        self.check()

    def check(self) -> None:  # on the loop; idempotent
        if self.sealed and self.delivered >= self.produced and not self.future.done():
            self.future.set_result(None)

    def raise_for_errors(self) -> None:
        if self.errors:
            raise DeliveryError(f"{len(self.errors)} records undelivered: {self.errors[:5]}")
