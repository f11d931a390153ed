"""``python -m bench.artifact_store [BUNDLE_DIR ...]``: bundle sizes and load times of the PostgreSQL store.

For each bundle folder (default: LightGBM and seasonal-naive bundles trained here on the steel plant's
``Usage_kWh``, first 8,000 rows, horizon 24, default parameters): its content size, the stored tar.gz size,
``put_dir`` (pack + checksum + one INSERT), a **cold** ``get_dir`` (a host with an empty cache: SELECT,
unpack, verify, rename), a **warm** ``get_dir`` (the verified local copy: checksum only) and the backend's
``load_model`` on the result — the median of ``--repeat`` runs, each cold run on a fresh cache folder.
Runs against the database of the settings (KILOWATCH_* environment), which must be migrated
(``kilowatch db upgrade``); writes ``bench/results/artifact_store.md`` and ``.json``; the rows it adds are
deleted at the end.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

from stream_app.lifecycle.artifact_bundle import content_size
from stream_app.lifecycle.artifact_pg import PostgresArtifactStore
from stream_app.lifecycle.backend import training_backend
from stream_app.settings import Settings
from tests.conftest import DATA_DIR

RESULTS = Path(__file__).with_name("results")


def train_bundles(out: Path) -> list[Path]:
    from trainers.backend import TrainSpec, train

    df = pd.read_csv(DATA_DIR / "energy" / "steel_industry_2018_15min.csv", nrows=8000)
    frame = pd.DataFrame(
        {"timestamp": pd.to_datetime(df["timestamp"], utc=True), "value": df["Usage_kWh"].astype(float)}
    )
    made = []
    for model_type in ("lightgbm", "seasonal_naive"):
        path = out / model_type
        train(frame, TrainSpec(model_type, {}, horizon=24)).save(path)
        made.append(path)
    return made


def ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 1)


def measure(settings: Settings, bundle: Path, repeat: int, work: Path) -> dict[str, Any]:
    backend = training_backend(settings.training.backend)
    store = PostgresArtifactStore(settings, work / "writer-cache")
    puts, colds, warms, loads = [], [], [], []
    uris = []
    for i in range(repeat):
        t = time.perf_counter()
        uri = store.put_dir(bundle, "bench")
        puts.append(time.perf_counter() - t)
        uris.append(uri)
        host = PostgresArtifactStore(settings, work / f"host-{bundle.name}-{i}")
        t = time.perf_counter()
        folder = host.get_dir(uri)
        colds.append(time.perf_counter() - t)
        t = time.perf_counter()
        host.get_dir(uri)
        warms.append(time.perf_counter() - t)
        t = time.perf_counter()
        backend.load_model(folder)
        loads.append(time.perf_counter() - t)
    archive = store.prepare(bundle).packed
    assert archive is not None
    for uri in uris:
        store.delete(uri)
    return {
        "bundle": bundle.name,
        "content_bytes": content_size(bundle),
        "archive_bytes": len(archive.archive),
        "put_ms": ms(puts),
        "cold_get_ms": ms(colds),
        "warm_get_ms": ms(warms),
        "load_model_ms": ms(loads),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundles", nargs="*", type=Path, help="bundle folders (default: train two here)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    settings = Settings()
    with tempfile.TemporaryDirectory(prefix="kw-artifacts-") as tmp:
        work = Path(tmp)
        bundles = args.bundles or train_bundles(work / "bundles")
        rows = [measure(settings, b, args.repeat, work) for b in bundles]
    head = "| bundle | content | tar.gz | put | cold get | warm get | load_model |\n" + "|---" * 7 + "|\n"
    lines = [
        f"| {r['bundle']} | {r['content_bytes']:,} B | {r['archive_bytes']:,} B | {r['put_ms']} ms | "
        f"{r['cold_get_ms']} ms | {r['warm_get_ms']} ms | {r['load_model_ms']} ms |"
        for r in rows
    ]
    table = head + "\n".join(lines) + "\n"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "artifact_store.md").write_text(
        f"# Artifact store (PostgreSQL): median of {args.repeat} runs\n\n{table}"
    )
    (RESULTS / "artifact_store.json").write_text(json.dumps(rows, indent=2) + "\n")
    print(table)


if __name__ == "__main__":
    main()
