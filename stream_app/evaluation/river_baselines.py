"""river detectors as comparison baselines for the NAB harness (river 0.26; the ``ml`` extra).

Each baseline is causal and progressive -- for every reading: score it with what was learned from the
readings before it, then learn it -- and returns one anomaly score per row for NAB's threshold sweep
(scores only need to be comparable across files; NAB picks one threshold for the corpus):

* ``river-hst``: ``preprocessing.MinMaxScaler`` (running min / max) into
  ``anomaly.HalfSpaceTrees(n_trees=10, height=8, window_size=250, seed=42)`` on the value; score in
  [0, 1] (0 until the first window of 250 readings is complete).
* ``river-gaussian``: ``anomaly.GaussianScorer(window_size=1000, grace_period=100)``: ``2 |CDF(y) - 0.5|``
  of a Gaussian fitted to the last 1,000 values (a windowed Gaussian, like NAB's own baseline).
* ``river-sad``: ``anomaly.StandardAbsoluteDeviation`` (running mean and variance of all values):
  ``|y - mean| / std``, unbounded; 0 for the first 100 readings.
* ``river-adwin``: ``drift.ADWIN(delta=0.002)`` on the min-max scaled value; a detected change in the
  mean scores 1, everything else 0 (a change-point detector turned into an anomaly detector).
* ``river-pagehinkley``: ``drift.PageHinkley(threshold=50, delta=0.005, mode="both")`` on the value
  standardised with the running mean and standard deviation before it (PageHinkley's threshold is in
  the input's units, so a raw meter in kW and one in W would otherwise get different detectors);
  a detection scores 1.

river has no notion of timestamps or seasons here: these are value-only detectors, as the published
NAB baselines (windowed Gaussian) are.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from schemas.errors import KilowatchError
from stream_app.core.extras import missing_extra

Baseline = Callable[[np.ndarray], np.ndarray]


class BaselineUnavailable(KilowatchError):
    """The river baselines need the 'eval' extra."""


def _require_river() -> None:
    msg = missing_extra("river")
    if msg is not None:
        raise BaselineUnavailable(msg)


def _hst(values: np.ndarray) -> np.ndarray:
    from river import anomaly, compose, preprocessing

    model = compose.Pipeline(
        preprocessing.MinMaxScaler(),
        anomaly.HalfSpaceTrees(n_trees=10, height=8, window_size=250, seed=42),
    )
    out = np.zeros(len(values))
    for i, v in enumerate(values.tolist()):
        x = {"value": v}
        out[i] = model.score_one(x)
        model.learn_one(x)
    return out


def _gaussian(values: np.ndarray) -> np.ndarray:
    from river import anomaly

    model = anomaly.GaussianScorer(window_size=1000, grace_period=100)
    out = np.zeros(len(values))
    for i, v in enumerate(values.tolist()):
        out[i] = model.score_one(None, v)
        model.learn_one(None, v)
    return out


def _sad(values: np.ndarray) -> np.ndarray:
    from river import anomaly

    model = anomaly.StandardAbsoluteDeviation()
    out = np.zeros(len(values))
    for i, v in enumerate(values.tolist()):
        if i >= 100:
            out[i] = model.score_one(None, v)
        model.learn_one(None, v)
    return out


def _adwin(values: np.ndarray) -> np.ndarray:
    from river import drift, preprocessing

    scaler = preprocessing.MinMaxScaler()
    det = drift.ADWIN(delta=0.002)
    out = np.zeros(len(values))
    for i, v in enumerate(values.tolist()):
        x = {"value": v}
        scaler.learn_one(x)
        det.update(scaler.transform_one(x)["value"])
        out[i] = 1.0 if det.drift_detected else 0.0
    return out


def _page_hinkley(values: np.ndarray) -> np.ndarray:
    from river import drift, stats

    var = stats.Var()
    det = drift.PageHinkley(threshold=50.0, delta=0.005, mode="both")
    out = np.zeros(len(values))
    for i, v in enumerate(values.tolist()):
        sd = var.get() ** 0.5 if var.n > 1 else 0.0
        z = (v - var.mean.get()) / sd if sd > 0 else 0.0
        var.update(v)
        det.update(z)
        out[i] = 1.0 if det.drift_detected else 0.0
    return out


BASELINES: dict[str, Baseline] = {
    "river-hst": _hst,
    "river-gaussian": _gaussian,
    "river-sad": _sad,
    "river-adwin": _adwin,
    "river-pagehinkley": _page_hinkley,
}


def run_baseline(
    name: str, epoch: Sequence[float] | np.ndarray, values: Sequence[float] | np.ndarray
) -> np.ndarray:
    """Scores of baseline ``name`` over a series in file order (timestamps are not used)."""
    try:
        fn = BASELINES[name]
    except KeyError:
        raise ValueError(f"unknown detector {name!r}; river baselines: {', '.join(BASELINES)}") from None
    _require_river()
    return fn(np.asarray(values, dtype=float))


def preload() -> None:
    """Import the river modules the baselines use (so forked workers inherit them)."""
    _require_river()
    from river import anomaly, compose, drift, preprocessing, stats  # noqa: F401


def river_version() -> str:
    import river

    return str(river.__version__)
