"""``kilowatch detect`` and ``kilowatch evaluate``: offline runs of the streaming detector and NAB scoring."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from schemas.errors import DataError
from stream_app import progress
from stream_app.core.online import OnlineDetector, OnlineParams
from stream_app.core.types import Verdict
from stream_app.evaluation.faults import evaluate_faults
from stream_app.evaluation.harness import (
    DEV_LABELS,
    NAB_DIR,
    DetectorSpec,
    Evaluation,
    FileRun,
    NabCorpus,
    RunCache,
    data_file,
    evaluate_detectors,
    evaluate_runs,
    load_corpus,
    load_windows,
    run_detectors,
)
from stream_app.evaluation.loco import add_loco_arguments, candidate_specs, format_loco, run_loco
from stream_app.evaluation.nab import PROFILES, CorpusResult
from stream_app.evaluation.offline import Series, detect_file, read_series, result_rows, write_results
from stream_app.evaluation.results_doc import format_evaluation, render_results
from stream_app.evaluation.river_baselines import BASELINES
from stream_app.exit_codes import bad_input, check_input_file, one_line
from stream_app.progress import add_quiet_flag
from stream_app.settings import Settings

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = PROJECT_ROOT / ".." / "shared" / "data"
DEFAULT_LABELS = DEV_LABELS  # all 35 labelled files of the 5 categories


def register(sub: Any) -> None:
    d: argparse.ArgumentParser = sub.add_parser("detect", help="score a CSV offline with the online detector")
    d.add_argument("--csv", required=True, type=Path, help="input file")
    d.add_argument(
        "--out", required=True, type=Path, help="results file (timestamp,value,anomaly_score,label)"
    )
    d.add_argument("--value-col", default="value")
    d.add_argument("--time-col", default="timestamp")
    d.add_argument(
        "--plot", type=Path, default=None, metavar="PNG", help="also draw series, expected band and anomalies"
    )
    d.add_argument("--unit", default=None, help="y-axis label of the plot (default: the value column)")
    d.add_argument("--plot-from", type=_utc, default=None, metavar="TIME", help="plot readings from TIME on")
    d.add_argument("--plot-to", type=_utc, default=None, metavar="TIME", help="plot readings before TIME")
    add_quiet_flag(d)
    d.set_defaults(handler=run_detect)

    e: argparse.ArgumentParser = sub.add_parser(
        "evaluate",
        help="NAB-score detectors over the labelled NAB corpus (35 files), overall and per category",
        description="Without --results: run the detector(s) causally over every labelled file under --data "
        "(in memory, at most 2 processes) and NAB-score them overall and per category. With --results: "
        "score NAB-format result files instead (after detecting into them when --data is given too).",
    )
    e.add_argument("--results", type=Path, default=None, help="directory of result files (one per data file)")
    e.add_argument("--labels", type=Path, default=DEFAULT_LABELS, help="NAB windows JSON")
    e.add_argument("--data", type=Path, default=None, help=f"NAB data directory (default {_rel(NAB_DIR)})")
    e.add_argument(
        "--profile", choices=sorted(PROFILES), action="append", help="profile(s); default: all three"
    )
    e.add_argument(
        "--detector",
        action="append",
        metavar="NAME",
        help="kilowatch (default), a river baseline (" + ", ".join(BASELINES) + ") or 'river' for all "
        "of them; repeatable",
    )
    e.add_argument("--only", action="append", metavar="CAT_OR_FILE", help="restrict to categories / files")
    e.add_argument("--files", action="store_true", help="print the per-file table of every detector")
    e.add_argument("--loco", action="store_true", help="leave-one-category-out sweep of --param candidates")
    add_loco_arguments(e)
    e.add_argument(
        "--report",
        type=Path,
        default=None,
        help="write the results document (Markdown) here, with its figures (PNG) in <report>_img/ beside it",
    )
    add_quiet_flag(e)
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


DETECT_CHUNK = 2000  # readings scored between two progress-bar updates


def read_input(path: Path, value_col: str, time_col: str) -> Series:
    """The input series, or one ``DataError`` line naming the file, the problem and a hint."""
    check_input_file(path)
    hint = f"expected a CSV with columns {time_col!r} and {value_col!r}; --time-col/--value-col name others"
    try:
        series = read_series(path, value_col, time_col)
    except DataError as exc:
        raise DataError(f"{one_line(str(exc))} ({hint})") from None
    except pd.errors.EmptyDataError:
        raise bad_input(path, "no data rows", hint) from None
    except (ValueError, OverflowError) as exc:  # pandas on dates out of range ...
        raise bad_input(path, f"{type(exc).__name__}: {exc}", hint) from None
    if not len(series.values):
        raise bad_input(path, "no data rows", hint)
    return series


def score_with_progress(series: Series, params: OnlineParams, bar: progress.Task) -> list[Verdict]:
    """``detect_series`` (one fresh asset state, file order) with the bar advanced every chunk."""
    detector = OnlineDetector(params)
    state = detector.new_state()
    epoch, values = series.epoch.tolist(), series.values.tolist()
    out: list[Verdict] = []
    for start in range(0, len(values), DETECT_CHUNK):
        stop = start + DETECT_CHUNK
        out += [
            detector.score_one(state, t, v)
            for t, v in zip(epoch[start:stop], values[start:stop], strict=True)
        ]
        bar.advance(len(values[start:stop]))
    return out


def run_detect(args: argparse.Namespace, settings: Settings) -> int:
    params = settings.detector.params()
    series = read_input(args.csv, args.value_col, args.time_col)
    with progress.task(f"detect {args.csv.name}", len(series.values), progress.enabled(args)) as bar:
        verdicts = score_with_progress(series, params, bar)
    rows = result_rows(series, verdicts)
    write_results(args.out, rows)
    print(f"{args.out}: {sum(r[3] for r in rows)} flagged")
    if args.plot is not None:
        plot_detect(args, series, verdicts)
        print(f"plot written to {args.plot}")
    return 0


def plot_detect(args: argparse.Namespace, series: Series, verdicts: list[Verdict]) -> None:
    """The --plot of ``detect``: readings in [--plot-from, --plot-to), band and anomalies by type."""
    from stream_app.plots import DetectionPlot, plot_detection

    lo = -np.inf if args.plot_from is None else args.plot_from
    hi = np.inf if args.plot_to is None else args.plot_to
    rows = np.flatnonzero((series.epoch >= lo) & (series.epoch < hi))
    if not len(rows):
        raise DataError(f"{args.csv}: no readings between --plot-from and --plot-to")
    shown = [verdicts[i] for i in rows]
    data = DetectionPlot(
        series.epoch[rows],
        series.values[rows],
        np.array([v.expected for v in shown]),
        np.array([v.lower for v in shown]),
        np.array([v.upper for v in shown]),
        [v.kind if v.is_anomaly else None for v in shown],
    )
    plot_detection(args.plot, data, args.csv.name, args.unit or args.value_col)


def run_faults(args: argparse.Namespace, settings: Settings) -> int:
    params = settings.detector.params()
    result = evaluate_faults(args.data, params, args.assets, args.rows, args.every)
    print(result.summary())
    print("reported as: " + ", ".join(f"{k}->{t} {n}" for (k, t), n in sorted(result.reported_as.items())))
    if args.verbose:
        for asset, fault in result.missed:
            seen = "observable" if fault.observable else "not observable within 3"
            print(f"missed: asset {asset} {fault.kind} at {fault.index} (length {fault.length}, {seen})")
    return 0


def result_path(results: Path, key: str) -> Path:
    """Results for ``realKnownCause/x.csv`` live at ``results/realKnownCause/x.csv`` or ``results/x.csv``."""
    nested = results / key
    return nested if nested.exists() else results / Path(key).name


def detect_to_files(results: Path, labels: Path, data: Path, params: OnlineParams) -> None:
    for key in load_windows(labels):
        detect_file(data_file(data, key), results / key, params)
        log.info("detected %s", key)


def result_runs(results: Path, corpus: NabCorpus) -> list[FileRun]:
    """NAB-format result files as detector outputs (``anomaly_score`` per row, ``label`` = flagged)."""
    runs = []
    for key in corpus.keys:
        path = result_path(results, key)
        if not path.exists():
            raise DataError(f"no results for {key} under {results}")
        scores = read_series(path, "anomaly_score").values
        flagged = int(read_series(path, "label").values.sum())
        if len(scores) != len(corpus.series[key].values):
            raise DataError(f"{path}: {len(scores)} rows, the data file has {len(corpus.series[key].values)}")
        runs.append(FileRun(key, scores, flagged, 0.0))
    return runs


def evaluate(
    results: Path, labels: Path, profiles: list[str], data: Path | None, params: OnlineParams
) -> list[CorpusResult]:
    """(Optionally detect into files, then) score every labelled result file; corpus results per profile."""
    if data is not None:
        detect_to_files(results, labels, data, params)
    corpus = load_corpus(data if data is not None else results, labels)
    ev = evaluate_runs(DetectorSpec(f"results:{results}"), corpus, result_runs(results, corpus), profiles)
    return [p.corpus for p in ev.profiles]


def detector_specs(names: list[str] | None, params: OnlineParams) -> list[DetectorSpec]:
    out: list[DetectorSpec] = []
    for name in names or ["kilowatch"]:
        if name == "kilowatch":
            out.append(DetectorSpec("kilowatch", params))
        elif name == "river":
            out += [DetectorSpec(b) for b in BASELINES]
        elif name in BASELINES:
            out.append(DetectorSpec(name))
        else:
            raise DataError(f"unknown detector {name!r}: kilowatch, river, {', '.join(BASELINES)}")
    return list(dict.fromkeys(out))


def run_with_progress(
    specs: list[DetectorSpec], corpus: NabCorpus, jobs: int, profiles: list[str], on: bool
) -> list[Evaluation]:
    """``evaluate_detectors``, with a bar over (detector, file) runs when ``on``.

    The runs go in batches of a few files (each batch in parallel, longest first) so the bar moves;
    the wall time of each detector is the sum of its batches."""
    if not on:
        return evaluate_detectors(specs, corpus, jobs, profiles=profiles)
    cache = RunCache()
    batch = max(1, 2 * jobs)
    keys = sorted(corpus.keys, key=lambda k: -len(corpus.series[k].values))
    with progress.task("evaluate", len(specs) * len(keys), True) as bar:
        for spec in specs:
            bar.stage(f"evaluate {spec.name}")
            wall = 0.0
            for i in range(0, len(keys), batch):
                part = NabCorpus(keys[i : i + batch], corpus.series, corpus.windows)
                run_detectors([spec], part, jobs, cache)
                wall += cache.wall.pop(spec, 0.0)
                bar.advance(len(part.keys))
            cache.wall[spec] = wall
    return evaluate_detectors(specs, corpus, jobs, cache, profiles)


def run_evaluate(args: argparse.Namespace, settings: Settings) -> int:
    params = settings.detector.params()
    profiles = args.profile or list(PROFILES)
    if args.results is not None:
        if args.data is not None:
            detect_to_files(args.results, args.labels, args.data, params)
        corpus = load_corpus(args.data or args.results, args.labels, args.only)
        spec = DetectorSpec(f"results:{args.results}")
        evaluations = [evaluate_runs(spec, corpus, result_runs(args.results, corpus), profiles)]
    else:
        corpus = load_corpus(args.data or NAB_DIR, args.labels, args.only)
        specs = detector_specs(args.detector, params)
        evaluations = run_with_progress(specs, corpus, args.jobs, profiles, progress.enabled(args))
    for ev in evaluations:
        print(format_evaluation(ev, corpus, per_file=args.files or len(evaluations) == 1))
        print()
    loco_run = None
    if args.loco:
        try:
            candidates = candidate_specs(args.param, params)
        except ValueError as exc:
            raise DataError(str(exc)) from exc
        loco_run = run_loco(candidates, corpus, args.jobs)
        print(format_loco(loco_run))
    if args.report is not None:
        from stream_app.evaluation.report_figures import write_figures

        command = ["kilowatch", *sys.argv[1:]]
        args.report.parent.mkdir(parents=True, exist_ok=True)
        figures = write_figures(evaluations, corpus, args.report)
        args.report.write_text(
            render_results(evaluations, corpus, loco_run, command).rstrip("\n") + "\n\n" + figures
        )
        print(f"report written to {args.report} (figures in {args.report.stem}_img/)")
    failed = sum(len(ev.errors) for ev in evaluations) + (len(loco_run.errors) if loco_run else 0)
    if failed:
        print(f"{failed} detector run(s) failed on a file (listed above; scored as no detections)")
    return 1 if failed else 0


def _utc(text: str) -> float:
    """An ISO time (naive = UTC) as epoch seconds, for --plot-from/--plot-to."""
    import pandas as pd

    try:
        ts = pd.Timestamp(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a time: {text!r} (e.g. 2014-02-01 or 2014-02-01T12:00)"
        ) from None
    if ts is pd.NaT:
        raise argparse.ArgumentTypeError(f"not a time: {text!r}")
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return float(ts.timestamp())


def _rel(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


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
