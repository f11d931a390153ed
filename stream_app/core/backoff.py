"""The back-off schedule of everything that retries an outage (worker timers, start-up steps, a training
job's writes): one rule, pure."""

from __future__ import annotations


def pause_after(failures: int, max_s: float) -> float:
    """Seconds to wait after ``failures`` consecutive failures: 1, 2, 4 ... capped at ``max_s``."""
    return float(min(max_s, 2.0 ** min(max(failures - 1, 0), 30)))
