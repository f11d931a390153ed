"""Pure registry logic: job transitions, champion/challenger margin, drift signal, migration files."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from schemas.jobs import (
    ALLOWED,
    TERMINAL,
    InvalidTransition,
    JobStatus,
    check_transition,
    sources_of,
)
from stream_app.lifecycle import champion, drift
from stream_app.store import migrations


def test_happy_path_is_allowed_in_order() -> None:
    path = [JobStatus.PENDING, JobStatus.PREPARING, JobStatus.TRAINING, JobStatus.TRAINED]
    for cur, nxt in itertools.pairwise(path):
        assert check_transition(cur, nxt) is nxt


@pytest.mark.parametrize(
    ("cur", "nxt"),
    [
        ("PENDING", "TRAINING"),  # must prepare first
        ("PENDING", "TRAINED"),
        ("PREPARING", "TRAINED"),
        ("TRAINING", "PREPARING"),
        ("TRAINED", "FAILED"),
        ("FAILED", "PENDING"),
        ("CANCELED", "TRAINING"),
    ],
)
def test_forbidden_transitions_raise(cur: str, nxt: str) -> None:
    with pytest.raises(InvalidTransition, match=f"from {cur} to {nxt}"):
        check_transition(cur, nxt)


def test_every_open_state_can_fail_or_cancel_and_terminal_states_are_final() -> None:
    for status in JobStatus:
        if status in TERMINAL:
            assert not ALLOWED[status]
        else:
            assert {JobStatus.FAILED, JobStatus.CANCELED} <= ALLOWED[status]
    assert sources_of("TRAINED") == ["TRAINING"]
    assert sources_of("FAILED") == ["PENDING", "PREPARING", "TRAINING"]


def test_no_champion_promotes_a_finite_candidate() -> None:
    d = champion.decide(0.9, None, 0.05)
    assert d.promote and "no active version" in d.reason


@pytest.mark.parametrize(
    ("cand", "active", "margin", "promote"),
    [
        (0.80, 1.00, 0.05, True),  # 20 % better
        (0.95, 1.00, 0.05, True),  # exactly on the bar
        (0.96, 1.00, 0.05, False),  # better, but not by the margin
        (1.10, 1.00, 0.00, False),  # worse
        (1.00, 1.00, 0.00, True),  # margin 0: a tie replaces the champion
    ],
)
def test_margin_is_relative(cand: float, active: float, margin: float, promote: bool) -> None:
    d = champion.decide(cand, active, margin)
    assert d.promote is promote
    assert f"{cand:.4f}" in d.reason


def test_non_finite_candidate_never_wins_and_unscorable_champion_always_loses() -> None:
    assert not champion.decide(float("nan"), 1.0, 0.0).promote
    assert not champion.decide(None, None, 0.0).promote
    assert champion.decide(2.0, float("inf"), 0.1).promote
    with pytest.raises(ValueError, match="margin"):
        champion.decide(1.0, 1.0, 1.0)


def test_rolling_mase_and_drift_monitor() -> None:
    assert drift.rolling_mase([1, 1], [2, 2]) == pytest.approx(0.5)
    assert drift.rolling_mase([], [1]) is None
    assert drift.rolling_mase([1], [0, 0]) is None
    mon = drift.DriftMonitor(window=10, threshold=1.5, min_points=5)
    for _ in range(4):
        mon.observe("a", 3.0, 1.0)
    assert mon.drifted() == []  # too few points yet
    mon.observe("a", 3.0, 1.0)
    for _ in range(10):
        mon.observe("b", 1.0, 1.0)
    assert mon.drifted() == [("a", pytest.approx(3.0))]
    for _ in range(10):  # the window forgets the bad stretch
        mon.observe("a", 1.0, 1.0)
    assert mon.drifted() == []
    mon.reset("a")
    assert mon.score("a") is None


def test_drift_from_scored_readings_uses_repeat_last_naive() -> None:
    mon = drift.DriftMonitor(window=50, threshold=1.2, min_points=10)
    for i in range(30):  # a steady ramp: the naive error is 1 per step, the model is off by 3
        mon.observe_reading("r", float(i), float(i) + 3.0)
        mon.observe_reading("ok", float(i), float(i) + 0.5)
    assert mon.score("r") == pytest.approx(3.0)
    assert [a for a, _ in mon.drifted()] == ["r"]


def _write(d: Path, name: str, sql: str = "SELECT 1;") -> None:
    (d / name).write_text(sql)


def test_discover_orders_and_rejects_bad_names(tmp_path: Path) -> None:
    _write(tmp_path, "0002_b.sql")
    _write(tmp_path, "0001_a.sql")
    _write(tmp_path, "0050_alerting.sql")
    assert [m.label for m in migrations.discover(tmp_path)] == ["0001_a", "0002_b", "0050_alerting"]
    _write(tmp_path, "3_bad.sql")
    with pytest.raises(migrations.MigrationError, match="NNNN_name"):
        migrations.discover(tmp_path)


def test_duplicate_numbers_rejected(tmp_path: Path) -> None:
    _write(tmp_path, "0001_a.sql")
    _write(tmp_path, "0001_b.sql")
    with pytest.raises(migrations.MigrationError, match="two migrations numbered 0001"):
        migrations.discover(tmp_path)


def test_pending_and_edited_migrations(tmp_path: Path) -> None:
    _write(tmp_path, "0001_a.sql")
    _write(tmp_path, "0002_b.sql")
    ms = migrations.discover(tmp_path)
    applied = [migrations.Applied(1, "a", ms[0].checksum)]
    assert [m.label for m in migrations.pending(ms, applied)] == ["0002_b"]
    with pytest.raises(migrations.MigrationError, match="edited"):
        migrations.pending(ms, [migrations.Applied(1, "a", "0" * 64)])
    with pytest.raises(migrations.MigrationError, match="no file"):
        migrations.pending(ms, [migrations.Applied(7, "gone", "x")])


def test_shipped_migrations_are_in_the_registry_range() -> None:
    ours = [m.label for m in migrations.discover() if m.version < 50]
    assert ours == ["0001_registry", "0002_readings_history", "0003_api_keys", "0004_results"]


def test_history_rows_from_messages_skip_invalid_and_dedupe() -> None:
    from stream_app.sinks.history import decode
    from stream_app.sinks.sink import Record

    msgs = [
        (b"m1", b'{"timestamp": "2025-01-01T00:00:00Z", "value": 1.0, "temp": 3}'),
        (b"m1", b'{"timestamp": "2025-01-01T00:00:00Z", "value": 2.0}'),  # same key: last wins
        (b"m1", b'{"timestamp": "2025-01-01T00:15:00Z", "value": "x"}'),  # invalid
        (None, b"not json"),
        (b"m2", b'{"timestamp": "2025-01-01T00:15:00+01:00", "value": 5}'),
    ]
    records = [Record("readings", 0, i, k, v) for i, (k, v) in enumerate(msgs)]
    rows, invalid = decode(records, max_bytes=1024)
    assert [(rec.offset, why.split(":")[0]) for rec, why in invalid] == [(2, "value"), (3, "not valid JSON")]
    assert [(r[0], r[1].isoformat(), r[2], r[3]) for r in rows] == [
        ("m1", "2025-01-01T00:00:00+00:00", 2.0, {}),
        ("m2", "2024-12-31T23:15:00+00:00", 5.0, {}),
    ]
