"""The API's log throttle: at most ``burst`` records of one template per period, the rest counted and
reported on the next record let through."""

from __future__ import annotations

import logging

from hypothesis import given
from hypothesis import strategies as st

from api.services.log_throttle import Throttle


def record(msg: str = "Unable connect to node with id %s: %s", args: tuple[object, ...] = (1, "refused")):
    return logging.LogRecord("aiokafka", logging.ERROR, __file__, 1, msg, args, None)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@given(st.lists(st.floats(min_value=0, max_value=5.0, allow_nan=False), min_size=1, max_size=300))
def test_records_are_bounded_per_period_and_every_drop_is_reported(gaps: list[float]) -> None:
    clock = Clock()
    throttle = Throttle(burst=3, period_s=10.0, clock=clock)
    passed: list[logging.LogRecord] = []
    times: list[float] = []
    for gap in gaps:
        clock.now += gap
        r = record()
        if throttle.filter(r):
            passed.append(r)
            times.append(clock.now)
    clock.now += 10.0  # one more record after a quiet period reports the last drops
    last = record()
    assert throttle.filter(last)
    passed.append(last)
    # Any 10 s holds at most two windows' worth (windows start at a record let through).
    for t in times:
        assert sum(1 for u in times if t <= u < t + 10.0) <= 2 * 3
    reported = sum(int(r.args[-2]) for r in passed if isinstance(r.args, tuple) and len(r.args) == 4)
    assert len(passed) + reported == len(gaps) + 1  # nothing dropped silently


def test_a_flood_keeps_the_first_records_and_reports_how_many_it_dropped() -> None:
    clock = Clock()
    throttle = Throttle(burst=5, period_s=10.0, clock=clock)
    through = [r for r in (record() for _ in range(40_000)) if throttle.filter(r)]
    assert len(through) == 5
    other = record("Unable to update metadata from %s", ("node 1",))
    assert throttle.filter(other)  # another kind has its own budget
    clock.now = 10.0
    r = record()
    assert throttle.filter(r)
    assert r.getMessage().endswith("(39995 more like this dropped in 10 s)")


def test_a_record_with_mapping_args_passes_unchanged() -> None:
    clock = Clock()
    throttle = Throttle(burst=1, period_s=1.0, clock=clock)
    assert throttle.filter(record("%(a)s", ({"a": 1},)))
    assert not throttle.filter(record("%(a)s", ({"a": 1},)))
    clock.now = 2.0
    r = logging.LogRecord("aiokafka", logging.ERROR, __file__, 1, "%(a)s", ({"a": 2},), None)
    assert throttle.filter(r) and r.getMessage() == "2"
