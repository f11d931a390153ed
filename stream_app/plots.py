"""Figures for the command line (detect, backtest, evaluate): data in, PNG file out.

Pure: arrays and labels in, one PNG written, the ``Figure`` returned (tests inspect its artists).
matplotlib is imported lazily, here only, and draws with the Agg canvas (no display, no pyplot
global state), so a command that does not plot never loads it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

DPI = 100
WIDE = (12.0, 4.8)  # inches: 1200 x 480 px at DPI

# One colour and marker per anomaly type, distinguishable in grey print too (marker shapes differ).
KIND_STYLE: dict[str, tuple[str, str]] = {
    "spike": ("#d62728", "^"),
    "dip": ("#1f77b4", "v"),
    "sustained_high": ("#ff7f0e", "s"),
    "sustained_low": ("#17becf", "D"),
    "pattern_shift": ("#9467bd", "P"),
    "flatline": ("#8c564b", "X"),
}
OTHER_KIND = ("#e377c2", "o")
CATEGORY_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#7f7f7f")


def _figure(size: tuple[float, float] = WIDE, rows: int = 1) -> tuple[Figure, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, 1, squeeze=True)
    return fig, axes


def _save(fig: Figure, path: Path) -> Figure:
    """Write a 256-colour PNG (a third of the bytes of RGBA; the octree keeps rare marker colours)."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    buf.seek(0)
    with Image.open(buf) as img:
        small = img.convert("RGB").quantize(256, method=Image.Quantize.FASTOCTREE)
    path.parent.mkdir(parents=True, exist_ok=True)
    small.save(path, format="png", optimize=True)
    return fig


def _times(epoch_s: Sequence[float] | np.ndarray) -> np.ndarray:
    """Epoch seconds as numpy datetimes (matplotlib puts dates on the axis)."""
    return (np.asarray(epoch_s, dtype=float) * 1000).astype("int64").astype("datetime64[ms]")


def _date_axis(ax: Axes) -> None:
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator(minticks=4, maxticks=10)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set_xlabel("time (UTC)")


def _finite(a: Sequence[float] | np.ndarray) -> np.ndarray:
    out = np.asarray(a, dtype=float).copy()
    out[~np.isfinite(out)] = np.nan
    return out


@dataclass(frozen=True)
class DetectionPlot:
    """One series scored by the detector (file order; sorted by time when drawn)."""

    epoch: np.ndarray  # seconds
    values: np.ndarray
    expected: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    kinds: Sequence[str | None]  # anomaly type of a flagged reading, None otherwise


def plot_detection(path: Path, data: DetectionPlot, title: str, unit: str = "value") -> Figure:
    """Series, the detector's expected value and band, and flagged readings marked by anomaly type."""
    order = np.argsort(np.asarray(data.epoch, dtype=float), kind="stable")
    t = _times(np.asarray(data.epoch)[order])
    values = np.asarray(data.values, dtype=float)[order]
    lower, upper = _finite(data.lower)[order], _finite(data.upper)[order]
    expected = _finite(data.expected)[order]
    kinds = [data.kinds[i] for i in order]
    fig, ax = _figure()
    ax.fill_between(t, lower, upper, color="#9ecae1", alpha=0.55, linewidth=0, label="expected band")
    ax.plot(t, values, color="#222222", linewidth=0.7, label="reading")
    ax.plot(t, expected, color="#3182bd", linewidth=0.8, linestyle="--", label="expected")
    flagged = 0
    for kind in sorted({k for k in kinds if k is not None}):
        rows = np.array([k == kind for k in kinds])
        color, marker = KIND_STYLE.get(kind, OTHER_KIND)
        ax.scatter(
            t[rows],
            values[rows],
            s=36,
            marker=marker,
            color=color,
            edgecolors="black",
            linewidths=0.4,
            zorder=5,
            label=f"{kind.replace('_', ' ')} ({int(rows.sum())})",
            gid=f"anomaly:{kind}",
        )
        flagged += int(rows.sum())
    ax.set_title(f"{title}: {len(values):,} readings, {flagged:,} flagged")
    ax.set_ylabel(unit)
    _date_axis(ax)
    _clip_to_readings(ax, values)
    ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8, framealpha=0.9)
    ax.grid(True, alpha=0.3)
    return _save(fig, path)


def _clip_to_readings(ax: Axes, values: np.ndarray) -> None:
    """Keep the y range on the readings: a wide band while the detector warms up must not flatten them."""
    finite = values[np.isfinite(values)]
    if finite.size:
        lo, hi = float(finite.min()), float(finite.max())
        pad = 0.08 * (hi - lo) if hi > lo else max(abs(hi) * 0.1, 1.0)
        ax.set_ylim(lo - pad, hi + pad)


@dataclass(frozen=True)
class BacktestPlot:
    """Actuals around the test span and a forecast issued every ``horizon`` steps over it."""

    history_epoch: np.ndarray  # context before the test span
    history: np.ndarray
    test_epoch: np.ndarray
    actual: np.ndarray
    forecast: np.ndarray  # same length as test_epoch (NaN where no forecast covers a row)
    lower: np.ndarray
    upper: np.ndarray
    band_label: str = "forecast band"


def plot_backtest(path: Path, data: BacktestPlot, title: str, unit: str = "value") -> Figure:
    """Forecast with its band against the actuals over the test span, after some history."""
    fig, ax = _figure()
    th, tt = _times(data.history_epoch), _times(data.test_epoch)
    ax.plot(th, data.history, color="#999999", linewidth=0.7, label="history (train/validation)")
    ax.fill_between(
        tt,
        _finite(data.lower),
        _finite(data.upper),
        color="#fdd0a2",
        alpha=0.7,
        linewidth=0,
        label=data.band_label,
    )
    ax.plot(tt, data.actual, color="#222222", linewidth=0.8, label="actual (test)")
    ax.plot(tt, _finite(data.forecast), color="#e6550d", linewidth=1.0, label="forecast")
    if len(tt):
        ax.axvline(tt[0], color="#555555", linestyle=":", linewidth=1)
    ax.set_title(title)
    ax.set_ylabel(unit)
    _date_axis(ax)
    both = np.concatenate([np.asarray(data.history, float), np.asarray(data.actual, float)])
    _clip_to_readings(ax, both)
    ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8, framealpha=0.9)
    ax.grid(True, alpha=0.3)
    return _save(fig, path)


def plot_bars(
    path: Path,
    labels: Sequence[str],
    values: Mapping[str, Sequence[float | None]],
    title: str,
    xlabel: str,
    groups: Sequence[str] | None = None,
    notes: Sequence[str] | None = None,
) -> Figure:
    """Horizontal bars, one row per label and one bar per series in ``values`` (e.g. per detector).

    ``groups`` colours rows by group (e.g. NAB category) when there is one series; ``notes`` are
    printed at the end of each row's bar. None is drawn as "n/a"."""
    n, series = len(labels), list(values)
    height = max(2.5, 0.28 * n * max(1, len(series) * 0.6) + 1.2)
    fig, ax = _figure((10.0, min(height, 16.0)))
    y = np.arange(n)
    width = 0.8 / max(1, len(series))
    group_names = list(dict.fromkeys(groups)) if groups is not None else []
    for j, name in enumerate(series):
        vals = np.array([np.nan if v is None else float(v) for v in values[name]])
        offs = y + (j - (len(series) - 1) / 2) * width
        if len(series) == 1 and groups is not None:
            colors = [CATEGORY_COLORS[group_names.index(g) % len(CATEGORY_COLORS)] for g in groups]
            ax.barh(offs, np.nan_to_num(vals), height=width, color=colors)
        else:
            ax.barh(offs, np.nan_to_num(vals), height=width, label=name, color=CATEGORY_COLORS[j % 7])
        for yy, v in zip(offs, vals, strict=True):
            if np.isnan(v) and notes is None:
                ax.text(0, yy, " n/a", va="center", fontsize=7, color="#555555")
    if notes is not None and len(series) == 1:
        only = values[series[0]]
        for yy, v, note in zip(y, only, notes, strict=True):
            end = 0.0 if v is None or not np.isfinite(v) else max(0.0, float(v))
            ax.text(end, yy, f"  {note}", va="center", fontsize=7)
    ax.set_yticks(y, labels, fontsize=8)
    ax.invert_yaxis()
    ax.axvline(0, color="black", linewidth=0.6)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.grid(True, axis="x", alpha=0.3)
    if len(series) > 1:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.005, 1.0))
    elif groups is not None:
        from matplotlib.patches import Patch

        handles = [Patch(color=CATEGORY_COLORS[i % 7], label=g) for i, g in enumerate(group_names)]
        ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.005, 1.0))
    return _save(fig, path)


@dataclass(frozen=True)
class TimelinePanel:
    """One labelled file: values, its anomaly windows (row ranges) and the rows detected."""

    name: str
    epoch: np.ndarray
    values: np.ndarray
    windows: Sequence[tuple[int, int]]
    detected: np.ndarray  # row indices
    probation_end: int


def plot_timelines(path: Path, panels: Sequence[TimelinePanel], title: str) -> Figure:
    """One panel per file: the series, labelled windows shaded, detections marked."""
    fig, axes = _figure((12.0, 2.6 * len(panels) + 0.6), rows=len(panels))
    axes = np.atleast_1d(axes)
    for ax, p in zip(axes, panels, strict=True):
        t = _times(p.epoch)
        ax.plot(t, p.values, color="#222222", linewidth=0.6, label="value")
        for k, (lo, hi) in enumerate(p.windows):
            ax.axvspan(t[lo], t[hi], color="#a1d99b", alpha=0.5, label="anomaly window" if k == 0 else None)
        if 0 < p.probation_end < len(t):
            ax.axvspan(t[0], t[p.probation_end], color="#dddddd", alpha=0.5, label="probation")
        d = np.asarray(p.detected, dtype=int)
        ax.scatter(
            t[d], p.values[d], s=40, marker="v", color="#d62728", zorder=5, label=f"detection ({len(d)})"
        )
        ax.set_title(p.name, fontsize=9)
        _date_axis(ax)
        ax.legend(loc="upper left", fontsize=7, ncol=4, framealpha=0.9)
        ax.grid(True, alpha=0.3)
    fig.suptitle(title)
    return _save(fig, path)
