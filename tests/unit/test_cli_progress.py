"""Progress bars go to stderr, only on a terminal and not with --quiet; stdout keeps the result alone."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from stream_app import cli, progress
from stream_app.devtools.replay import counted


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _parse(argv: list[str]) -> object:
    return cli.build_parser().parse_args(argv)


@pytest.mark.parametrize(
    ("argv", "tty", "shown"),
    [
        (["detect", "--csv", "a", "--out", "b"], True, True),
        (["detect", "--csv", "a", "--out", "b"], False, False),
        (["-q", "detect", "--csv", "a", "--out", "b"], True, False),
        (["detect", "--csv", "a", "--out", "b", "--quiet"], True, False),
        (["evaluate", "-q"], True, False),
        (
            ["backtest", "--csv", "a", "--target", "v", "--horizon", "1", "--model", "lightgbm", "-q"],
            True,
            False,
        ),
        (["replay", "--csv", "a", "--asset", "x", "-q"], True, False),
        (["replay", "--csv", "a", "--asset", "x"], True, True),
    ],
)
def test_bar_only_on_a_terminal_and_not_quiet(argv: list[str], tty: bool, shown: bool) -> None:
    stream = Tty() if tty else io.StringIO()
    assert progress.enabled(_parse(argv), stream) is shown  # type: ignore[arg-type]


def test_a_shown_bar_writes_to_its_stream_only(capsys: pytest.CaptureFixture[str]) -> None:
    stream = Tty()
    with progress.task("scoring", 10, True, stream) as bar:
        assert bar.shown
        bar.advance(10)
    assert "scoring" in stream.getvalue()
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


def test_a_hidden_bar_is_a_no_op() -> None:
    with progress.task("x", 3, False) as bar:
        bar.advance(3)
        bar.stage("y")
        assert not bar.shown


def test_detect_on_a_terminal_draws_on_stderr_not_stdout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "s.csv"
    src.write_text("timestamp,value\n" + "".join(f"2024-01-01T{h:02d}:00:00,{h}\n" for h in range(24)))
    err = Tty()
    monkeypatch.setattr(sys, "stderr", err)
    assert cli.main(["detect", "--csv", str(src), "--out", str(tmp_path / "o.csv")]) == 0
    assert "detect s.csv" in err.getvalue()
    assert capsys.readouterr().out.strip() == f"{tmp_path / 'o.csv'}: 0 flagged"


def test_replay_counts_every_message_once() -> None:
    class Bar(progress.Task):
        def __init__(self) -> None:
            super().__init__()
            self.done = 0.0

        def advance(self, n: float = 1) -> None:
            self.done += n

    bar = Bar()
    msgs = [str(i).encode() for i in range(1234)]
    assert list(counted(iter(msgs), bar, every=100)) == msgs
    assert bar.done == 1234


def test_evaluate_in_batches_for_the_bar_scores_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    from stream_app.evaluation.cli import run_with_progress
    from stream_app.evaluation.harness import NAB_DIR, DetectorSpec, load_corpus
    from stream_app.settings import Settings

    if not NAB_DIR.exists():
        pytest.skip("shared NAB data not present")
    corpus = load_corpus(NAB_DIR, only=["realKnownCause"], max_rows=1500)
    specs = [DetectorSpec("kilowatch", Settings().detector.params())]
    monkeypatch.setattr(sys, "stderr", Tty())
    shown = run_with_progress(specs, corpus, 2, ["standard"], True)
    plain = run_with_progress(specs, corpus, 2, ["standard"], False)
    a, b = shown[0].profile("standard").corpus, plain[0].profile("standard").corpus
    assert (a.threshold, a.raw, a.files) == (b.threshold, b.raw, b.files)
    assert shown[0].wall_seconds > 0
