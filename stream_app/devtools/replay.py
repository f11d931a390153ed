"""``kilowatch replay``: publish a CSV to the readings topic in file order (confluent-kafka)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pandas as pd

from schemas.errors import DataError
from stream_app import progress
from stream_app.progress import add_quiet_flag
from stream_app.settings import Settings


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("replay", help="publish a CSV file to the readings topic")
    p.add_argument("--csv", required=True, type=Path)
    p.add_argument("--asset", required=True, help="asset_id to publish the rows as")
    p.add_argument("--rate", type=float, default=0.0, help="readings per second (0 = as fast as possible)")
    p.add_argument("--time-col", default=None, help="timestamp column (default: first column)")
    p.add_argument("--value-col", default=None, help="value column (default: second column)")
    p.add_argument("--limit", type=int, default=0, help="publish at most this many rows")
    add_quiet_flag(p)
    p.set_defaults(handler=run)


def load_rows(path: Path, time_col: str | None, value_col: str | None, limit: int = 0) -> pd.DataFrame:
    """Read a CSV as (timestamp string, value, numeric covariates), keeping file order."""
    try:
        df = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from None
    if df.shape[1] < 2:
        raise DataError(f"{path}: need a timestamp and a value column")
    tcol = time_col or str(df.columns[0])
    vcol = value_col or str(df.columns[1])
    for col in (tcol, vcol):
        if col not in df.columns:
            raise DataError(f"{path}: no column {col!r} (columns: {', '.join(map(str, df.columns))})")
    if limit:
        df = df.head(limit)
    return df.rename(columns={tcol: "timestamp", vcol: "value"})


def payloads(df: pd.DataFrame, asset_id: str) -> Iterator[bytes]:
    """JSON readings as devices send them: timestamp, value and numeric covariates at top level."""
    ts = pd.to_datetime(df["timestamp"]).dt.strftime("%Y-%m-%dT%H:%M:%SZ").tolist()
    values = df["value"].astype(float).tolist()
    for t, v in zip(ts, values, strict=True):
        yield orjson.dumps({"asset_id": asset_id, "timestamp": t, "value": v})


def counted(messages: Iterator[bytes], bar: progress.Task, every: int = 500) -> Iterator[bytes]:
    """The messages unchanged, advancing the bar every ``every`` of them."""
    pending = 0
    for m in messages:
        yield m
        pending += 1
        if pending == every:
            bar.advance(pending)
            pending = 0
    bar.advance(pending)


def publish(settings: Settings, asset_id: str, messages: Iterator[bytes], rate: float = 0.0) -> int:
    from stream_app.kafka.clients import produce, producer

    prod = producer(settings)
    topic = settings.kafka.topic("readings")
    key = asset_id.encode()
    sent = 0
    start = time.perf_counter()
    for payload in messages:
        produce(prod, topic, key, payload)
        sent += 1
        if sent % 1000 == 0:
            prod.poll(0)
        if rate > 0:
            ahead = sent / rate - (time.perf_counter() - start)
            if ahead > 0:
                time.sleep(ahead)
    remaining = prod.flush(60)
    if remaining:
        raise DataError(f"{remaining} readings were not acknowledged by Kafka within 60 s")
    return sent


def run(args: argparse.Namespace, settings: Settings) -> int:
    from stream_app.kafka.topics import ensure_topics

    ensure_topics(settings)
    df = load_rows(args.csv, args.time_col, args.value_col, args.limit)
    t0 = time.perf_counter()
    with progress.task(f"replay {args.csv.name} as {args.asset}", len(df), progress.enabled(args)) as bar:
        n = publish(settings, args.asset, counted(payloads(df, args.asset), bar), args.rate)
    dt = time.perf_counter() - t0
    print(
        f"published {n} readings of {args.asset} to {settings.kafka.topic('readings')} in {dt:.1f} s",
        file=sys.stderr,
    )
    return 0
