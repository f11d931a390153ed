"""The scoring pipeline: raw messages in, events and state records out. No Kafka, no asyncio.

The faust agent moves bytes in and out; tests drive this class directly with real data.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import orjson

from schemas.errors import InvalidReading
from schemas.events import Anomaly, AssetReset, ScoreRecord, anomaly_event_id
from stream_app import metrics
from stream_app.core.decode import (
    NO_COVARIATES,
    dead_key_bytes,
    dead_letter,
    decode_control,
    decode_fast,
    too_far_ahead,
)
from stream_app.core.online import OnlineDetector
from stream_app.core.partitioning import PartitionCheck
from stream_app.core.state_codec import StateCodecError
from stream_app.core.types import Verdict
from stream_app.scoring.asset_cache import AssetCache
from stream_app.scoring.state import (
    AssetEntry,
    CorruptRecord,
    encode_record,
    find_in_ring,
    restore_entry,
    slot_key,
    verdict_from_record,
)
from stream_app.serving.covariates import covariate_key, decode_covariates, encode_covariates
from stream_app.serving.live import LiveModels
from stream_app.settings import Settings


@dataclass(frozen=True, slots=True)
class RawMessage:
    """One consumed message, as the agent hands it over."""

    key: bytes | None
    value: bytes | None
    topic: str
    partition: int
    offset: int


@dataclass(slots=True)
class Emit:
    """Events to produce: (key, JSON bytes) per output topic."""

    anomalies: list[tuple[bytes, bytes]] = field(default_factory=list)
    forecasts: list[tuple[bytes, bytes]] = field(default_factory=list)
    dead_letters: list[tuple[bytes | None, bytes]] = field(default_factory=list)
    scores: list[tuple[bytes, bytes]] = field(default_factory=list)
    # (index of the message in the batch, table key, record): written in the message's partition, in
    # this order; record None = delete the key (a tombstone in the changelog; an asset reset).
    writes: list[tuple[int, bytes, bytes | None]] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=dict)
    anomaly_types: list[str] = field(default_factory=list)
    # Readings that arrived on another partition than their key's murmur2 hash names.
    misrouted: int = 0

    def count(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1

    def observe(
        self, batch_len: int, seconds: float, cached_assets: int, oldest_produced_at: float, cached_bytes: int
    ) -> None:
        """Record this batch in the Prometheus metrics (once the agent has handed everything over).

        ``oldest_produced_at`` is only read when the batch produced anomalies."""
        metrics.CHANGELOG_BYTES.inc(sum(len(k) + len(r or b"") for _, k, r in self.writes))
        if self.misrouted:
            metrics.READINGS_MISROUTED.inc(self.misrouted)
        for outcome, n in self.outcomes.items():
            metrics.READINGS.labels(outcome).inc(n)
        for kind in self.anomaly_types:
            metrics.ANOMALIES.labels(kind).inc()
        if self.forecasts:
            metrics.FORECASTS.inc(len(self.forecasts))
        metrics.BATCH_SECONDS.observe(seconds)
        metrics.BATCH_SIZE.observe(batch_len)
        metrics.CACHED_ASSETS.set(cached_assets)
        metrics.CACHED_ASSET_BYTES.set(cached_bytes)
        if self.anomalies:
            # Upper bound of this batch's produce -> anomaly latency (its oldest reading).
            metrics.PRODUCE_TO_ANOMALY_SECONDS.observe(max(0.0, time.time() - oldest_produced_at))


class StateStore(Protocol):
    """The table as the pipeline sees it. ``index`` is the batch position of the message on whose
    behalf the read happens: the table reads that message's partition."""

    def records(self, asset_id: str, index: int) -> Iterable[bytes]:
        """All ring records of an asset (empty for an asset never seen)."""

    def get(self, key: bytes, index: int) -> bytes | None:
        """One record."""


log = logging.getLogger(__name__)
audit = logging.getLogger("kilowatch.audit")


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


class ScoringPipeline:
    """Decode → per-asset state → score → events. Holds the in-process model cache."""

    def __init__(
        self, settings: Settings, detector: OnlineDetector | None = None, live: LiveModels | None = None
    ) -> None:
        self.live = live  # trained models, when the worker tails model updates
        self.params = settings.detector.params()
        self.detector = detector or OnlineDetector(self.params)
        self.window = settings.detector.window_size
        self.max_bytes = settings.worker.max_payload_bytes
        self.forecast_every = settings.worker.forecast_every
        self.horizon = settings.worker.forecast_horizon
        self.emit_scores = settings.worker.emit_scores
        self.max_future_s = settings.worker.max_clock_skew_s
        # Bounded (issue 14): the least recently used assets are dropped between batches and rebuilt
        # from the table on their next reading.
        self.cache = AssetCache(int(settings.worker.state_cache_mib * 1024 * 1024))
        self.model_version = f"{self.detector.name}/{self.detector.version}"
        self.routing = PartitionCheck(settings.kafka.topic_partitions)
        # assets whose stored reading covariates were read back since they last entered the cache
        self._covariates_read: set[str] = set()

    # --- cache management -----------------------------------------------------------------------
    def drop_partitions(self, partitions: Iterable[int]) -> int:
        """Forget assets of revoked partitions: another worker owns (and updates) them now."""
        gone = set(partitions)
        stale = [a for a, e in self.cache.items() if e.partition in gone]
        for a in stale:
            del self.cache[a]
        return len(stale)

    def _entry(self, asset_id: str, partition: int, index: int, store: StateStore) -> AssetEntry:
        entry = self.cache.get(asset_id)
        if entry is None or entry.partition != partition:
            records = list(store.records(asset_id, index))
            entry = None
            if records:
                try:
                    entry = restore_entry(records, self.params, partition)
                except (CorruptRecord, StateCodecError) as exc:
                    # Unreadable state must not stop the asset (or the agent): start it afresh, loudly.
                    log.error("state of asset %s is unreadable, starting it afresh: %s", asset_id, exc)
                    metrics.STATE_CORRUPT.inc()
            if entry is None:
                entry = AssetEntry(state=self.detector.new_state(), partition=partition)
            self.cache[asset_id] = entry
            self._covariates_read.discard(asset_id)  # rebuilt: its covariates may need reading too
        return entry

    def _read_covariates(self, asset_id: str, index: int, store: StateStore) -> None:
        """The stored covariates of an asset's ring readings back into the live models' history, once
        after the asset (re)enters the cache with an active model and no covariates held (a restart,
        a rebalance, an eviction): ``window`` table reads, then none until it is rebuilt again."""
        if self.live is None or asset_id in self._covariates_read or asset_id not in self.live.active:
            return
        self._covariates_read.add(asset_id)
        if self.live.covariates.has(asset_id):
            return
        rows = []
        for s in range(self.window):
            raw = store.get(covariate_key(asset_id, s, self.window), index)
            row = decode_covariates(raw) if raw is not None else None
            if row is not None:
                rows.append(row)
        if rows:
            self.live.covariates.restore(asset_id, rows)
            metrics.COVARIATES_RESTORED.inc(len(rows))

    # --- the batch step ---------------------------------------------------------------------------
    def process(self, batch: Sequence[RawMessage], store: StateStore, now: float | None = None) -> Emit:
        out = Emit()
        wall = time.time() if now is None else now
        detected_at = _dt(wall)
        for i, msg in enumerate(batch):
            try:
                try:
                    reading = decode_fast(msg.key, msg.value, max_bytes=self.max_bytes)
                except InvalidReading:
                    # Not a reading: maybe a control message (only ever looked for here, off the hot path).
                    control = decode_control(msg.key, msg.value, max_bytes=self.max_bytes)
                    if control is None:
                        raise
                    self.reset(control, msg, i, out, store)
                    continue
                # Kafka's partitioner hashes the key; a keyless reading should be where its asset's are.
                if self.routing.misrouted(msg.key or reading.asset_id.encode(), msg.partition):
                    out.misrouted += 1
                ts = reading.ts
                if too_far_ahead(ts, wall, self.max_future_s):
                    raise InvalidReading(f"timestamp: {_dt(ts).isoformat()} is in the future")
                entry = self._entry(reading.asset_id, msg.partition, i, store)
                self._score(
                    reading.asset_id,
                    ts,
                    reading.value,
                    entry,
                    msg,
                    i,
                    out,
                    detected_at,
                    store,
                    reading.covariates,
                )
                if entry.state.seq < self.window:  # its ring may have grown
                    self.cache.resized(reading.asset_id, entry)
            except InvalidReading as exc:
                out.dead_letters.append(
                    (dead_key_bytes(msg.key), self._dead_letter(msg, str(exc), detected_at))
                )
                out.count("dead_lettered")
            except Exception as exc:  # a bug must not stop the stream or lose the reading
                # The reading is kept (dead letter with the raw payload, replayable) and the failure is
                # logged with its traceback and counted; the agent goes on with the next reading.
                log.exception("scoring failed for %s[%d]@%d", msg.topic, msg.partition, msg.offset)
                error = f"internal error while scoring: {type(exc).__name__}: {exc}"
                out.dead_letters.append((dead_key_bytes(msg.key), self._dead_letter(msg, error, detected_at)))
                out.count("failed")
        # Only now: an asset read twice in this batch must not be rebuilt from a table that does not
        # show this batch's writes yet (the agent applies them when ``process`` returns).
        self.cache.evict()
        return out

    def _score(
        self,
        asset_id: str,
        ts: float,
        value: float,
        entry: AssetEntry,
        msg: RawMessage,
        index: int,
        out: Emit,
        detected_at: datetime,
        store: StateStore,
        covariates: Mapping[str, float] = NO_COVARIATES,
    ) -> None:
        key = asset_id.encode()
        state = entry.state
        redelivered = msg.offset <= entry.last_offset
        seen = find_in_ring(state, ts, value) if ts <= state.newest_ts else None
        seen_key = slot_key(asset_id, seen, self.window) if seen is not None else None
        stored = store.get(seen_key, index) if seen_key is not None else None
        if stored is not None:
            # Already absorbed — a redelivery after a crash or rebalance, or a device resending the
            # same reading: re-emit the stored verdict (same event_id), never learn it twice.
            verdict = verdict_from_record(stored)
            label = self.live.label_of(asset_id) if self.live is not None else None
            if redelivered and seen_key is not None:
                # Written again: after a crash the local store may hold a record whose changelog
                # write never reached Kafka; the changelog must have every record a commit covers.
                out.writes.append((index, seen_key, stored))
        elif redelivered:
            # Absorbed long ago (older than the window): its events went out then; nothing to redo.
            out.count("duplicate")
            return
        else:
            verdict = self.detector.score_one(state, ts, value)
            label = None
            kept = False
            if self.live is not None:
                self._read_covariates(asset_id, index, store)
                kept = bool(covariates) and asset_id in self.live.active
                self.live.observe(asset_id, ts, covariates)
                verdict, label = self.live.judge(asset_id, state, verdict)
            if verdict.status == "scored":
                entry.last_offset = msg.offset
                record = encode_record(verdict, msg.offset, state.record())
                out.writes.append((index, slot_key(asset_id, state.seq, self.window), record))
                if kept:  # what the model reads survives a restart (serving.covariates)
                    cov = encode_covariates(ts, covariates)
                    out.writes.append((index, covariate_key(asset_id, state.seq, self.window), cov))
                if (state.seq + 1) % self.forecast_every == 0:
                    out.forecasts.append((key, self._forecast(asset_id, entry, ts)))
        out.count(verdict.status)
        if verdict.is_anomaly and verdict.kind is not None:
            out.anomalies.append((key, self._anomaly(asset_id, verdict, detected_at, label)))
            out.anomaly_types.append(verdict.kind)
        if self.emit_scores:
            out.scores.append((key, self._score_record(asset_id, verdict, msg)))

    # --- control messages ------------------------------------------------------------------------
    def reset(self, event: AssetReset, msg: RawMessage, index: int, out: Emit, store: StateStore) -> int:
        """Forget an asset's state: tombstone every ring record it has in the table (those stored, and
        those this batch wrote before the reset, which the store does not show yet) and start its
        cache entry afresh. The next reading of the asset is scored as its first.

        Replaying a reset (a redelivery after a crash) is harmless: the readings after it come again
        too, and from the same fresh state they are scored to the same verdicts and event ids.
        Returns the number of records deleted."""
        asset, w = event.asset_id, self.window
        slots: set[int] = set()
        entry = self.cache.get(asset)
        if entry is not None and entry.partition == msg.partition:
            slots.update(range(min(entry.state.seq + 1, w)))
        slots.update(
            s for s in range(w) if s not in slots and store.get(slot_key(asset, s, w), index) is not None
        )
        for s in sorted(slots):
            out.writes.append((index, slot_key(asset, s, w), None))
        # stored reading covariates (serving.covariates): only keys that exist (a table delete needs one)
        for s in range(w):
            if store.get(covariate_key(asset, s, w), index) is not None:
                out.writes.append((index, covariate_key(asset, s, w), None))
        self._covariates_read.discard(asset)
        self.cache[asset] = AssetEntry(
            state=self.detector.new_state(), partition=msg.partition, last_offset=msg.offset
        )
        if self.live is not None:
            self.live.forget_history(asset)
        out.count("reset")
        audit.warning(
            "asset %s: detector state reset (%d records deleted) reset_id=%s requested_by=%s reason=%r "
            "at %s[%d]@%d",
            asset,
            len(slots),
            event.reset_id,
            event.requested_by,
            event.reason,
            msg.topic,
            msg.partition,
            msg.offset,
        )
        return len(slots)

    # --- event builders ---------------------------------------------------------------------------
    def _anomaly(self, asset_id: str, v: Verdict, detected_at: datetime, label: str | None) -> bytes:
        """``label`` names the trained model that judged the reading (None: the online model). The
        event id stays tied to the online detector's name, so a reading re-emitted after a model swap
        keeps its id."""
        ts = _dt(v.ts)
        assert v.kind is not None
        detector = label.split("/", 1)[0] if label is not None else self.detector.name
        return (
            Anomaly(
                event_id=anomaly_event_id(asset_id, ts, self.detector.name),
                asset_id=asset_id,
                timestamp=ts,
                value=v.value,
                expected=v.expected,
                lower=v.lower,
                upper=v.upper,
                score=v.score,
                type=v.kind,
                reason=v.reason,
                detector=detector,
                model_version=label or self.model_version,
                detected_at=detected_at,
            )
            .model_dump_json()
            .encode()
        )

    def _forecast(self, asset_id: str, entry: AssetEntry, ts: float) -> bytes:
        """The ``Forecast`` payload, serialised directly: one is built per K readings of every asset,
        and validating 1 + horizon pydantic models each time cost more than the model call. The unit
        tests validate what this emits against ``schemas.Forecast``."""
        trained = self.live.forecast(asset_id, entry.state) if self.live is not None else None
        if trained is not None:
            points, label = trained
            model_id, version = label.split("/", 1)
        else:
            points = self.detector.forecast(entry.state, self.horizon)
            model_id, version = self.detector.name, self.model_version
        return orjson.dumps(
            {
                "asset_id": asset_id,
                "issued_at": _dt(ts),
                "model_id": model_id,
                "model_version": version,
                "points": [
                    {"timestamp": _dt(p.ts), "predicted_value": p.value, "lower": p.lower, "upper": p.upper}
                    for p in points
                ],
            },
            option=orjson.OPT_UTC_Z,
        )

    def _score_record(self, asset_id: str, v: Verdict, msg: RawMessage) -> bytes:
        return (
            ScoreRecord(
                asset_id=asset_id,
                timestamp=_dt(v.ts),
                value=v.value,
                expected=v.expected,
                score=v.score,
                status=v.status,
                is_anomaly=v.is_anomaly,
                partition=msg.partition,
                offset=msg.offset,
            )
            .model_dump_json()
            .encode()
        )

    @staticmethod
    def _dead_letter(msg: RawMessage, error: str, received_at: datetime) -> bytes:
        letter = dead_letter(msg.topic, msg.partition, msg.offset, msg.key, msg.value, error, received_at)
        return letter.model_dump_json().encode()
