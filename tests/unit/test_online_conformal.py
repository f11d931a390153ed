"""Conformal pattern evidence: p-values from the asset's own ring, exact and level-aware."""

from __future__ import annotations

import numpy as np

from stream_app.core import online_conformal as cf
from stream_app.core.window import AssetState

W = 200


def ring(values: np.ndarray) -> AssetState:
    state = AssetState(W)
    for i, v in enumerate(values.tolist()):
        state.push(900.0 * i, v, False)
    return state


def calm(n: int, level: float = 10.0, seed: int = 0) -> np.ndarray:
    return level + np.random.default_rng(seed).normal(0.0, 0.1, n)


def test_unseen_drop_out_has_the_smallest_p_value() -> None:
    v = calm(300)
    v[-1] = 0.5  # the newest ring reading dropped out; the next one (11.0 below) came back
    p, cut = cf.excursion_p(ring(v), 10.0, floor=0.2, stop=0.02)
    assert p == 1.0 / (W - 1)  # deeper than all W - 2 earlier ring readings with two neighbours
    assert cf.excursion_depth(0.5, v[-2], 10.0, 0.2) > cut


def test_routine_excursion_is_no_evidence() -> None:
    v = calm(300)
    v[::10] = 2.0  # this meter drops out every 10 readings: one more is not telling
    state = ring(v[:-9])
    assert state.values[state.seq % W] == 2.0
    p, _ = cf.excursion_p(state, 10.0, floor=0.2, stop=0.02)
    assert p == 1.0


def test_drop_is_judged_among_similar_levels() -> None:
    rng = np.random.default_rng(1)
    v = np.where(rng.random(300) < 0.5, 100.0, 3.0)  # a plant that halves (and more) all day long
    v[-8:] = 3.0  # ... then idles
    v[-3:] = 1.4  # a halving while idling is new
    state = ring(v[:-1])
    assert cf.drop_p(state, float(v[-1]), floor=0.1, stop=0.02) < 0.02
    running = ring(np.r_[v[:-8], [100.0, 100.0, 45.0, 48.0]])  # the same halving while running
    assert cf.drop_p(running, 46.0, floor=0.1, stop=0.02) == 1.0


def test_run_of_repeats_is_judged_among_similar_levels() -> None:
    v = calm(300, level=50.0)
    v[:150] = np.round(calm(150, level=3.0), 1)  # an idle meter at 0.1 resolution repeats often
    v[-3:] = v[-4]  # a running machine stuck for 3 readings
    state = ring(v[:-1])
    assert cf.run_p(state, float(v[-1]), 3, floor=1.0, stop=0.02) < 0.02
    idle = ring(v[:150])
    assert cf.run_p(idle, float(v[149]), 1, floor=1.0, stop=0.02) == 1.0


def test_too_short_a_ring_gives_no_evidence() -> None:
    v = calm(5)
    assert cf.excursion_p(ring(v), 10.0, floor=0.2, stop=0.02)[0] == 1.0
    assert cf.drop_p(ring(v), 1.0, floor=0.2, stop=0.02) == 1.0


def test_flagged_drops_do_not_make_a_new_one_normal() -> None:
    v = calm(300, level=3.0)
    for start in range(100, 290, 20):  # ten earlier drops, deeper still
        v[start : start + 3] = 1.3
    v[-3:] = 1.4
    state = ring(v[:-1])
    assert cf.drop_p(state, 1.4, floor=0.1, stop=0.02) == 1.0  # routine: it happened ten times
    for start in range(100, 290, 20):
        for i in range(start, start + 3):
            state.flags[i % W] = 1  # ... but each time it was an anomaly
    assert cf.drop_p(state, 1.4, floor=0.1, stop=0.02) < 0.02


def test_drop_to_a_level_never_held_is_evidence() -> None:
    rng = np.random.default_rng(2)
    v = np.where(rng.random(300) < 0.5, 6.0, 3.0) + rng.normal(0.0, 0.05, 300)  # halvings are routine
    v[-5:-3] = 3.0
    v[-3:] = 1.5  # the same ratio, but to a level this asset never held
    state = ring(v[:-1])
    assert cf.drop_p(state, 1.5, floor=0.1, stop=0.02) < 0.02
    v[-3:] = 3.0 * 0.5 + 1.6  # a halving-sized move that stays inside the usual range
    assert cf.drop_p(ring(v[:-1]), float(v[-1]), floor=0.1, stop=0.02) == 1.0
