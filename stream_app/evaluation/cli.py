"""``kilowatch detect`` and ``kilowatch evaluate``: offline runs of the streaming detector and NAB scoring."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from stream_app.core.online import OnlineDetector, OnlineParams
from stream_app.errors import DataError
from stream_app.evaluation.faults import evaluate_faults
from stream_app.evaluation.nab import PROFILES, CorpusResult, prepare, score_corpus, window_rows
from stream_app.evaluation.offline import detect_file, read_series
from stream_app.evaluation.report import render_report
from stream_app.settings import Settings

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = PROJECT_ROOT / ".." / "shared" / "data"
DEFAULT_LABELS = DATA_DIR / "nab" / "labels" / "realKnownCause_windows.json"


def register(sub: Any) -> None:
    d: argparse.ArgumentParser = sub.add_parser("detect", help="score a CSV offline with the online detector")
    d.add_argument("--csv", required=True, type=Path, help="input file")
    d.add_argument(
        "--out", required=True, type=Path, help="results file (timestamp,value,anomaly_score,label)"
    )
    d.add_argument("--value-col", default="value")
    d.add_argument("--time-col", default="timestamp")
    d.set_defaults(handler=run_detect)

    e: argparse.ArgumentParser = sub.add_parser(
        "evaluate", help="NAB-score result files against labelled windows"
    )
    e.add_argument(
        "--results", required=True, type=Path, help="directory of result files (one per data file)"
    )
    e.add_argument("--labels", type=Path, default=DEFAULT_LABELS, help="NAB windows JSON")
    e.add_argument(
        "--profile", choices=sorted(PROFILES), action="append", help="profile(s); default: all three"
    )
    e.add_argument("--data", type=Path, default=None, help="run detect over this NAB data directory first")
    e.add_argument("--report", type=Path, default=None, help="write a Markdown report here")
    e.set_defaults(handler=run_evaluate)

    f: argparse.ArgumentParser = sub.add_parser(
        "faults", help="recall of planted faults on the steel-plant data (the integration scenario, offline)"
    )
    f.add_argument("--data", type=Path, default=DATA_DIR, help="shared data directory")
    f.add_argument("--assets", type=int, default=4)
    f.add_argument("--rows", type=int, default=3000)
    f.add_argument("--every", type=int, default=300, help="readings between planted faults")
    f.add_argument("--verbose", action="store_true", help="list the missed faults")
    f.set_defaults(handler=run_faults)


def run_detect(args: argparse.Namespace, settings: Settings) -> int:
    params = OnlineParams.from_settings(settings)
    flagged = detect_file(args.csv, args.out, params, args.value_col, args.time_col)
    print(f"{args.out}: {flagged} flagged")
    return 0


def run_faults(args: argparse.Namespace, settings: Settings) -> int:
    params = OnlineParams.from_settings(settings)
    result = evaluate_faults(args.data, params, args.assets, args.rows, args.every)
    print(result.summary())
    print("reported as: " + ", ".join(f"{k}->{t} {n}" for (k, t), n in sorted(result.reported_as.items())))
    if args.verbose:
        for asset, fault in result.missed:
            seen = "observable" if fault.observable else "not observable within 3"
            print(f"missed: asset {asset} {fault.kind} at {fault.index} (length {fault.length}, {seen})")
    return 0


def load_windows(path: Path) -> dict[str, list[tuple[str, str]]]:
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read labels {path}: {exc}") from exc
    return {key: [(_stamp(a), _stamp(b)) for a, b in wins] for key, wins in raw.items()}


def _stamp(text: str) -> str:
    """NAB labels carry microseconds (``2014-01-01 00:00:00.000000``); data files do not."""
    return text[:-7] if text.endswith(".000000") else text


def result_path(results: Path, key: str) -> Path:
    """Results for ``realKnownCause/x.csv`` live at ``results/realKnownCause/x.csv`` or ``results/x.csv``."""
    nested = results / key
    return nested if nested.exists() else results / Path(key).name


def evaluate(
    results: Path, labels: Path, profiles: list[str], data: Path | None, params: OnlineParams
) -> list[CorpusResult]:
    """(Optionally detect, then) score every labelled file under each profile."""
    windows = load_windows(labels)
    if data is not None:
        for key in windows:
            src = data / key
            if not src.exists():
                src = data / Path(key).name
            detect_file(src, results / key, params)
            log.info("detected %s", key)
    loaded = []
    for key, wins in windows.items():
        path = result_path(results, key)
        if not path.exists():
            raise DataError(f"no results for {key} under {results}")
        series = read_series(path, "anomaly_score")
        loaded.append((key, series.values, window_rows(series.stamps, wins)))
    out = []
    for name in profiles:
        prof = PROFILES[name]
        files = [prepare(key, scores, rows, prof) for key, scores, rows in loaded]
        out.append(score_corpus(files, prof))
    return out


def run_evaluate(args: argparse.Namespace, settings: Settings) -> int:
    params = OnlineParams.from_settings(settings)
    profiles = args.profile or list(PROFILES)
    results = evaluate(args.results, args.labels, profiles, args.data, params)
    for r in results:
        print(f"{r.profile:>20}: {r.normalized:6.2f}  (threshold {r.threshold:.6f}, raw {r.raw:.3f})")
    if args.report is not None:
        detector = f"{OnlineDetector.name} v{OnlineDetector.version}"
        args.report.write_text(render_report(results, detector, params, args))
        print(f"report written to {args.report}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m stream_app.evaluation.cli detect|evaluate ...`` (same as the kilowatch sub-commands)."""
    parser = argparse.ArgumentParser(prog="kilowatch-eval", description=__doc__)
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    handler = args.handler
    return int(handler(args, Settings()))


if __name__ == "__main__":
    raise SystemExit(main())
