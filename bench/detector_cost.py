"""Cost per reading of the online detector, this tree against a baseline revision, in one run.

``python -m bench.detector_cost [--baseline REF]`` checks the baseline out into a temporary git
worktree and runs the same two measurements there and here, alternating (baseline, current,
baseline, current) so that machine load hits both alike:

* ``score_one``: microseconds per reading of ``OnlineDetector.score_one`` over the steel plant's
  consumption (real data, ``../shared/data``), one asset, fresh state;
* pipeline: readings per second of ``ScoringPipeline.process`` (decode, state, score, encode) with
  an in-memory store, 20 assets of steel readings, no Kafka (``bench.inprocess``).

Results go to ``bench/results/detector_cost.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
N_READINGS = 20_000
ASSETS = 20

# Runs inside the tree under test (its own imports), prints one JSON line.
PROBE = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
import numpy as np, pandas as pd
from stream_app.core.online import OnlineDetector, OnlineParams
from stream_app.settings import Settings
from bench.inprocess import pipeline_rate
df = pd.read_csv(sys.argv[2])
n = int(sys.argv[3]); assets = int(sys.argv[4])
vals = df["Usage_kWh"].astype(float).to_numpy()[:n]
ts = (pd.to_datetime(df["timestamp"], format="mixed", dayfirst=True, utc=True).astype("int64") // 10**9)
ts = ts.to_numpy(dtype=float)[:n]
det = OnlineDetector(OnlineParams())
state = det.new_state()
score = det.score_one
t0 = time.perf_counter()
for t, v in zip(ts.tolist(), vals.tolist()):
    score(state, t, v)
us = (time.perf_counter() - t0) / n * 1e6
per = n // assets
msgs = []
for i in range(per):
    stamp = pd.Timestamp(ts[i], unit="s", tz="UTC").isoformat()
    for a in range(assets):
        key = f"bench-{a}".encode()
        body = {"asset_id": f"bench-{a}", "timestamp": stamp, "value": vals[i]}
        msgs.append((key, json.dumps(body).encode()))
rate = pipeline_rate(Settings(), msgs)
print(json.dumps({"score_one_us": us, "pipeline": rate}))
"""


def probe(tree: Path, data: Path) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(tree), str(data), str(N_READINGS), str(ASSETS)],
        cwd=tree,
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.detector_cost", description=__doc__)
    p.add_argument("--baseline", default="6b7dcb6", help="git revision to compare with (detector v3)")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--data", type=Path, default=ROOT / ".." / "shared" / "data")
    args = p.parse_args(argv)
    steel = (args.data / "energy" / "steel_industry_2018_15min.csv").resolve()
    runs: dict[str, list[dict[str, Any]]] = {"baseline": [], "current": []}
    with tempfile.TemporaryDirectory(prefix="kw-baseline-") as tmp:
        base = Path(tmp) / "tree"
        subprocess.run(["git", "worktree", "add", "--detach", str(base), args.baseline], cwd=ROOT, check=True)
        try:
            for _ in range(args.rounds):
                runs["baseline"].append(probe(base, steel))
                runs["current"].append(probe(ROOT, steel))
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(base)], cwd=ROOT, check=False)
    summary = {
        name: {
            "score_one_us": min(r["score_one_us"] for r in rs),
            "pipeline_readings_per_s": max(r["pipeline"]["per_s"] for r in rs),
        }
        for name, rs in runs.items()
    }
    doc = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "baseline": args.baseline,
        "readings": N_READINGS,
        "summary": summary,
        "runs": runs,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "detector_cost.json").write_text(json.dumps(doc, indent=2) + "\n")
    b, c = summary["baseline"], summary["current"]
    md = [
        f"# Detector cost per reading, {doc['when']}",
        "",
        f"Steel plant consumption, {N_READINGS:,} readings; best of {args.rounds} alternating rounds.",
        "",
        f"| measure | baseline {args.baseline} | current | change |",
        "|---|---:|---:|---:|",
        f"| `score_one`, µs per reading | {b['score_one_us']:.1f} | {c['score_one_us']:.1f} | "
        f"{100 * (c['score_one_us'] / b['score_one_us'] - 1):+.0f} % |",
        f"| in-process pipeline, readings/s ({ASSETS} assets) | {b['pipeline_readings_per_s']:,.0f} | "
        f"{c['pipeline_readings_per_s']:,.0f} | "
        f"{100 * (c['pipeline_readings_per_s'] / b['pipeline_readings_per_s'] - 1):+.0f} % |",
        "",
    ]
    (RESULTS / "detector_cost.md").write_text("\n".join(md))
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
