"""The results sink: anomaly and forecast events -> PostgreSQL, for the API's query routes.

Runs inside every worker by default (``results_sink_enabled``; a task next to the agents, with its
own consumer group ``<app_id>-results`` so the workers share the partitions) or alone as
``kilowatch results-sink`` (same group: both kinds can run together). The loop is the shared sink
loop (:mod:`stream_app.sinks.sink`): batches, offsets committed after the write, retries while PostgreSQL
is away. Writes are idempotent (anomalies by ``event_id``, forecasts by a deterministic id), so
redeliveries and replays leave one row. A message that is not a valid ``Anomaly``/``Forecast`` is
logged with its topic, partition and offset, counted in ``kilowatch_sink_invalid_messages_total``
and skipped — it stays in Kafka for the topic's retention; it is not dead-lettered because these
topics are written by kilowatch itself, so such a message is a bug or a foreign producer to find,
not input to replay. Retention: rows stored more than ``results_retention_days`` ago are deleted every
``results_retention_every_s``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import asyncpg
from pydantic import ValidationError

from schemas.events import Anomaly, Forecast
from stream_app.settings import Settings
from stream_app.sinks import sink
from stream_app.store import results

BATCH = 2000


class ResultRows(NamedTuple):
    anomalies: list[Anomaly]  # one per event_id
    forecasts: list[Forecast]  # one per forecast id
    messages: dict[str, int]  # valid messages per table (a copy in the same batch is a duplicate too)


def _why(exc: ValidationError) -> str:
    errs = exc.errors(include_url=False, include_input=False)
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'payload'}: {e['msg']}" for e in errs[:3])


def decode(records: Sequence[sink.Record], anomalies_topic: str) -> sink.Decoded[ResultRows]:
    """Validated events by kind (one per id: a batch may hold a redelivered copy) and the invalid ones."""
    anomalies: dict[object, Anomaly] = {}
    forecasts: dict[object, Forecast] = {}
    invalid: list[tuple[sink.Record, str]] = []
    for rec in records:
        if rec.value is None:
            invalid.append((rec, "empty payload (tombstone)"))
            continue
        try:
            if rec.topic == anomalies_topic:
                a = Anomaly.model_validate_json(rec.value)
                anomalies.setdefault(a.event_id, a)
            else:
                f = Forecast.model_validate_json(rec.value)
                forecasts.setdefault(results.forecast_id(f), f)
        except ValidationError as exc:
            invalid.append((rec, _why(exc)))
    valid = len(records) - len(invalid)
    n_anomalies = sum(1 for rec in records if rec.topic == anomalies_topic) - sum(
        1 for rec, _ in invalid if rec.topic == anomalies_topic
    )
    counts = {"anomalies": n_anomalies, "forecasts": valid - n_anomalies}
    return sink.Decoded(ResultRows(list(anomalies.values()), list(forecasts.values()), counts), invalid)


def results_sink(settings: Settings) -> sink.Sink[ResultRows]:
    anomalies_topic = settings.kafka.topic("anomalies")

    async def store(pool: asyncpg.Pool, rows: ResultRows) -> sink.Written:
        async with pool.acquire() as conn, conn.transaction():
            new_a = await results.insert_anomalies(conn, rows.anomalies)
            new_f = await results.insert_forecasts(conn, rows.forecasts)
        return {
            "anomalies": (new_a, rows.messages["anomalies"] - new_a),
            "forecasts": (new_f, rows.messages["forecasts"] - new_f),
        }

    async def retention(pool: asyncpg.Pool) -> dict[str, int]:
        cutoff = datetime.now(UTC) - timedelta(days=settings.worker.results_retention_days)
        return {t: await results.delete_stored_before(pool, t, cutoff) for t in ("anomalies", "forecasts")}

    return sink.Sink(
        name="results",
        group=f"{settings.worker.app_id}-results",
        topics=(anomalies_topic, settings.kafka.topic("forecasts")),
        decode=lambda records: decode(records, anomalies_topic),
        store=store,
        retention=retention,
        retention_every_s=settings.worker.results_retention_every_s,
        batch=BATCH,
    )


def register(sub: Any) -> None:
    sink.add_command(
        sub,
        "results-sink",
        "store anomaly and forecast events in PostgreSQL (batches, retention)",
        results_sink,
    )
