"""Inject realistic faults into a real series and measure how a detector catches them.

Used by the quality tests: real data has no labelled energy faults, so we plant the ones a meter
or a plant actually produces (spikes, drop-outs, sustained drops, a stuck meter) far enough apart
that the detector has recovered in between, and score recall and false alarms.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

FaultKind = Literal["spike", "dip", "sustained_drop", "flatline"]
FAULT_KINDS: tuple[FaultKind, ...] = ("spike", "dip", "sustained_drop", "flatline")


@dataclass(frozen=True, slots=True)
class InjectedFault:
    index: int  # first affected reading
    kind: FaultKind
    length: int  # affected readings


def _local(values: np.ndarray, i: int, span: int = 96) -> tuple[float, float]:
    """Recent level (median of the last 8 readings) and local std (of the last ``span`` readings)."""
    level = float(np.median(values[max(0, i - 8) : i]))
    return level, float(np.std(values[max(0, i - span) : i]))


def inject_faults(
    values: np.ndarray,
    rng_seed: int,
    every: int,
    kinds: Sequence[FaultKind] = FAULT_KINDS,
    start: int = 0,
) -> tuple[np.ndarray, list[InjectedFault]]:
    """Plant one fault per ``every`` readings (random offset in each block, kinds cycled).

    * spike: one reading at 160-250% of the recent level (or the reading, if higher) + 3-6 local std;
    * dip: one reading at 0 or at most 30% of the recent level;
    * sustained_drop: 16-32 readings multiplied by 0.4-0.6;
    * flatline: 12-24 readings stuck at the value just before the fault.

    Each block keeps its last third free so the detector can recover before the next fault.
    ``start`` leaves the first readings (warm-up) untouched.
    """
    if every < 64:
        raise ValueError("faults must be at least 64 readings apart")
    rng = np.random.default_rng(rng_seed)
    out = np.asarray(values, dtype=float).copy()
    faults: list[InjectedFault] = []
    first = max(start, every)
    for n, block in enumerate(range(first, len(out) - every, every)):
        kind = kinds[n % len(kinds)]
        i = block + int(rng.integers(0, every // 3))
        level, std = _local(out, i)
        level = max(level, out[i], 1e-9)
        if kind == "spike":
            out[i] = level * (1.0 + rng.uniform(0.6, 1.5)) + rng.uniform(3.0, 6.0) * std
            faults.append(InjectedFault(i, kind, 1))
        elif kind == "dip":
            out[i] = 0.0 if rng.random() < 0.5 else min(out[i], level) * rng.uniform(0.0, 0.3)
            faults.append(InjectedFault(i, kind, 1))
        elif kind == "sustained_drop":
            length = int(rng.integers(16, 33))
            out[i : i + length] *= rng.uniform(0.4, 0.6)
            faults.append(InjectedFault(i, kind, length))
        else:
            length = int(rng.integers(12, 25))
            out[i : i + length] = out[i - 1]
            faults.append(InjectedFault(i, kind, length))
    return out, faults


def detection_report(
    verdict_flags: Sequence[bool] | np.ndarray,
    faults: Sequence[InjectedFault],
    within: int = 3,
    recovery: int = 4,
    start: int = 0,
) -> tuple[float, float]:
    """(recall, false-alarm rate).

    A fault is detected when any reading in ``[index, index + within)`` is flagged.  A false alarm
    is a flagged reading at or after ``start`` outside every ``[index, index + length + recovery)``;
    the rate is per reading outside those spans.
    """
    flags = np.asarray(verdict_flags, dtype=bool)
    if not faults:
        raise ValueError("no faults to report on")
    hit = sum(bool(flags[f.index : f.index + within].any()) for f in faults)
    inside = np.zeros(len(flags), dtype=bool)
    inside[:start] = True
    for f in faults:
        inside[f.index : f.index + f.length + recovery] = True
    outside = ~inside
    n_out = int(outside.sum())
    false_alarms = int((flags & outside).sum())
    return hit / len(faults), (false_alarms / n_out if n_out else 0.0)
