"""Offline detection and the evaluate command: causal, NAB-format output, CLI wiring."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd
import pytest

from schemas.errors import DataError
from stream_app.core.online import OnlineParams
from stream_app.evaluation import cli
from stream_app.evaluation.offline import detect_file, read_series
from stream_app.settings import Settings
from tests.unit.test_online_data import data_dir


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


@pytest.fixture
def ec2() -> Path:
    return data_dir() / "nab" / "realKnownCause" / "ec2_request_latency_system_failure.csv"


def test_detect_writes_nab_format_via_cli(ec2: Path, tmp_path: Path) -> None:
    out = tmp_path / "res.csv"
    args = parse(["detect", "--csv", str(ec2), "--out", str(out)])
    assert args.handler(args, Settings()) == 0
    res = pd.read_csv(out)
    src = pd.read_csv(ec2)
    assert list(res.columns) == ["timestamp", "value", "anomaly_score", "label"]
    assert res["timestamp"].tolist() == src["timestamp"].tolist()
    assert res["value"].tolist() == pytest.approx(src["value"].tolist())
    assert res["anomaly_score"].between(0, 1).all()
    assert set(res["label"]) <= {0, 1} and 0 < res["label"].sum() < len(res) // 20
    # flagged rows carry their score, or 0 when they repeat an alarm raised within the repeat window
    flagged = res.loc[res["label"] == 1, "anomaly_score"]
    assert ((flagged >= Settings().detector.threshold) | (flagged == 0.0)).all()
    assert 0 < (flagged > 0).sum() < len(flagged)


def test_scores_are_causal_under_truncation(ec2: Path, tmp_path: Path) -> None:
    full_out = tmp_path / "full.csv"
    detect_file(ec2, full_out, OnlineParams())
    full = pd.read_csv(full_out)
    src = pd.read_csv(ec2)
    for cut in (900, 2500):
        part_in = tmp_path / f"part{cut}.csv"
        src.iloc[: cut + 1].to_csv(part_in, index=False)
        part_out = tmp_path / f"out{cut}.csv"
        detect_file(part_in, part_out, OnlineParams())
        part = pd.read_csv(part_out)
        assert part["anomaly_score"].tolist() == full["anomaly_score"].iloc[: cut + 1].tolist()
        assert part["label"].tolist() == full["label"].iloc[: cut + 1].tolist()


def test_custom_columns_and_bad_input(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    pd.DataFrame(
        {
            "when": pd.date_range("2024-01-01", periods=300, freq="15min").astype(str),
            "kwh": [1.0 + (i % 96) / 10 for i in range(300)],
        }
    ).to_csv(src, index=False)
    detect_file(src, tmp_path / "o.csv", OnlineParams(), value_col="kwh", time_col="when")
    assert len(pd.read_csv(tmp_path / "o.csv")) == 300
    with pytest.raises(DataError):
        read_series(src)  # default columns are missing
    (tmp_path / "bad.csv").write_text("timestamp,value\n2024-01-01 00:00:00,abc\n")
    with pytest.raises(DataError):
        read_series(tmp_path / "bad.csv")


def test_evaluate_runs_detection_and_scores_a_small_corpus(tmp_path: Path) -> None:
    data = tmp_path / "data" / "cat"
    data.mkdir(parents=True)
    stamps = pd.date_range("2024-01-01", periods=1200, freq="5min")
    values = [10.0 + (i % 12) * 0.1 for i in range(1200)]
    values[900] = 80.0  # an obvious spike inside the labelled window
    pd.DataFrame({"timestamp": stamps.astype(str), "value": values}).to_csv(data / "f.csv", index=False)
    labels = tmp_path / "labels.json"
    win = [str(stamps[880]) + ".000000", str(stamps[940]) + ".000000"]
    labels.write_text(json.dumps({"cat/f.csv": [win]}))
    report = tmp_path / "report.md"
    args = parse(
        [
            "evaluate",
            "--results",
            str(tmp_path / "res"),
            "--labels",
            str(labels),
            "--data",
            str(tmp_path / "data"),
            "--report",
            str(report),
        ]
    )
    assert args.handler(args, Settings()) == 0
    results = cli.evaluate(tmp_path / "res", labels, ["standard"], None, OnlineParams())
    assert results[0].normalized > 90.0
    text = report.read_text()
    assert "standard" in text and "cat/f.csv" in text and "reward_low_FN_rate" in text
