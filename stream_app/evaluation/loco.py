"""Leave-one-category-out (LOCO) selection of detector constants.

For each held-out category H of the corpus: every candidate setting is scored (NAB standard profile,
one threshold swept over the training files) on the files of **all other categories** -- including
``artificialNoAnomaly``, whose detections are false alarms that cost FP weight in the training corpus
score although the category has no windows -- and the best candidate (first in candidate order on a
tie) is chosen without looking at H.  H is then scored at that choice:

* ``held_out_own``: H alone, NAB-scored with its own optimal threshold (what per-category tables show);
* ``held_out_at_train``: H at the threshold chosen on the training files (the fully honest number:
  nothing about H was tuned), normalised with H's own null and perfect scores;
* for a category without windows: the detections after probation at the training threshold.

The **LOCO corpus score** combines the folds: each category's files take their scores from the
candidate chosen without that category, and the whole corpus is NAB-scored as usual.

Candidates are ``OnlineParams`` fields (``threshold=0.99,0.996``: the params are rebuilt with
``dataclasses.replace``) and module constants of the detector (``stream_app.core.online.FLAT_WEIGHT=
0.25,1``: the module attribute is rebound with ``setattr`` while each file is detected and restored
after, see ``harness.patched``).  Several ``--param`` options form a grid (every combination).
Detector outputs are cached in memory per candidate, so each candidate is detected once whatever the
number of folds; detection uses at most two processes.

``python -m stream_app.evaluation.loco --param NAME=v1,v2 ...`` or
``kilowatch evaluate --loco --param NAME=v1,v2 ...``.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stream_app.core.online import OnlineParams
from stream_app.evaluation.categories import (
    categories_in,
    category_at_threshold,
    category_of,
    normalize,
    scorable_windows,
)
from stream_app.evaluation.harness import (
    DEV_LABELS,
    MAX_JOBS,
    NAB_DIR,
    DetectorSpec,
    NabCorpus,
    RunCache,
    Value,
    copies_of,
    load_corpus,
    resolve_constant,
    run_detectors,
)
from stream_app.evaluation.nab import PROFILES, ScoredFile, score_corpus

log = logging.getLogger(__name__)

STANDARD = PROFILES["standard"]


# ----------------------------------------------------------------------------------------------
# pure selection


@dataclass(frozen=True, slots=True)
class Fold:
    """One held-out category: what the training categories chose and how the held-out one fares."""

    held_out: str
    chosen: str  # candidate label
    train_scores: tuple[tuple[str, float], ...]  # (candidate, standard score on the training files)
    train_threshold: float  # NAB threshold of the chosen candidate on the training files
    held_out_own: float | None  # held-out category, own optimal threshold (None: no windows)
    held_out_at_train: float | None  # held-out category at the training threshold (None: no windows)
    held_out_detections: int  # after probation, at the training threshold
    best_held_out: str  # the candidate that would have been best on the held-out category (oracle)
    best_held_out_score: float | None  # its held-out score (own threshold; detections for no windows)


@dataclass(frozen=True, slots=True)
class LocoResult:
    candidates: tuple[str, ...]
    categories: tuple[str, ...]
    folds: tuple[Fold, ...]
    corpus: tuple[tuple[str, float], ...]  # (candidate, standard score over all files)
    per_category: tuple[tuple[str, tuple[tuple[str, float | None], ...]], ...]  # candidate -> category own
    loco_corpus: float  # whole corpus, each category scored with its fold's choice

    @property
    def agreed(self) -> bool:
        return len({f.chosen for f in self.folds}) == 1


def _split(files: Sequence[ScoredFile], held_out: str) -> tuple[list[ScoredFile], list[ScoredFile]]:
    train = [f for f in files if category_of(f.name) != held_out]
    test = [f for f in files if category_of(f.name) == held_out]
    return train, test


def _held_out_value(test: Sequence[ScoredFile]) -> float | None:
    if not any(scorable_windows(f) for f in test):
        return None
    return score_corpus(test, STANDARD).normalized


def loco_select(candidates: Mapping[str, Sequence[ScoredFile]]) -> LocoResult:
    """LOCO over prepared files (standard profile); every candidate must hold the same files in order."""
    labels = list(candidates)
    if not labels:
        raise ValueError("no candidates")
    names = [f.name for f in candidates[labels[0]]]
    for lab in labels:
        if [f.name for f in candidates[lab]] != names:
            raise ValueError(f"candidate {lab} does not hold the same files")
    cats = categories_in(names)
    if len(cats) < 2:
        raise ValueError("leave-one-category-out needs at least two categories")
    memo: dict[tuple[str, str], float | None] = {}

    def held_value(lab: str, cat: str) -> float | None:
        if (lab, cat) not in memo:
            memo[(lab, cat)] = _held_out_value(_split(candidates[lab], cat)[1])
        return memo[(lab, cat)]

    folds = []
    for held in cats:
        train_scores = []
        thresholds = {}
        for lab in labels:
            train, _ = _split(candidates[lab], held)
            res = score_corpus(train, STANDARD)
            train_scores.append((lab, res.normalized))
            thresholds[lab] = res.threshold
        chosen = max(train_scores, key=lambda ls: ls[1])[0]  # max() keeps the first on ties
        _, test = _split(candidates[chosen], held)
        raw, results = category_at_threshold(test, thresholds[chosen], STANDARD)
        windows = any(scorable_windows(f) for f in test)
        own = held_value(chosen, held)
        at_train = None
        if windows:
            null = -STANDARD.fn * sum(scorable_windows(f) for f in test)
            perfect = float(sum(f.best_tp[np.isfinite(f.best_tp)].sum() for f in test))
            at_train = normalize(raw, null, perfect)
        # oracle: the candidate best on the held-out category itself (for comparison only)
        if windows:
            oracle = [(lab, held_value(lab, held)) for lab in labels]
            best, best_score = max(oracle, key=lambda ls: ls[1] if ls[1] is not None else -1e18)
        else:  # fewest false alarms at each candidate's own training threshold
            counts = []
            for lab in labels:
                _, rs = category_at_threshold(_split(candidates[lab], held)[1], thresholds[lab], STANDARD)
                counts.append((lab, float(sum(r.detections for r in rs))))
            best, best_score = min(counts, key=lambda ls: ls[1])
        folds.append(
            Fold(
                held_out=held,
                chosen=chosen,
                train_scores=tuple(train_scores),
                train_threshold=thresholds[chosen],
                held_out_own=own,
                held_out_at_train=at_train,
                held_out_detections=sum(r.detections for r in results),
                best_held_out=best,
                best_held_out_score=best_score,
            )
        )
    corpus = tuple((lab, score_corpus(candidates[lab], STANDARD).normalized) for lab in labels)
    per_cat = tuple((lab, tuple((c, held_value(lab, c)) for c in cats)) for lab in labels)
    choice = {f.held_out: f.chosen for f in folds}
    combined = [candidates[choice[category_of(n)]][i] for i, n in enumerate(names)]
    loco_corpus = score_corpus(combined, STANDARD).normalized
    return LocoResult(tuple(labels), tuple(cats), tuple(folds), corpus, per_cat, loco_corpus)


# ----------------------------------------------------------------------------------------------
# candidates


def parse_value(text: str, current: object) -> Value:
    """Parse ``text`` as the type of the value it replaces (bool, int, float or str)."""
    if isinstance(current, bool):
        low = text.strip().lower()
        if low not in {"true", "false", "1", "0"}:
            raise ValueError(f"{text!r} is not a boolean")
        return low in {"true", "1"}
    if isinstance(current, int):
        return int(text)
    if isinstance(current, float):
        return float(text)
    if isinstance(current, str):
        return text
    raise ValueError(f"cannot sweep a value of type {type(current).__name__}")


def parse_param(option: str, base: OnlineParams) -> tuple[str, list[Value]]:
    """``NAME=v1,v2``: NAME is an ``OnlineParams`` field or a dotted ``module.CONSTANT``."""
    name, eq, values = option.partition("=")
    name = name.strip()
    if not eq or not values.strip():
        raise ValueError(f"--param {option!r}: expected NAME=v1,v2,...")
    fields = {f.name for f in dataclasses.fields(OnlineParams)}
    if "." in name:
        module, attr = resolve_constant(name)
        current: object = getattr(module, attr)
    elif name in fields:
        current = getattr(base, name)
    else:
        raise ValueError(
            f"--param {name}: not an OnlineParams field ({', '.join(sorted(fields))}) "
            "nor a dotted module constant such as stream_app.core.online.FLAT_WEIGHT"
        )
    return name, [parse_value(v, current) for v in values.split(",") if v.strip()]


def candidate_specs(options: Sequence[str], base: OnlineParams) -> list[DetectorSpec]:
    """Every combination of the ``--param`` options, as kilowatch detector specs."""
    parsed = [parse_param(o, base) for o in options]
    if not parsed:
        raise ValueError("give at least one --param NAME=v1,v2,...")
    specs = []
    for combo in itertools.product(*(vals for _, vals in parsed)):
        fields: dict[str, Value] = {}
        patches: list[tuple[str, Value]] = []
        tags = []
        for (name, _), value in zip(parsed, combo, strict=True):
            tags.append(f"{name.rsplit('.', 1)[-1]}={value}")
            if "." in name:
                patches.append((name, value))
            else:
                fields[name] = value
        params = dataclasses.replace(base, **fields)  # type: ignore[arg-type]
        specs.append(DetectorSpec("kilowatch", params, tuple(patches), ", ".join(tags)))
    return specs


@dataclass(frozen=True)
class LocoRun:
    result: LocoResult
    specs: tuple[DetectorSpec, ...]
    detect_wall: float  # seconds spent detecting (all candidates, cached ones excluded)
    score_wall: float
    errors: tuple[tuple[str, str, str], ...]  # (candidate, file, error)
    identical: bool  # every candidate produced the same scores on every file (the knob did nothing)
    warnings: tuple[str, ...]


def run_loco(
    specs: Sequence[DetectorSpec], corpus: NabCorpus, jobs: int = MAX_JOBS, cache: RunCache | None = None
) -> LocoRun:
    cache = cache if cache is not None else RunCache()
    warnings = []
    for dotted in sorted({k for s in specs for k, _ in s.patches}):
        copies = copies_of(dotted)
        if copies:
            warnings.append(
                f"{dotted} is patched by rebinding the module attribute; these equal names elsewhere "
                f"are not changed: {', '.join(copies)}"
            )
    t0 = time.perf_counter()
    runs = run_detectors(specs, corpus, jobs, cache)
    t1 = time.perf_counter()
    candidates = {s.label: [corpus.scored(r.key, "standard", r.scores) for r in runs[s]] for s in specs}
    if len(candidates) != len(specs):
        raise ValueError("candidate labels are not unique")
    result = loco_select(candidates)
    t2 = time.perf_counter()
    errors = tuple((s.label, r.key, r.error) for s in specs for r in runs[s] if r.error is not None)
    first = runs[specs[0]]
    identical = len(specs) > 1 and all(
        all((a.scores == b.scores).all() for a, b in zip(first, runs[s], strict=True)) for s in specs[1:]
    )
    return LocoRun(result, tuple(specs), t1 - t0, t2 - t1, errors, identical, tuple(warnings))


def format_loco(run: LocoRun) -> str:
    r = run.result
    lines = [
        f"LOCO over {len(r.candidates)} candidate(s), {len(r.categories)} categories "
        f"(detect {run.detect_wall:.1f} s, scoring {run.score_wall:.1f} s)",
        "",
        "held out            chosen (on the other categories)        train  held-out own / at train thr      "
        "   oracle on held-out",
    ]
    for f in r.folds:
        train = dict(f.train_scores)[f.chosen]
        if f.held_out_own is None:
            held = f"n/a / {f.held_out_detections} detections (no windows)"
            oracle = f"{f.best_held_out} ({f.best_held_out_score:.0f} detections)"
        else:
            held = f"{f.held_out_own:6.2f} / {_num(f.held_out_at_train)}"
            oracle = f"{f.best_held_out} ({_num(f.best_held_out_score)})"
        lines.append(f"{f.held_out:<20}{f.chosen:<40}{train:6.2f}  {held:<36}{oracle}")
    lines += ["", "candidate".ljust(40) + "corpus  " + "  ".join(c[:14].rjust(14) for c in r.categories)]
    per = dict(r.per_category)
    for lab, score in r.corpus:
        cells = "  ".join(_num(v).rjust(14) for _, v in per[lab])
        lines.append(f"{lab:<40}{score:6.2f}  {cells}")
    lines.append("")
    lines.append(
        f"LOCO corpus score (each category at the choice made without it): {r.loco_corpus:.2f}; "
        f"folds {'agree' if r.agreed else 'disagree'}"
    )
    if run.identical:
        lines.append("WARNING: every candidate produced identical scores: the swept knob had no effect")
    lines += [f"WARNING: {w}" for w in run.warnings]
    lines += [f"ERROR {c} {k}: {e} (scored as no detections)" for c, k, e in run.errors]
    return "\n".join(lines)


def _num(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.2f}"


def add_loco_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=v1,v2",
        help="candidate values: an OnlineParams field (threshold=0.99,0.996) or a module constant "
        "(stream_app.core.online.FLAT_WEIGHT=0.25,1; rebound with setattr during the run); repeat for a grid",
    )
    p.add_argument("--jobs", type=int, default=MAX_JOBS, help=f"detection processes (at most {MAX_JOBS})")


def main(argv: list[str] | None = None) -> int:
    from stream_app.settings import Settings

    parser = argparse.ArgumentParser(prog="python -m stream_app.evaluation.loco", description=__doc__)
    parser.add_argument("--data", type=Path, default=NAB_DIR)
    parser.add_argument("--labels", type=Path, default=DEV_LABELS)
    add_loco_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    base = Settings().detector.params()
    try:
        specs = candidate_specs(args.param, base)
    except ValueError as exc:
        parser.error(str(exc))
    corpus = load_corpus(args.data, args.labels)
    run = run_loco(specs, corpus, args.jobs)
    print(format_loco(run))
    return 1 if run.errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
