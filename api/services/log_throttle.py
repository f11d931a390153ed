"""A logging filter that lets at most ``burst`` records of one message template through per period.

While Kafka is down, aiokafka logs "Unable connect to node ..." from its metadata and sender loops as
fast as they spin (40,000 lines in 30 s in the fault-injection run): the filter keeps the first few of
each kind per period and says on the next one let through how many it dropped, so an outage stays
visible in the log without flooding it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

# aiokafka's loggers that report a broker it cannot reach, once per attempt (its client logs on "aiokafka").
KAFKA_LOGGERS = ("aiokafka", "aiokafka.conn", "aiokafka.producer.sender", "aiokafka.cluster")


class Throttle(logging.Filter):
    def __init__(
        self, burst: int = 5, period_s: float = 10.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self.burst = burst
        self.period_s = period_s
        self.clock = clock
        # (logger, template) -> [window start, records let through in it, records dropped since]
        self._seen: dict[tuple[str, str], list[float]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, str(record.msg))
        now = self.clock()
        state = self._seen.get(key)
        if state is None or now - state[0] >= self.period_s:
            dropped = int(state[2]) if state is not None else 0
            self._seen[key] = [now, 1.0, 0.0]
            if dropped and isinstance(record.args, tuple):
                record.msg = f"{record.msg} (%d more like this dropped in %.0f s)"
                record.args = (*record.args, dropped, self.period_s)
            if len(self._seen) > 1_000:  # templates are few; never let the map grow unbounded
                self._seen = {key: self._seen[key]}
            return True
        if state[1] < self.burst:
            state[1] += 1
            return True
        state[2] += 1
        return False


def install(names: tuple[str, ...] = KAFKA_LOGGERS) -> None:
    """A throttle on each named logger, once per process (an installed one is kept)."""
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, Throttle) for f in logger.filters):
            logger.addFilter(Throttle())
