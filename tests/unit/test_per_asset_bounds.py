"""Per-asset maps outside the scoring cache are bounded too (issue 14): the drift monitor and the
alert-episode tracker remember at most ``max_assets`` assets, and below the bound they decide
exactly as before."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from stream_app.alerting.config import AlertConfig
from stream_app.alerting.hygiene import Episode, EpisodeTracker
from stream_app.lifecycle.drift import DriftMonitor

CFG = AlertConfig(email="ops@example.com", threshold=0.9)
NS = uuid.UUID("00000000-0000-0000-0000-000000000014")


def test_drift_monitor_forgets_the_least_recently_seen_assets() -> None:
    mon = DriftMonitor(window=16, threshold=1.2, min_points=4, max_assets=100)
    for i in range(10_000):  # one-off asset ids, two readings each
        mon.observe_reading(f"once-{i}", 1.0, 2.0)
        mon.observe_reading(f"once-{i}", 2.0, 3.0)
        if i % 50 == 0:  # a long-lived asset keeps reporting: it is never the least recent
            for v in range(3):
                mon.observe_reading("steady", float(v), float(v) + 5.0)
    assert len(mon) <= 100
    steady = mon.score("steady")
    assert steady is not None and steady > 1.2
    assert mon.score("once-0") is None and mon.score("once-9999") is None  # too few points (2)


readings = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c", "d"]), st.floats(-100, 100), st.floats(-100, 100)),
    max_size=300,
)


@given(readings)
def test_below_the_bound_drift_is_judged_as_without_it(seq: list[tuple[str, float, float]]) -> None:
    bounded = DriftMonitor(window=8, threshold=1.2, min_points=4, max_assets=4)
    unbounded = DriftMonitor(window=8, threshold=1.2, min_points=4, max_assets=10**9)
    for asset, value, expected in seq:
        bounded.observe_reading(asset, value, expected)
        unbounded.observe_reading(asset, value, expected)
    assert sorted(bounded.drifted()) == sorted(unbounded.drifted())


def test_episode_tracker_holds_at_most_max_assets() -> None:
    t = EpisodeTracker(recovery_s=600, cooldown_s=3600, max_assets=50)
    for i in range(10_000):  # each one-off asset opens an episode that alerts
        out = t.observe(CFG, uuid.uuid5(NS, str(i)), f"once-{i}", 1000.0 + i, 0.99, "spike")
        assert out.action == "opened" and out.alert
    assert len(t.open) == 50 and len(t.last_alert_at) == 50
    assert list(t.open)[-1] == "once-9999"  # the newest stay, the least recently updated went
    t.restore(
        Episode(uuid.uuid5(NS, f"d{i}"), f"dormant-{i}", 0.0, 0.0, uuid.uuid5(NS, f"e{i}"), alerted=True)
        for i in range(1_000)
    )
    assert len(t.dormant) == 50 and len(t.last_alert_at) == 50


def test_an_updated_episode_is_not_the_one_forgotten() -> None:
    t = EpisodeTracker(recovery_s=600, cooldown_s=0, max_assets=3)
    for i, asset in enumerate(["a", "b", "c"]):
        t.observe(CFG, uuid.uuid5(NS, asset), asset, 1000.0 + i, 0.99, "spike")
    t.observe(CFG, uuid.uuid5(NS, "a2"), "a", 1010.0, 0.99, "spike")  # "a" updated: "b" is the oldest
    t.observe(CFG, uuid.uuid5(NS, "d"), "d", 1011.0, 0.99, "spike")
    assert set(t.open) == {"a", "c", "d"} and t.open["a"].count == 2


anomalies = st.lists(
    st.tuples(st.sampled_from(["m1", "m2", "m3"]), st.integers(0, 50), st.floats(0.5, 1.0)),
    max_size=200,
)


@given(anomalies)
def test_below_the_bound_alerts_are_decided_as_without_it(seq: list[tuple[str, int, float]]) -> None:
    bounded = EpisodeTracker(recovery_s=600, cooldown_s=1800, max_assets=3)
    unbounded = EpisodeTracker(recovery_s=600, cooldown_s=1800, max_assets=10**9)
    at = 0.0
    for n, (asset, gap_min, score) in enumerate(seq):
        at += 60.0 * gap_min
        event = uuid.uuid5(NS, f"{n}")
        a = bounded.observe(CFG, event, asset, at, score, "spike")
        b = unbounded.observe(CFG, event, asset, at, score, "spike")
        assert (a.action, a.alert, a.episode, a.closed) == (b.action, b.alert, b.episode, b.closed)
        if n % 7 == 0:
            assert bounded.close_idle(at) == unbounded.close_idle(at)
