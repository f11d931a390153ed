"""The plot functions: data in, a valid PNG of the documented size out, flagged readings drawn by type."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from stream_app import plots
from trainers.backtest_plot import stitched

T0 = 1_700_000_000.0


def _png_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as img:
        img.verify()  # a complete, uncorrupted PNG
    with Image.open(path) as img:
        assert img.format == "PNG"
        return img.size


def _detection(n: int = 60) -> plots.DetectionPlot:
    epoch = T0 + 3600.0 * np.arange(n)
    values = np.sin(np.arange(n) / 4.0) * 10 + 50
    kinds: list[str | None] = [None] * n
    kinds[20], kinds[40], kinds[41] = "spike", "dip", "dip"
    expected = values.copy()
    expected[0] = np.nan  # warm-up rows have no expectation yet
    return plots.DetectionPlot(epoch, values, expected, values - 3, values + 3, kinds)


def test_detection_plot_is_a_png_of_the_documented_size(tmp_path: Path) -> None:
    out = tmp_path / "d" / "detect.png"
    plots.plot_detection(out, _detection(), "tiny.csv", "kWh")
    assert _png_size(out) == (int(plots.WIDE[0] * plots.DPI), int(plots.WIDE[1] * plots.DPI))


def test_flagged_readings_are_drawn_once_per_type_with_their_counts(tmp_path: Path) -> None:
    fig = plots.plot_detection(tmp_path / "d.png", _detection(), "tiny.csv")
    ax = fig.axes[0]
    marks = {
        c.get_gid(): len(c.get_offsets())
        for c in ax.collections
        if (c.get_gid() or "").startswith("anomaly:")
    }
    assert marks == {"anomaly:spike": 1, "anomaly:dip": 2}
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "spike (1)" in labels and "dip (2)" in labels and "expected band" in labels
    assert ax.get_ylabel() == "value" and ax.get_xlabel() == "time (UTC)"
    assert "3 flagged" in ax.get_title()


def test_types_have_distinct_colours_and_markers() -> None:
    styles = list(plots.KIND_STYLE.values())
    assert len({c for c, _ in styles}) == len(styles) and len({m for _, m in styles}) == len(styles)


def test_backtest_plot_png(tmp_path: Path) -> None:
    n = 48
    t = T0 + 3600.0 * np.arange(n)
    v = np.cos(np.arange(n) / 3.0)
    data = plots.BacktestPlot(t[:24], v[:24], t[24:], v[24:], v[24:] + 0.1, v[24:] - 0.5, v[24:] + 0.5)
    fig = plots.plot_backtest(tmp_path / "b.png", data, "tiny", "MW")
    assert _png_size(tmp_path / "b.png") == (1200, 480)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels[:4] == ["history (train/validation)", "forecast band", "actual (test)", "forecast"]


def test_bars_and_timelines_png(tmp_path: Path) -> None:
    plots.plot_bars(
        tmp_path / "bars.png",
        ["a", "b", "c"],
        {"det": [1.0, None, -0.5]},
        "t",
        "score",
        groups=["x", "x", "y"],
        notes=["1/1", "n/a", "0/2"],
    )
    plots.plot_bars(tmp_path / "grouped.png", ["a", "b"], {"d1": [1.0, 2.0], "d2": [None, 3.0]}, "t", "s")
    n = 100
    panel = plots.TimelinePanel(
        "f.csv", T0 + 300.0 * np.arange(n), np.arange(n, dtype=float), [(40, 50)], np.array([45, 80]), 15
    )
    fig = plots.plot_timelines(tmp_path / "tl.png", [panel, panel], "timelines")
    for name in ("bars.png", "grouped.png", "tl.png"):
        assert _png_size(tmp_path / name)[0] > 0
    assert len(fig.axes) == 2


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 5), min_size=1, max_size=60), st.integers(1, 12))
def test_stitched_origins_never_overlap_and_cover_greedily(gaps: list[int], horizon: int) -> None:
    rows = np.cumsum(np.array(gaps) + 1)
    keep = stitched(rows, horizon)
    kept = rows[keep]
    assert keep[0] == 0
    assert all(b - a >= horizon for a, b in itertools.pairwise(kept))
    # no origin was skipped that could have started after the previous kept forecast ended
    for pos, row in enumerate(rows):
        if pos not in keep:
            assert any(k <= row < k + horizon for k in kept)
