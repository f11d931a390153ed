"""The NAB evaluation harness: a labelled corpus, detectors run over it causally, scores per category.

* :class:`NabCorpus` -- the labelled files (default: the 35 files of ``dev_windows.json``), read once,
  with each file's NAB weights prepared once per profile (they depend on the windows, not on scores).
* :class:`DetectorSpec` -- what to run: ``kilowatch`` (the online detector through
  ``offline.detect_series``, the stream's code path) with an ``OnlineParams`` and optional
  **module-constant patches**, or a river baseline (``river_baselines``).
* :func:`run_detectors` -- runs specs over the corpus (at most two processes), catching a failure per
  file: a file whose detector raised is reported with the exception and scored as *no detections*
  (its windows count as missed), never hidden and never fatal to the run.  Outputs are cached in
  memory by (spec, file), so a sweep or a second evaluation of the same spec costs nothing.
* :func:`evaluate_runs` -- NAB scores per profile, overall and per category (``categories``).

Module-constant patches (``stream_app.core.online.FLAT_WEIGHT=1.0``) **rebind the module attribute**
with ``setattr`` for the duration of one file's detection (inside the worker process), and restore it
afterwards.  Code that reads the constant through its module at call time (``FLAT_WEIGHT`` inside
``online.py``, ``st.TAIL_PRIOR`` through ``import ... as st``) sees the new value; a copy made by
``from module import NAME`` in another module, or a default argument evaluated at import, does not.
:func:`copies_of` lists such copies so the CLI can warn, and a sweep whose candidates all give identical
outputs says so.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import json
import logging
import math
import multiprocessing
import os
import sys
import time
import traceback
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from schemas.errors import DataError
from stream_app.core.online import OnlineDetector, OnlineParams
from stream_app.core.types import Verdict
from stream_app.evaluation.categories import ProfileEvaluation, evaluate_profile
from stream_app.evaluation.nab import PROFILES, FileResult, ScoredFile, prepare, window_rows
from stream_app.evaluation.offline import Series, detect_series, read_series, verdict_score
from stream_app.settings import Settings

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = Path(os.environ.get("KILOWATCH_DATA_DIR", PROJECT_ROOT / ".." / "shared" / "data"))
NAB_DIR = DATA_DIR / "nab"
DEV_LABELS = NAB_DIR / "labels" / "dev_windows.json"
MAX_JOBS = 2  # a shared two-core machine: never more worker processes than this

Value = bool | int | float | str


# ----------------------------------------------------------------------------------------------
# corpus


@dataclass
class NabCorpus:
    """Labelled files: series, window rows and, per profile, the prepared NAB weights."""

    keys: list[str]
    series: dict[str, Series]
    windows: dict[str, list[tuple[int, int]]]
    _templates: dict[tuple[str, str], ScoredFile] = field(default_factory=dict, repr=False)

    def template(self, key: str, profile: str) -> ScoredFile:
        got = self._templates.get((key, profile))
        if got is None:
            ser = self.series[key]
            got = prepare(key, np.zeros(len(ser.values)), self.windows[key], PROFILES[profile])
            self._templates[(key, profile)] = got
        return got

    def scored(self, key: str, profile: str, scores: np.ndarray) -> ScoredFile:
        return dataclasses.replace(self.template(key, profile), scores=np.asarray(scores, dtype=float))

    @property
    def readings(self) -> int:
        return sum(len(s.values) for s in self.series.values())


def load_windows(path: Path) -> dict[str, list[tuple[str, str]]]:
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read labels {path}: {exc}") from exc
    return {key: [(_stamp(a), _stamp(b)) for a, b in wins] for key, wins in raw.items()}


def _stamp(text: str) -> str:
    """NAB labels carry microseconds (``2014-01-01 00:00:00.000000``); data files do not."""
    return text[:-7] if text.endswith(".000000") else text


def data_file(data: Path, key: str) -> Path:
    """``realKnownCause/x.csv`` lives at ``data/realKnownCause/x.csv`` or ``data/x.csv``."""
    src = data / key
    return src if src.exists() else data / Path(key).name


def load_corpus(
    data: Path = NAB_DIR,
    labels: Path = DEV_LABELS,
    only: Sequence[str] | None = None,
    max_rows: int | None = None,
) -> NabCorpus:
    """Read every labelled file (``only``: keys or categories to keep; ``max_rows``: a head slice).

    With ``max_rows`` the windows that do not lie wholly inside the slice are dropped (tests).
    """
    wins = load_windows(labels)
    keys = [k for k in wins if not only or k in only or k.partition("/")[0] in only]
    if not keys:
        raise DataError(f"no labelled files selected from {labels}")
    series: dict[str, Series] = {}
    rows: dict[str, list[tuple[int, int]]] = {}
    for key in keys:
        src = data_file(data, key)
        if not src.exists():
            raise DataError(f"labelled file {key} not found under {data}")
        ser = read_series(src)
        win_rows = window_rows(ser.stamps, wins[key])
        if max_rows is not None and len(ser.values) > max_rows:
            ser = Series(ser.stamps[:max_rows], ser.epoch[:max_rows], ser.values[:max_rows])
            win_rows = [(lo, hi) for lo, hi in win_rows if hi < max_rows]
        series[key] = ser
        rows[key] = win_rows
    return NabCorpus(keys, series, rows)


# ----------------------------------------------------------------------------------------------
# detectors


@dataclass(frozen=True)
class DetectorSpec:
    """What to run over a file: ``kilowatch`` (with params and constant patches) or a river baseline."""

    name: str = "kilowatch"
    # The settings' parameters (window 768), as `kilowatch evaluate` and the stream use; not OnlineParams()'s
    # bare defaults (window 672), which scored a hand-built spec differently from the CLI.
    params: OnlineParams = field(default_factory=lambda: Settings().detector.params())
    patches: tuple[tuple[str, Value], ...] = ()  # ("stream_app.core.online.FLAT_WEIGHT", 1.0), ...
    tag: str = ""  # short label in tables (a sweep's assignment, e.g. "threshold=0.99")

    @property
    def label(self) -> str:
        return self.tag or self.name

    def describe(self) -> str:
        if self.name != "kilowatch":
            return self.name
        text = f"{OnlineDetector.name} v{OnlineDetector.version} with `{self.params}`"
        if self.patches:
            text += " and " + ", ".join(f"`{k} = {v!r}`" for k, v in self.patches)
        return text


def resolve_constant(dotted: str) -> tuple[Any, str]:
    """``stream_app.core.online.FLAT_WEIGHT`` -> (module object, ``FLAT_WEIGHT``); must exist."""
    mod_name, _, attr = dotted.rpartition(".")
    if not mod_name:
        raise ValueError(f"{dotted!r} is not module.CONSTANT")
    try:
        module = importlib.import_module(mod_name)
    except ImportError as exc:
        raise ValueError(f"cannot import {mod_name} for {dotted}: {exc}") from exc
    if not hasattr(module, attr):
        raise ValueError(f"{mod_name} has no attribute {attr}")
    return module, attr


@contextlib.contextmanager
def patched(patches: Sequence[tuple[str, Value]]) -> Iterator[None]:
    """Rebind module attributes (``setattr``) for the duration of the block; always restored."""
    saved: list[tuple[Any, str, Any]] = []
    try:
        for dotted, value in patches:
            module, attr = resolve_constant(dotted)
            saved.append((module, attr, getattr(module, attr)))
            setattr(module, attr, value)
        yield
    finally:
        for module, attr, old in reversed(saved):
            setattr(module, attr, old)


def copies_of(dotted: str) -> list[str]:
    """Other loaded ``stream_app`` modules with an equal attribute of the same name (a ``from x import``
    copy, or a parallel constant): a patch of ``dotted`` does not reach them."""
    module, attr = resolve_constant(dotted)
    value = getattr(module, attr)
    out = []
    for name, mod in sorted(sys.modules.items()):
        if mod is None or mod is module or not name.startswith("stream_app"):
            continue
        other = vars(mod).get(attr, _MISSING)
        if other is not _MISSING and type(other) is type(value) and other == value:
            out.append(f"{name}.{attr}")
    return out


_MISSING = object()


@dataclass(frozen=True)
class FileRun:
    """One detector's output on one file: NAB anomaly scores per row, flags at its own threshold."""

    key: str
    scores: np.ndarray
    flagged: int  # readings the detector flagged at its own threshold (kilowatch's label column)
    seconds: float
    error: str | None = None  # the exception when the detector raised (scores are then all 0)


def kilowatch_scores(verdicts: Sequence[Verdict]) -> tuple[np.ndarray, int]:
    return (
        np.fromiter((verdict_score(v) for v in verdicts), dtype=float, count=len(verdicts)),
        sum(1 for v in verdicts if v.is_anomaly),
    )


def run_file(spec: DetectorSpec, key: str, epoch: np.ndarray, values: np.ndarray) -> FileRun:
    """Run one detector over one file (in this process); a failure is caught and described."""
    t0 = time.perf_counter()
    try:
        if spec.name == "kilowatch":
            with patched(spec.patches):
                verdicts = detect_series(epoch, values, spec.params)
            scores, flagged = kilowatch_scores(verdicts)
        else:
            from stream_app.evaluation.river_baselines import run_baseline

            scores = run_baseline(spec.name, epoch, values)
            flagged = 0
        bad = ~np.isfinite(scores)
        if bad.any():
            raise ValueError(f"{int(bad.sum())} non-finite scores")
        return FileRun(key, scores, flagged, time.perf_counter() - t0)
    except Exception as exc:  # noqa: BLE001 - one file's failure is reported, not fatal to the corpus
        where = traceback.extract_tb(exc.__traceback__)
        loc = f" at {Path(where[-1].filename).name}:{where[-1].lineno} in {where[-1].name}" if where else ""
        return FileRun(
            key, np.zeros(len(values)), 0, time.perf_counter() - t0, f"{type(exc).__name__}: {exc}{loc}"
        )


def _task(args: tuple[DetectorSpec, str, np.ndarray, np.ndarray]) -> FileRun:
    return run_file(*args)


class RunCache:
    """In-memory cache of detector outputs, keyed by (spec, file)."""

    def __init__(self) -> None:
        self.runs: dict[tuple[DetectorSpec, str], FileRun] = {}
        self.wall: dict[DetectorSpec, float] = {}  # wall time of the run that filled the spec's entries


def run_detectors(
    specs: Sequence[DetectorSpec], corpus: NabCorpus, jobs: int = MAX_JOBS, cache: RunCache | None = None
) -> dict[DetectorSpec, list[FileRun]]:
    """Run every spec over every file (missing from the cache), at most ``MAX_JOBS`` processes."""
    cache = cache if cache is not None else RunCache()
    todo = [(s, k) for s in dict.fromkeys(specs) for k in corpus.keys if (s, k) not in cache.runs]
    todo.sort(key=lambda sk: -len(corpus.series[sk[1]].values))  # longest first: balanced workers
    jobs = max(1, min(jobs, MAX_JOBS))
    t0 = time.perf_counter()
    if todo:
        if any(s.name != "kilowatch" for s, _ in todo):
            from stream_app.evaluation.river_baselines import preload

            preload()  # import river once here, not in every forked worker
        args = [(s, k, corpus.series[k].epoch, corpus.series[k].values) for s, k in todo]
        if jobs == 1 or len(todo) == 1:
            results = [_task(a) for a in args]
        else:
            ctx = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
                results = list(pool.map(_task, args))
        for (s, k), r in zip(todo, results, strict=True):
            cache.runs[(s, k)] = r
        wall = time.perf_counter() - t0
        ran = {s for s, _ in todo}
        if len(ran) == 1:  # a joint run of several specs has no per-spec wall time
            cache.wall[ran.pop()] = wall
    return {s: [cache.runs[(s, k)] for k in corpus.keys] for s in specs}


# ----------------------------------------------------------------------------------------------
# scoring


@dataclass(frozen=True)
class FileRow:
    """Per-file line of a report: the run and its result at the corpus threshold (one profile)."""

    run: FileRun
    rows: int
    result: FileResult


@dataclass(frozen=True)
class Evaluation:
    """A detector's evaluation over a corpus: per profile, overall and per category, and per file."""

    spec: DetectorSpec
    profiles: tuple[ProfileEvaluation, ...]
    files: dict[str, tuple[FileRow, ...]]  # profile -> per-file rows at the corpus threshold
    detect_seconds: float  # sum of per-file detection times (CPU of one process)
    wall_seconds: float  # wall time of the detection run (0 when it came from the cache)

    def profile(self, name: str) -> ProfileEvaluation:
        for p in self.profiles:
            if p.profile == name:
                return p
        raise KeyError(name)

    @property
    def errors(self) -> list[FileRun]:
        first = next(iter(self.files.values()))
        return [r.run for r in first if r.run.error is not None]


def evaluate_runs(
    spec: DetectorSpec,
    corpus: NabCorpus,
    runs: Sequence[FileRun],
    profiles: Sequence[str] = tuple(PROFILES),
    wall: float = 0.0,
) -> Evaluation:
    by_key = {r.key: r for r in runs}
    profs = []
    files: dict[str, tuple[FileRow, ...]] = {}
    for name in profiles:
        scored = [corpus.scored(k, name, by_key[k].scores) for k in corpus.keys]
        pe = evaluate_profile(scored, PROFILES[name])
        profs.append(pe)
        files[name] = tuple(
            FileRow(by_key[k], len(corpus.series[k].values), fr)
            for k, fr in zip(corpus.keys, pe.corpus.files, strict=True)
        )
    secs = math.fsum(r.seconds for r in runs)
    return Evaluation(spec, tuple(profs), files, secs, wall)


def evaluate_detectors(
    specs: Sequence[DetectorSpec],
    corpus: NabCorpus,
    jobs: int = MAX_JOBS,
    cache: RunCache | None = None,
    profiles: Sequence[str] = tuple(PROFILES),
) -> list[Evaluation]:
    """Run and score each spec in turn (each over all files, in parallel), so each has its wall time."""
    cache = cache if cache is not None else RunCache()
    out = []
    for s in specs:
        runs = run_detectors([s], corpus, jobs, cache)[s]
        out.append(evaluate_runs(s, corpus, runs, profiles, cache.wall.get(s, 0.0)))
    return out
