"""``python -m bench.score_digest``: one sha256 over everything the stream's scoring step emits on the
shared data, to show that a change which should not change behaviour (a re-cut, a settings change)
leaves every emitted byte as it was. Compare the digest of two revisions on the same machine.

Data: the 35 labelled NAB files (one asset per file, file order) and an 8 x 3,000 steel-plant fleet
with spikes, through ``ScoringPipeline.process`` with scores emitted and a fixed wall clock, state in
an ``InMemoryStore``. The digest covers anomaly, forecast, score and dead-letter events and every
state record written.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from pathlib import Path

import orjson
import pandas as pd

from bench.data import Fleet
from stream_app.scoring.pipeline import RawMessage, ScoringPipeline
from stream_app.scoring.state import InMemoryStore
from stream_app.settings import Settings
from tests.conftest import DATA_DIR

WALL = 2_000_000_000.0  # a fixed "now": events carry detected_at


def messages() -> list[tuple[bytes, bytes]]:
    out = []
    for f in sorted((DATA_DIR / "nab").glob("*/*.csv")):
        df = pd.read_csv(f, dtype={"timestamp": str})
        key = f"{f.parent.name}/{f.stem}".encode()
        for t, v in zip(df["timestamp"], df["value"], strict=True):
            out.append((key, orjson.dumps({"timestamp": t.replace(" ", "T") + "Z", "value": float(v)})))
    out += [(k, v) for _, _, k, v in Fleet(8, 3000, spike_after=500).messages()]
    return out


def digest() -> dict[str, object]:
    settings = Settings(emit_scores=True)
    pipe = ScoringPipeline(settings)
    store = InMemoryStore(settings.detector.window_size)
    raw = [RawMessage(k, v, "digest", zlib.crc32(k) % 4, i) for i, (k, v) in enumerate(messages())]
    h = hashlib.sha256()
    counts: dict[str, int] = {}
    for i in range(0, len(raw), 500):
        out = pipe.process(raw[i : i + 500], store, now=WALL)
        store.apply(out.writes)
        for name in ("anomalies", "forecasts", "dead_letters", "scores"):
            events = getattr(out, name)
            counts[name] = counts.get(name, 0) + len(events)
            for k, v in events:
                h.update(k or b"")
                h.update(v)
        for _, k, r in out.writes:
            h.update(k)
            h.update(r or b"")
    return {"readings": len(raw), "sha256": h.hexdigest(), **counts}


if __name__ == "__main__":
    result = digest()
    Path("bench/results").mkdir(parents=True, exist_ok=True)
    Path("bench/results/score_digest.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
