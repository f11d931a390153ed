"""The scoring pipeline without Kafka: real data in, events and state records out."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pandas as pd
import pytest

from schemas.events import DEAD_LETTER_PAYLOAD_BYTES, Anomaly, DeadLetter, Forecast, ScoreRecord
from stream_app.scoring.pipeline import RawMessage, ScoringPipeline
from stream_app.scoring.state import CorruptRecord, InMemoryStore, split_record
from stream_app.settings import Settings

TOPIC = "t.readings"


def steel(data_dir: Path, n: int) -> pd.DataFrame:
    df = pd.read_csv(data_dir / "energy" / "steel_industry_2018_15min.csv", nrows=n)
    return df[["timestamp", "Usage_kWh"]].rename(columns={"Usage_kWh": "value"})


def messages(df: pd.DataFrame, asset: str, partition: int = 0, start_offset: int = 0) -> list[RawMessage]:
    ts = pd.to_datetime(df["timestamp"]).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return [
        RawMessage(
            asset.encode(), orjson.dumps({"timestamp": t, "value": v}), TOPIC, partition, start_offset + i
        )
        for i, (t, v) in enumerate(zip(ts, df["value"], strict=True))
    ]


MemoryTable = InMemoryStore


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(state_dir=tmp_path, emit_scores=True, window_size=672, forecast_every=24)


def run(pipe: ScoringPipeline, table: MemoryTable, msgs: list[RawMessage], batch: int = 500) -> list:
    outs = []
    for i in range(0, len(msgs), batch):
        out = pipe.process(msgs[i : i + batch], table)
        table.apply(out.writes)
        outs.append(out)
    return outs


def test_malformed_readings_are_dead_lettered_with_reasons(settings: Settings, data_dir: Path) -> None:
    good = messages(steel(data_dir, 200), "plant-1")
    bad = [
        (b"plant-1", b"{not json", "not valid JSON"),
        (b"plant-1", b'{"timestamp": "2018-01-01T00:00:00Z"}', "value: Field required"),
        (b"plant-1", b'{"timestamp": "2018-01-01T00:00:00Z", "value": NaN}', "not valid JSON"),
        (b"plant-1", b'{"timestamp": "2018-01-01T00:00:00Z", "value": 1e999}', "infinity"),
        (b"plant-1", b'{"timestamp": "2018-01-01T00:00:00Z", "value": 1, "temp": 1e400}', "infinity"),
        (
            b"plant-1",
            b'{"timestamp": "2018-01-01T00:00:00Z", "value": "abc"}',
            "value: Input should be a valid number",
        ),
        (b"plant-1", b'{"timestamp": "yesterday", "value": 1.0}', "timestamp:"),
        (b"plant-1", b'{"timestamp": "2018-01-01T00:00:00Z", "value": 1, "x": "y"}', "unknown field 'x'"),
        (b"plant-1", b"[1, 2]", "must be a JSON object"),
        (b"plant-1", b"\xff\xfe\x00", "not valid JSON"),
        (None, b'{"timestamp": "2018-01-01T00:00:00Z", "value": 1}', "asset_id: missing"),
        (
            b"plant-1",
            b'{"asset_id": "plant-2", "timestamp": "2018-01-01T00:00:00Z", "value": 1}',
            "message key",
        ),
        (b"plant-1", b'{"timestamp": "2999-01-01T00:00:00Z", "value": 1}', "in the future"),
        (
            b"plant-1",
            b'{"timestamp": "2018-01-01T00:00:00Z", "value": 1, "pad": "' + b"x" * 70000 + b'"}',
            "exceeds",
        ),
        (b"plant-1", None, "tombstone"),
    ]
    msgs = list(good)
    for j, (k, v, _) in enumerate(bad):
        msgs.insert(10 + j * 13, RawMessage(k, v, TOPIC, 3, 10_000 + j))
    pipe = ScoringPipeline(settings)
    outs = run(pipe, MemoryTable(settings.detector.window_size), msgs)
    letters = [DeadLetter.model_validate_json(v) for o in outs for _, v in o.dead_letters]
    assert len(letters) == len(bad)
    by_offset = {d.offset: d for d in letters}
    for j, (_, payload, reason) in enumerate(bad):
        d = by_offset[10_000 + j]
        assert reason in d.error, (reason, d.error)
        assert d.source_topic == TOPIC and d.partition == 3
        if payload is not None and d.payload_encoding == "utf-8":
            # the whole payload, or its first 16 KiB (the oversized one), with the size of the whole
            assert d.payload == payload[:DEAD_LETTER_PAYLOAD_BYTES].decode()
            assert d.payload_truncated == (len(payload) > DEAD_LETTER_PAYLOAD_BYTES)
            assert d.payload_bytes == len(payload)
    binary = next(j for j, (_, p, _) in enumerate(bad) if p == b"\xff\xfe\x00")
    assert by_offset[10_000 + binary].payload_encoding == "base64"
    scores = [ScoreRecord.model_validate_json(v) for o in outs for _, v in o.scores]
    assert len(scores) == len(good)
    assert sum(o.outcomes.get("scored", 0) for o in outs) == len(good)


def test_restored_state_scores_exactly_like_uninterrupted_run(settings: Settings, data_dir: Path) -> None:
    msgs = messages(steel(data_dir, 3000), "plant-1")
    live = ScoringPipeline(settings)
    full = [
        json.loads(v)
        for o in run(live, MemoryTable(settings.detector.window_size), msgs)
        for _, v in o.scores
    ]

    table = MemoryTable(settings.detector.window_size)
    first = ScoringPipeline(settings)
    part1 = [json.loads(v) for o in run(first, table, msgs[:1700]) for _, v in o.scores]
    # A new process: empty cache, state only from the table records.
    second = ScoringPipeline(settings)
    part2 = [json.loads(v) for o in run(second, table, msgs[1700:]) for _, v in o.scores]
    assert part1 + part2 == full


def test_redelivered_readings_re_emit_the_same_events(settings: Settings, data_dir: Path) -> None:
    df = steel(data_dir, 2500).copy()
    df.loc[2000, "value"] = df["value"].iloc[1990:2000].mean() * 4 + 50  # an obvious spike
    msgs = messages(df, "plant-1")
    table = MemoryTable(settings.detector.window_size)
    pipe = ScoringPipeline(settings)
    outs = run(pipe, table, msgs)
    first = {Anomaly.model_validate_json(v).event_id for o in outs for _, v in o.anomalies}
    assert first, "the injected spike must be flagged"
    records_before = dict(table.data)
    # The worker crashed before committing: the last 600 readings come again, to a fresh process.
    again = ScoringPipeline(settings)
    outs2 = run(again, table, msgs[-600:])
    assert sum(o.outcomes.get("duplicate", 0) for o in outs2) == 600
    # Each redelivered reading still in the window writes its stored record again, unchanged (the
    # changelog may have lost it with the crash), and nothing else is written.
    rewrites = [(k, r) for o in outs2 for _, k, r in o.writes]
    assert len(rewrites) == min(600, settings.detector.window_size)
    assert all(records_before[k] == r for k, r in rewrites)
    assert table.data == records_before
    replayed = [Anomaly.model_validate_json(v) for o in outs2 for _, v in o.anomalies]
    spike_ids = {a.event_id for a in replayed}
    assert spike_ids and spike_ids <= first


def test_forecasts_every_k_readings_and_changelog_stays_small(settings: Settings, data_dir: Path) -> None:
    msgs = messages(steel(data_dir, 960), "plant-1")
    outs = run(ScoringPipeline(settings), MemoryTable(settings.detector.window_size), msgs)
    forecasts = [Forecast.model_validate_json(v) for o in outs for _, v in o.forecasts]
    assert len(forecasts) == 960 // settings.worker.forecast_every
    assert all(len(f.points) == settings.worker.forecast_horizon for f in forecasts)
    assert all(f.points[0].timestamp > f.issued_at for f in forecasts)
    writes = [w for o in outs for w in o.writes]
    assert len(writes) == 960
    per_reading = sum(len(k) + len(v) for _, k, v in writes) / len(writes)
    assert per_reading < 710, per_reading  # one small record, not the ring (v7: 703 B; v5: 631 B)


def test_corrupt_state_record_is_rejected() -> None:
    with pytest.raises(CorruptRecord):
        split_record(b"\x09garbage")


def test_unreadable_state_restarts_the_asset_instead_of_failing(settings: Settings, data_dir: Path) -> None:
    msgs = messages(steel(data_dir, 300), "plant-1")
    table = MemoryTable(settings.detector.window_size)
    run(ScoringPipeline(settings), table, msgs[:200])
    table.data[b"plant-1|5"] = b"\x02" + b"\x00" * 7  # truncated record, e.g. written by a foreign tool
    outs = run(ScoringPipeline(settings), table, msgs[200:])
    assert sum(o.outcomes.get("scored", 0) for o in outs) == 100
    assert not any(o.dead_letters for o in outs)


def test_a_failing_model_dead_letters_the_reading_and_the_batch_goes_on(
    settings: Settings, data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    msgs = messages(steel(data_dir, 50), "plant-1") + messages(steel(data_dir, 50), "plant-2")
    pipe = ScoringPipeline(settings)
    real = pipe.detector.score_one

    def broken_for_plant_2(state, ts, value):  # type: ignore[no-untyped-def]
        if "plant-2" in pipe.cache and state is pipe.cache["plant-2"].state:
            raise ZeroDivisionError("model bug")
        return real(state, ts, value)

    pipe.detector.score_one = broken_for_plant_2  # type: ignore[method-assign]
    out = pipe.process(msgs, MemoryTable(settings.detector.window_size))
    assert out.outcomes == {"scored": 50, "failed": 50}
    letters = [DeadLetter.model_validate_json(v) for _, v in out.dead_letters]
    assert all("ZeroDivisionError: model bug" in d.error and d.key == "plant-2" for d in letters)
    assert "scoring failed" in caplog.text


def test_real_out_of_order_file_every_row_accounted_for(settings: Settings, data_dir: Path) -> None:
    """machine_temperature jumps back in time once: those rows are late (or re-sent readings)."""
    df = pd.read_csv(data_dir / "nab" / "realKnownCause" / "machine_temperature_system_failure.csv")
    ts = pd.to_datetime(df["timestamp"])
    newest = ts.cummax().shift()
    older = int((ts <= newest).sum())
    assert older >= 12
    msgs = messages(df, "machine-1")
    outs = run(ScoringPipeline(settings), MemoryTable(settings.detector.window_size), msgs, batch=1000)
    records = [ScoreRecord.model_validate_json(v) for o in outs for _, v in o.scores]
    assert len(records) == len(df)
    not_in_order = [r for r in records if r.status != "scored"]
    assert len(not_in_order) == older
    assert not any(r.is_anomaly for r in records if r.status == "late")
