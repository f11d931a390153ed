"""The plot flags of the CLI write their PNGs; detect's chunked scoring equals the offline detector's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from stream_app import cli
from stream_app.evaluation.harness import NAB_DIR
from stream_app.evaluation.offline import detect_file
from stream_app.settings import Settings

NAB_FILE = "realKnownCause/ec2_request_latency_system_failure.csv"


def _series_csv(path: Path, n: int = 900, spike_at: int = 700) -> Path:
    t = np.datetime64("2024-01-01T00:00") + np.arange(n) * np.timedelta64(1, "h")
    v = 10 + 3 * np.sin(np.arange(n) * 2 * np.pi / 24) + np.random.default_rng(0).normal(0, 0.2, n)
    v[spike_at % n] += 25
    path.write_text("timestamp,value\n" + "".join(f"{a},{b:.4f}\n" for a, b in zip(t, v, strict=True)))
    return path


def _is_png(path: Path) -> tuple[int, int]:
    with Image.open(path) as img:
        assert img.format == "PNG"
        return img.size


def test_detect_plot_writes_the_png_and_the_same_results_as_offline_detection(tmp_path: Path) -> None:
    src = _series_csv(tmp_path / "s.csv", n=5000)  # more than one scoring chunk
    code = cli.main(
        [
            "-q",
            "detect",
            "--csv",
            str(src),
            "--out",
            str(tmp_path / "cli.csv"),
            "--plot",
            str(tmp_path / "d.png"),
        ]
    )
    assert code == 0
    assert _is_png(tmp_path / "d.png") == (1200, 480)
    detect_file(src, tmp_path / "ref.csv", Settings().detector.params())
    assert (tmp_path / "cli.csv").read_bytes() == (tmp_path / "ref.csv").read_bytes()


def test_detect_plot_window(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _series_csv(tmp_path / "s.csv")
    args = [
        "-q",
        "detect",
        "--csv",
        str(src),
        "--out",
        str(tmp_path / "o.csv"),
        "--plot",
        str(tmp_path / "w.png"),
    ]
    assert cli.main([*args, "--plot-from", "2024-01-20", "--plot-to", "2024-01-25T12:00"]) == 0
    assert _is_png(tmp_path / "w.png")
    assert cli.main([*args, "--plot-from", "2030-01-01"]) == 3
    assert "no readings between --plot-from and --plot-to" in capsys.readouterr().err


def test_backtest_plot_writes_the_png(tmp_path: Path) -> None:
    src = _series_csv(tmp_path / "s.csv", n=600)
    png = tmp_path / "bt" / "b.png"
    code = cli.main(
        [
            "-q",
            "backtest",
            "--csv",
            str(src),
            "--target",
            "value",
            "--horizon",
            "6",
            "--model",
            "lightgbm",
            "--param",
            "n_estimators=20",
            "--plot",
            str(png),
        ]
    )
    assert code == 0
    assert _is_png(png) == (1200, 480)


@pytest.mark.skipif(not (NAB_DIR / NAB_FILE).exists(), reason="shared NAB data not present")
def test_evaluate_report_links_its_figures(tmp_path: Path) -> None:
    report = tmp_path / "r" / "results.md"
    code = cli.main(["-q", "evaluate", "--only", NAB_FILE, "--profile", "standard", "--report", str(report)])
    assert code == 0
    text = report.read_text()
    for name in ("nab_per_file", "nab_per_category", "nab_timelines"):
        png = report.parent / "results_img" / f"{name}.png"
        assert _is_png(png)[0] > 0
        assert f"(results_img/{name}.png)" in text
