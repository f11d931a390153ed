"""The readings agent's handling of batches taken before a rebalance (pure, no Kafka)."""

from __future__ import annotations

from types import SimpleNamespace

from faust.types.tuples import ConsumerMessage, Message

from agents.readings import HeldBatches, owned


def event(partition: int, generation: int) -> SimpleNamespace:
    return SimpleNamespace(message=SimpleNamespace(tp=("readings", partition), generation_id=generation))


def test_a_stale_batch_keeps_only_partitions_still_owned() -> None:
    taken = [event(0, 3), event(1, 3), event(2, 3), event(1, 4)]
    kept = owned(taken, assigned={("readings", 0), ("readings", 2)}, generation=4)
    # generation 3 events survive only on partitions still held; a current-generation event always does
    assert [(e.message.tp[1], e.message.generation_id) for e in kept] == [(0, 3), (2, 3), (1, 4)]


def test_a_current_batch_is_untouched() -> None:
    taken = [event(p, 7) for p in range(4)]
    assert owned(taken, assigned=set(), generation=7) == taken


class Consumer:
    def __init__(self) -> None:
        self.final: list[int] = []

    def ack(self, message: Message) -> bool:
        self.final.append(message.offset)
        return True


def real_event(offset: int) -> SimpleNamespace:
    message = ConsumerMessage("readings", 0, offset, 0.0, 0, None, b"k", b"v", None)
    message.incref()  # faust's conductor: one reference per stream the message goes to
    return SimpleNamespace(message=message)


def test_held_events_are_not_final_acked_until_released_and_come_first() -> None:
    consumer = Consumer()
    held = HeldBatches()
    stale = [real_event(10), real_event(11)]
    held.hold(stale)
    for e in stale:  # what take_events does after the loop body
        e.message.ack(consumer)
    assert consumer.final == []  # not committable: they were not scored
    fresh = [real_event(12)]
    pending, earlier = held.take(fresh)
    assert [e.message.offset for e in pending] == [10, 11, 12] and earlier == stale
    assert held.take([])[0] == []  # released once
    for e in earlier:
        e.message.ack(consumer)
    assert consumer.final == [10, 11]
