"""The consumer of the batch readings path: faust's aiokafka consumer, with the readings topic taken
off the per-message conductor path and its offsets guarded (see ``stream_app.kafka.batching``).

It overrides faust-streaming internals (``_drain_messages``, ``_new_offset``, ``perform_seek``) and
reads the consumer's private offset bookkeeping (``_read_offset``, ``_acked``, ``_acked_index``,
``_committed_offset``, ``_gap``, ``_unacked_messages``, ``_n_acked``, ``_commit_every``,
``_stopped``, ``_add_gap``): faust is pinned to 0.15.x for that. ``_drain_messages`` is a modified
copy of upstream's; ``upstream.UPSTREAM_SHA256`` records the upstream sources this module was
written against (``tests/unit/test_faust_compat.py`` checks them; how to re-sync: ``UPSTREAM.md``)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import faust
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers.aiokafka import Consumer as AIOKafkaConsumer
from faust.types import TP

from stream_app.kafka.batching import ReadingsBuffer, committable_offset


class BatchReadingsConsumer(AIOKafkaConsumer):
    """Drains fetched readings into a ``ReadingsBuffer`` in bulk; every other topic goes the normal
    way. Readings offsets never run ahead of what was handed to the scorer: a dropped message is
    fetched again (seek back), and commits only cover runs that start at the committed offset."""

    readings_buffer: ReadingsBuffer | None = None

    @classmethod
    def install(cls, app: faust.App, buffer: ReadingsBuffer) -> None:
        """Make this the consumer class faust creates for ``app``, draining readings into ``buffer``."""
        cls.readings_buffer = buffer
        app.transport.Consumer = cls  # type: ignore[misc]  # the consumer faust creates for this app

    # --- offsets ----------------------------------------------------------------------------------
    async def perform_seek(self) -> None:
        """faust seeks every partition to its committed offset after a rebalance: start the readings
        offset tracking there."""
        await super().perform_seek()
        buffer = self.readings_buffer
        if buffer is not None:
            buffer.offsets.on_seek(
                {tp.partition: self._read_offset[tp] for tp in self.assignment() if tp.topic == buffer.topic}
            )

    def _new_offset(self, tp: TP) -> int | None:
        buffer = self.readings_buffer
        if buffer is None or tp.topic != buffer.topic or self._gap[tp]:
            return super()._new_offset(tp)
        acked = self._acked[tp]
        if not acked:
            return None
        acked.sort()
        new = committable_offset(acked, self._committed_offset[tp])
        if new is None:
            return None
        first = acked[0]
        n = 0
        while n < len(acked) and acked[n] < new:
            n += 1
        del acked[:n]
        self._acked_index[tp].difference_update(range(first, new))
        return new

    def _accept_gap(self, tp: TP, start: int, end: int) -> None:
        """Offsets ``start..end-1`` are absent from the log (transaction markers, compaction): count
        them as done so that commits can pass them."""
        acked, index = self._acked[tp], self._acked_index[tp]
        for offset in range(start, end):
            if offset not in index:
                index.add(offset)
                acked.append(offset)

    async def _rewind(self, buffer: ReadingsBuffer) -> None:
        """Seek readings partitions back to the first offset not handed to the scorer."""
        rewinds = buffer.offsets.take_rewinds()
        assigned = self.assignment()
        todo = {TP(buffer.topic, p): off for p, off in rewinds.items() if TP(buffer.topic, p) in assigned}
        if todo:
            self.log.info("seeking readings back to fetch dropped messages again: %r", todo)
            await self.seek_wait(todo)
            for tp in todo:
                self._read_offset[tp] = None

    # --- the drain loop ---------------------------------------------------------------------------
    # BEGIN copy of faust-streaming 0.15.3 faust/transport/consumer.py ``Consumer._drain_messages``
    # (modified: the readings branch, the rewind before each fetch, the commit check after each
    # fetched batch, no "DROPPED MESSAGE" debug branch; see UPSTREAM.md)
    async def _drain_messages(self, fetcher: Any) -> None:  # pragma: no cover
        """A copy of faust-streaming 0.15.3's ``Consumer._drain_messages`` with a readings branch."""
        buffer = self.readings_buffer
        if buffer is None:
            return await super()._drain_messages(fetcher)
        fast_topic = buffer.topic
        offsets = buffer.offsets
        append = buffer.append
        unacked_add = self._unacked_messages.add
        callback = self.callback
        getmany = self.getmany
        consumer_should_stop = self._stopped.is_set
        fetcher_should_stop = fetcher._stopped.is_set
        get_read_offset = self._read_offset.__getitem__
        set_read_offset = self._read_offset.__setitem__
        set_flag = self.diag.set_flag
        unset_flag = self.diag.unset_flag
        commit_every = self._commit_every
        acks_enabled_for = self.app.topics.acks_enabled_for
        yield_every = 100
        num_since_yield = 0
        sleep = asyncio.sleep
        app = self.app
        flow_active = app.flow_control.is_active
        flow_acquire = app.flow_control.acquire
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                if offsets.pending and not app.in_recovery and flow_active():
                    await self._rewind(buffer)
                set_flag(CONSUMER_FETCHING)
                ait = getmany(timeout=1.0)
                await self.sleep(0)
                if not self.should_stop:
                    epoch = buffer.epoch
                    async for tp, message in ait:
                        offset = message.offset
                        if message.topic == fast_topic:
                            p = tp.partition
                            if buffer.epoch != epoch or app.in_recovery:
                                # Cleared meanwhile (rebalance, resume) or tables being restored:
                                # not scored now, fetched again from where scoring stopped.
                                offsets.dropped(p, offset)
                                continue
                            if not flow_active():
                                await flow_acquire()  # held while a rebalance suspends flow
                                if buffer.epoch != epoch:
                                    offsets.dropped(p, offset)
                                    continue
                            if offsets.check(p, offset) == "skip":
                                continue
                            probe = offsets.accepted_gap
                            if probe is not None:
                                offsets.accepted_gap = None
                                self._accept_gap(tp, probe[0], probe[1])
                            message.refcount = 1
                            unacked_add(message)
                            append(message)
                            set_read_offset(tp, offset)
                            if not buffer.has_room.is_set():
                                while not buffer.has_room.is_set() and not self.should_stop:
                                    with contextlib.suppress(TimeoutError):
                                        await asyncio.wait_for(buffer.has_room.wait(), 1.0)
                            continue
                        r_offset = get_read_offset(tp)
                        if r_offset is None or offset >= r_offset:
                            gap = offset - (r_offset or 0)
                            if gap > 1 and r_offset and acks_enabled_for(message.topic):
                                await self._add_gap(tp, r_offset + 1, offset)
                            num_since_yield += 1
                            if num_since_yield > yield_every:
                                await sleep(0)
                                num_since_yield = 0
                            if commit_every is not None and self._n_acked >= commit_every:
                                self._n_acked = 0
                                await self.commit()
                            await self.wait_first(callback(message), self.suspend_flow.wait())
                            set_read_offset(tp, offset)
                    if commit_every is not None and self._n_acked >= commit_every:
                        self._n_acked = 0
                        await self.commit()
                    unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            unset_flag(CONSUMER_FETCHING)

    # END copy of ``Consumer._drain_messages``
