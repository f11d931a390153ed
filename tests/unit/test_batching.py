"""Offset bookkeeping of the batch readings path: no reading fetched and dropped is ever committed."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from stream_app.kafka.batching import BatchDelivery, OffsetTracker, ReadingsBuffer, committable_offset


@dataclass
class Msg:
    partition: int
    offset: int


def test_consecutive_offsets_are_accepted_and_a_jump_seeks_back() -> None:
    t = OffsetTracker()
    t.on_seek({0: 100})
    assert [t.check(0, o) for o in (100, 101, 102)] == ["accept"] * 3
    # 103..104 never reached the scorer (dropped somewhere): 105 must not be scored before them.
    assert t.check(0, 105) == "skip"
    assert t.check(0, 106) == "skip"  # still pending the seek
    assert t.take_rewinds() == {0: 103}
    assert t.check(0, 103) == "accept"
    assert t.check(0, 104) == "accept"


def test_dropped_messages_are_fetched_again_even_when_nothing_follows() -> None:
    t = OffsetTracker()
    t.on_seek({0: 0, 1: 50})
    for o in range(10):
        assert t.check(0, o) == "accept"
    t.dropped(0, 7)
    t.dropped(0, 9)
    t.dropped(0, 8)
    assert t.take_rewinds() == {0: 7}
    assert t.take_rewinds() == {}


def test_a_seek_by_faust_replaces_pending_rewinds() -> None:
    t = OffsetTracker()
    t.on_seek({0: 10})
    assert t.check(0, 10) == "accept"
    t.dropped(0, 11)
    t.on_seek({0: 5})  # rebalance: faust seeks to the committed offset
    assert t.take_rewinds() == {}
    assert t.check(0, 5) == "accept"
    # A re-fetch below what was handed over is a redelivery, accepted.
    t.on_seek({0: 5})
    assert t.check(0, 5) == "accept"


def test_a_gap_that_persists_after_seeking_back_is_accepted_and_reported() -> None:
    t = OffsetTracker()
    t.on_seek({0: 0})
    assert t.check(0, 0) == "accept"
    for _ in range(OffsetTracker.GAP_PROBES):
        assert t.check(0, 3) == "skip"
        assert t.take_rewinds() == {0: 1}
    assert t.check(0, 3) == "accept"
    assert t.accepted_gap == (1, 3)
    assert t.check(0, 4) == "accept"


def test_unknown_position_accepts_the_first_message_and_forget_clears() -> None:
    t = OffsetTracker()
    assert t.check(2, 40) == "accept"
    t.dropped(2, 41)
    t.forget([2])
    assert t.take_rewinds() == {}
    assert t.check(2, 900) == "accept"


def test_commits_only_runs_starting_at_the_committed_offset() -> None:
    # faust's own check lets "committed + 1" through, committing past the one unacked offset.
    assert committable_offset([11, 12, 13], committed=10) is None
    assert committable_offset([10, 11, 12, 14], committed=10) == 13
    assert committable_offset([8, 9, 10, 11], committed=10) == 12
    assert committable_offset([], committed=10) is None
    assert committable_offset([0, 1, 2], committed=None) == 3


def test_clearing_the_buffer_records_what_must_be_fetched_again() -> None:
    async def go() -> None:
        buf = ReadingsBuffer("readings", batch_size=2, max_size=4)
        buf.offsets.on_seek({0: 0, 1: 0})
        for m in (Msg(0, 0), Msg(0, 1), Msg(1, 0), Msg(0, 2)):
            assert buf.offsets.check(m.partition, m.offset) == "accept"
            buf.append(m)
        assert buf.batch_ready.is_set() and not buf.has_room.is_set()
        assert [m.offset for m in buf.take(2)] == [0, 1]
        epoch = buf.epoch
        buf.clear()
        assert buf.epoch == epoch + 1 and len(buf) == 0 and not buf.nonempty.is_set()
        assert buf.offsets.take_rewinds() == {1: 0, 0: 2}

    asyncio.run(go())


def test_batch_delivery_resolves_after_every_report_and_keeps_errors() -> None:
    class Rec:
        def __init__(self, topic: str, partition: int, offset: int) -> None:
            self._t, self._p, self._o = topic, partition, offset

        def topic(self) -> str:
            return self._t

        def partition(self) -> int:
            return self._p

        def offset(self) -> int:
            return self._o

    async def go() -> None:
        d = BatchDelivery(asyncio.get_running_loop(), "changelog")
        d.produced = 3
        d.on_delivery(None, Rec("changelog", 1, 7))
        d.on_delivery(None, Rec("changelog", 1, 9))
        d.seal()
        assert not d.future.done()
        d.on_delivery("broker down", Rec("scores", 0, -1))
        await asyncio.wait_for(d.future, 1.0)
        assert d.changelog_offsets == {1: 9}
        try:
            d.raise_for_errors()
        except RuntimeError as exc:
            assert "broker down" in str(exc)
        else:
            raise AssertionError("an undelivered record must fail the batch")

    asyncio.run(go())
