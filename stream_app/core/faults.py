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


# A planted fault is *observable within k readings* when its first k readings form a pattern that the
# clean series itself shows at no more than this share of comparable readings (see ``observable``).
OBSERVABLE_SHARE = 0.01
OBSERVABLE_WITHIN = 3
SIMILAR = 2.0  # comparable readings: level within this factor (a plant idling vs running)
LEVEL_FLOOR = 0.02  # share of the mean |level| added to levels before ratios (values near zero)


@dataclass(frozen=True, slots=True)
class InjectedFault:
    index: int  # first affected reading
    kind: FaultKind
    length: int  # affected readings
    # False when the clean series does the same thing routinely (see ``observable``): no detector can
    # tell this fault from normal operation within OBSERVABLE_WITHIN readings without alarming as often
    observable: bool = True


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
    clean = np.asarray(values, dtype=float)
    out = clean.copy()
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
            faults.append(InjectedFault(i, kind, length, observable(clean, out, i, kind)))
        else:
            length = int(rng.integers(12, 25))
            out[i : i + length] = out[i - 1]
            faults.append(InjectedFault(i, kind, length, observable(clean, out, i, kind)))
    return out, faults


def _runs(x: np.ndarray) -> np.ndarray:
    """run[j] = number of exact repeats ending at reading j (0 when x[j] != x[j - 1])."""
    run = np.zeros(len(x), dtype=int)
    for j in range(1, len(x)):
        if x[j] == x[j - 1]:
            run[j] = run[j - 1] + 1
    return run


def observable(
    clean: np.ndarray, faulty: np.ndarray, i: int, kind: FaultKind, within: int = OBSERVABLE_WITHIN
) -> bool:
    """Does the fault at ``i`` look unlike the clean series within its first ``within`` readings?

    A detector-independent oracle with hindsight over the whole clean series: the fault's signature
    over its first ``within`` readings is ranked among the same signature at every clean reading of
    a similar level (within a factor ``SIMILAR``).  If at least ``OBSERVABLE_SHARE`` of those show a
    signature as extreme, flagging this fault within ``within`` readings means flagging at least as
    many normal readings, whatever the detector.  Signatures: a *flatline* by the run of exact
    repeats it has built after ``within`` readings (an idling meter with a coarse resolution repeats
    itself routinely); a *sustained drop* by the highest of its first ``within`` readings over the
    lower of the two before it (a running plant halves its load routinely; an idling one never does).
    Spikes and dips are one-reading faults of a size the clean series does not show: always True.
    """
    if kind not in ("flatline", "sustained_drop") or i < 2 or i + within > len(faulty):
        return True
    f = LEVEL_FLOOR * float(np.mean(np.abs(clean))) + 1e-9
    if kind == "flatline":
        run = int(_runs(faulty[: i + within])[-1])
        level = abs(float(faulty[i])) + f
        ref_run = _runs(clean)
        ref_level = np.abs(clean) + f
        similar = (ref_level >= level / SIMILAR) & (ref_level <= level * SIMILAR)
        extreme = similar & (ref_run >= run)
    else:
        base = min(float(faulty[i - 2]), float(faulty[i - 1])) + f
        ratio = (float(np.max(faulty[i : i + within])) + f) / base
        n = len(clean)
        ref_base = np.minimum(clean[: n - within - 1], clean[1 : n - within]) + f
        ref_top = clean[2 : n - within + 1].copy()
        for k in range(1, within):
            ref_top = np.maximum(ref_top, clean[2 + k : n - within + 1 + k])
        ref_top = ref_top + f
        similar = (ref_base >= base / SIMILAR) & (ref_base <= base * SIMILAR)
        extreme = similar & (ref_top <= ratio * ref_base)
    n_similar = int(np.count_nonzero(similar))
    return n_similar == 0 or int(np.count_nonzero(extreme)) / n_similar < OBSERVABLE_SHARE


def observable_recall(
    verdict_flags: Sequence[bool] | np.ndarray, faults: Sequence[InjectedFault], within: int = 3
) -> tuple[int, int]:
    """(observable faults flagged within ``within`` readings, observable faults); see ``observable``."""
    flags = np.asarray(verdict_flags, dtype=bool)
    seen = [f for f in faults if f.observable]
    return sum(bool(flags[f.index : f.index + within].any()) for f in seen), len(seen)


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
