"""Synthetic meter families for the detector's property tests (issue 12).

Every family is a function ``(rng, n) -> values`` of ``n`` readings at a regular 5-minute step (see
:func:`epochs`), deterministic for a given ``numpy.random.Generator`` state, with nothing planted and of
order-one magnitude; the tests multiply by a drawn scale, add a drawn offset or plant a spike.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

STEP_S = 300.0  # 5-minute readings
DAY = 288  # readings per day
T0 = 1_699_920_000.0  # 2023-11-14 00:00:00 UTC, a midnight

Family = Callable[[np.random.Generator, int], np.ndarray]


def epochs(n: int) -> np.ndarray:
    """Regular timestamps (epoch seconds) of ``n`` 5-minute readings."""
    return T0 + STEP_S * np.arange(n, dtype=float)


def _phase(n: int) -> np.ndarray:
    """Time of day in [0, 1) of each reading."""
    return (np.arange(n) % DAY) / DAY


def constant(rng: np.random.Generator, n: int) -> np.ndarray:
    """One value, repeated exactly (a meter reporting a contractual or fixed load)."""
    return np.full(n, float(rng.uniform(0.5, 2.0)))


def idle_bursts(rng: np.random.Generator, n: int) -> np.ndarray:
    """Exactly 0.0 most of the time; a burst of load of 1-6 readings about every 3-12 hours."""
    x = np.zeros(n)
    i = int(rng.integers(6, 36))
    while i < n:
        length = int(rng.integers(1, 7))
        x[i : i + length] = rng.uniform(0.5, 2.0) * rng.uniform(0.8, 1.2, size=len(x[i : i + length]))
        i += length + int(rng.integers(36, 144))
    return x


def sine(rng: np.random.Generator, n: int) -> np.ndarray:
    """A noiseless daily sine, mean 1, amplitude 0.2-0.9, random phase."""
    amp = float(rng.uniform(0.2, 0.9))
    shift = float(rng.uniform(0.0, 1.0))
    return 1.0 + amp * np.sin(2.0 * np.pi * (_phase(n) + shift))


def square(rng: np.random.Generator, n: int) -> np.ndarray:
    """A perfect square wave: half a period on (1.0), half off (0.0 or 0.2); period 2, 6, 12 or 24 h."""
    period = int(rng.choice([24, 72, 144, 288]))
    low = float(rng.choice([0.0, 0.2]))
    start = int(rng.integers(0, period))
    on = ((np.arange(n) + start) % period) < period // 2
    return np.where(on, 1.0, low)


def poisson(rng: np.random.Generator, n: int) -> np.ndarray:
    """Integer counts (pulses per interval), Poisson with a mean of 0.5-20."""
    lam = float(rng.uniform(0.5, 20.0))
    return rng.poisson(lam, size=n).astype(float)


def _load_profile(n: int) -> np.ndarray:
    """A household-like daily shape: night base, morning and evening peaks (1 at the evening peak)."""
    h = _phase(n) * 24.0
    morning = 0.45 * np.exp(-0.5 * ((h - 7.5) / 1.2) ** 2)
    evening = 0.75 * np.exp(-0.5 * ((h - 19.0) / 2.0) ** 2)
    return 0.25 + morning + evening


def net_metering(rng: np.random.Generator, n: int) -> np.ndarray:
    """Consumption minus rooftop solar: negative around noon (export), positive at night."""
    cloud = np.clip(1.0 + 0.15 * rng.standard_normal(n), 0.3, 1.3)
    h = _phase(n) * 24.0
    solar = float(rng.uniform(1.0, 2.5)) * np.clip(np.sin(np.pi * (h - 6.0) / 12.0), 0.0, None) * cloud
    load = _load_profile(n) * (1.0 + 0.08 * rng.standard_normal(n))
    return load - solar


def load_curve(rng: np.random.Generator, n: int) -> np.ndarray:
    """A realistic noisy daily load: daily shape, weekday/weekend level, 6 % multiplicative noise."""
    day = np.arange(n) // DAY
    weekend = ((day + int(rng.integers(0, 7))) % 7) >= 5
    level = np.where(weekend, 0.85, 1.0) * float(rng.uniform(0.5, 2.0))
    noise = 1.0 + 0.06 * rng.standard_normal(n)
    out: np.ndarray = level * _load_profile(n) * noise
    return out


def quantized(rng: np.random.Generator, n: int) -> np.ndarray:
    """The noisy load curve as a meter with a coarse register reports it: rounded to a 0.1 or 0.25 step."""
    q = float(rng.choice([0.1, 0.25]))
    return np.round(load_curve(rng, n) / q) * q


FAMILIES: dict[str, Family] = {
    "constant": constant,
    "idle_bursts": idle_bursts,
    "sine": sine,
    "square": square,
    "poisson": poisson,
    "net_metering": net_metering,
    "load_curve": load_curve,
    "quantized": quantized,
}


def generate(family: str, seed: int, n: int) -> np.ndarray:
    """``n`` readings of ``family`` from ``seed`` (reproducible: the seed is in every failure message)."""
    return FAMILIES[family](np.random.default_rng(seed), n)


def typical_range(x: np.ndarray, end: int, span: int = DAY) -> float:
    """Max minus min of the ``span`` readings before ``end`` (a day: covers a daily cycle or a burst)."""
    w = x[max(0, end - span) : end]
    return float(w.max() - w.min()) if len(w) else 0.0


def spike_value(x: np.ndarray, i: int) -> float:
    """The planted 5x spike at reading ``i``: ``v + max(4 |v|, 5 R)``.

    ``v = x[i]`` is the reading the spike replaces (the local level) and ``R`` is :func:`typical_range`
    over the day before it. For a positive level without much variation this is ``5 v`` (five times
    the local level); for a level near zero or negative (idle meters, net metering) or a wide daily
    cycle it is the level plus five times the typical range, so the spike always stands 5 ranges
    clear of anything the previous day held.
    """
    v = float(x[i])
    return v + max(4.0 * abs(v), 5.0 * typical_range(x, i))


def jaccard(a: Sequence[int] | set[int], b: Sequence[int] | set[int]) -> float:
    """|A & B| / |A | B|; 1.0 for two empty sets (nothing flagged in both is agreement)."""
    sa, sb = set(a), set(b)
    union = sa | sb
    return len(sa & sb) / len(union) if union else 1.0
