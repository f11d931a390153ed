"""Alert hygiene: one episode, one alert; cooldown; duplicates; recovery closes episodes."""

from __future__ import annotations

import uuid

import pytest
from pydantic import ValidationError

from stream_app.alerting.config import AlertConfig
from stream_app.alerting.hygiene import EpisodeTracker
from stream_app.alerting.messages import alert_message, backoff_delay, digest_message

CFG = AlertConfig(email="ops@example.com", threshold=0.9)


def eid() -> uuid.UUID:
    return uuid.uuid4()


def test_a_burst_of_anomalies_on_one_asset_sends_one_alert() -> None:
    t = EpisodeTracker(recovery_s=600, cooldown_s=0)
    outs = [t.observe(CFG, eid(), "m1", 1000 + 60 * i, 0.99, "spike") for i in range(100)]
    assert [o.action for o in outs] == ["opened"] + ["updated"] * 99
    assert sum(o.alert for o in outs) == 1 and outs[0].alert
    ep = t.open["m1"]
    assert ep.count == 100 and ep.last_at == 1000 + 60 * 99


def test_other_assets_have_their_own_episodes() -> None:
    t = EpisodeTracker(recovery_s=600, cooldown_s=3600)
    a = t.observe(CFG, eid(), "m1", 0, 0.99, "spike")
    b = t.observe(CFG, eid(), "m2", 1, 0.99, "dip")
    assert a.alert and b.alert and a.episode is not b.episode


def test_redelivered_event_ids_change_nothing() -> None:
    t = EpisodeTracker(recovery_s=600, cooldown_s=0)
    e = eid()
    first = t.observe(CFG, e, "m1", 0, 0.99, "spike")
    again = t.observe(CFG, e, "m1", 5, 0.99, "spike")
    assert first.alert and again.action == "duplicate" and not again.alert
    assert t.open["m1"].count == 1


def test_recovery_closes_the_episode_and_a_later_anomaly_opens_a_new_one() -> None:
    t = EpisodeTracker(recovery_s=600, cooldown_s=0)
    t.observe(CFG, eid(), "m1", 0, 0.99, "spike")
    assert t.close_idle(500) == []
    closed = t.close_idle(700)
    assert [c.asset_id for c in closed] == ["m1"] and closed[0].closed_at == 600
    again = t.observe(CFG, eid(), "m1", 800, 0.99, "spike")
    assert again.action == "opened" and again.alert


def test_late_anomaly_after_recovery_closes_old_episode_inline() -> None:
    t = EpisodeTracker(recovery_s=600, cooldown_s=0)
    first = t.observe(CFG, eid(), "m1", 0, 0.99, "spike")
    out = t.observe(CFG, eid(), "m1", 1000, 0.99, "spike")
    assert out.action == "opened" and out.closed is first.episode and out.closed.closed_at == 600


def test_cooldown_silences_a_new_episode_soon_after_an_alert() -> None:
    t = EpisodeTracker(recovery_s=60, cooldown_s=3600)
    assert t.observe(CFG, eid(), "m1", 0, 0.99, "spike").alert
    t.close_idle(100)
    second = t.observe(CFG, eid(), "m1", 200, 0.99, "spike")
    assert second.action == "opened" and not second.alert and second.episode.suppressed
    # still suppressed for the whole episode, even once the cooldown has passed
    assert not t.observe(CFG, eid(), "m1", 230, 0.99, "spike").alert
    t.close_idle(400)
    assert t.observe(CFG, eid(), "m1", 4000, 0.99, "spike").alert


def test_threshold_types_and_enabled_filter_alerts_but_episodes_still_form() -> None:
    cfg = AlertConfig(email="ops@example.com", threshold=0.95, anomaly_types=("dip",))
    t = EpisodeTracker(recovery_s=600, cooldown_s=0)
    low = t.observe(cfg, eid(), "m1", 0, 0.99, "spike")  # wrong type
    assert low.action == "opened" and not low.alert
    weak = t.observe(cfg, eid(), "m1", 10, 0.90, "dip")  # below threshold
    assert not weak.alert
    strong = t.observe(cfg, eid(), "m1", 20, 0.97, "dip")
    assert strong.alert and strong.episode is low.episode
    off = AlertConfig(email="ops@example.com", threshold=0.0, enabled=False)
    assert not EpisodeTracker(600, 0).observe(off, eid(), "m9", 0, 1.0, "spike").alert


def test_seen_ids_are_bounded() -> None:
    t = EpisodeTracker(recovery_s=600, cooldown_s=0, max_seen_ids=10)
    first = eid()
    t.observe(CFG, first, "m1", 0, 0.99, "spike")
    for i in range(10):
        t.observe(CFG, eid(), "m1", i + 1, 0.99, "spike")
    assert t.observe(CFG, first, "m1", 20, 0.99, "spike").action == "updated"


@pytest.mark.parametrize(
    "bad",
    [
        {"email": "not-an-address"},
        {"email": "a@b.io", "threshold": 1.5},
        {"email": "a@b.io", "frequency": "weekly"},
        {"email": "a@b.io", "anomaly_types": ["meteor"]},
        {"email": "a@b.io", "surprise": 1},
    ],
)
def test_config_rejects_bad_fields(bad: dict) -> None:
    with pytest.raises(ValidationError):
        AlertConfig(**bad)


def test_messages_and_backoff() -> None:
    summary = {
        "episode_id": "e1",
        "asset_id": "m1",
        "opened_at": "2026-01-01T00:00:00+00:00",
        "event_id": "x",
        "timestamp": "2026-01-01T00:00:00+00:00",
        "type": "spike",
        "score": 0.998,
        "value": 150.0,
        "expected": 100.0,
        "reason": "Exceeds predicted value by 50%",
        "model_version": "online-1",
    }
    subject, body, payload = alert_message(summary)
    assert subject == "[kilowatch] spike on m1 (score 0.998)"
    assert "Exceeds predicted value by 50%" in body and payload["alert"] is summary
    subject, body, payload = digest_message("hourly", [summary, {**summary, "asset_id": "m2"}])
    assert subject == "[kilowatch] 2 alert(s) on 2 asset(s) in the last hour"
    assert body.count("\n- ") == 2 and payload["kind"] == "digest"
    assert [backoff_delay(a, 2.0) for a in (1, 2, 3, 4)] == [2.0, 4.0, 8.0, 16.0]
    assert backoff_delay(30, 2.0, cap_s=60) == 60


def test_restored_episodes_stay_dormant_until_their_asset_comes_back() -> None:
    first = EpisodeTracker(recovery_s=600, cooldown_s=3600)
    opened = first.observe(CFG, eid(), "m1", 0, 0.99, "spike")
    assert opened.alert and opened.episode is not None
    after_restart = EpisodeTracker(recovery_s=600, cooldown_s=3600)
    after_restart.restore([opened.episode])
    assert after_restart.close_idle(10_000) == []  # not this worker's to close
    out = after_restart.observe(CFG, eid(), "m1", 100, 0.99, "spike")
    assert out.action == "updated" and not out.alert and out.episode is opened.episode
    other = EpisodeTracker(recovery_s=600, cooldown_s=3600)
    other.restore([opened.episode])
    assert other.forget_dormant(older_than=50) == 0 and other.forget_dormant(older_than=700) == 1
