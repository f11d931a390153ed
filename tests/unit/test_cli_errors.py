"""`kilowatch` exits with a documented code and, for every expected failure, one stderr line.

Bad input files end as ``kilowatch: error: <file>: <what> (<hint>)`` and exit 3, never a traceback;
an unreachable service exits 4, invalid settings 5, usage errors 2."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.errors import ConfigError, DataError, InfraError, KilowatchError
from stream_app import cli
from stream_app.exit_codes import EPILOG, ExitCode, classify, error_line
from trainers.backtest import read_input
from trainers.errors import TrainingError

GOOD = "timestamp,value\n" + "".join(f"2024-01-01 {h:02d}:00:00,{h * 1.5}\n" for h in range(24))


def _detect(tmp_path: Path, csv: Path, *extra: str) -> int:
    return cli.main(["-q", "detect", "--csv", str(csv), "--out", str(tmp_path / "out.csv"), *extra])


def _one_error_line(err: str, *needles: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("kilowatch: error: "), lines[0]
    assert "Traceback" not in err
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.startswith("kilowatch 0.")


def test_help_documents_every_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert "exit codes:" in out
    for code in ExitCode:
        assert f"\n  {code.value}  " in EPILOG and f"  {code.value}  " in out


def test_usage_error_is_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["detect"])  # --csv and --out missing
    assert exc.value.code == ExitCode.USAGE


def test_good_file_is_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "ok.csv"
    src.write_text(GOOD)
    assert _detect(tmp_path, src) == ExitCode.OK
    assert capsys.readouterr().err == ""


BAD_FILES = {
    "empty": (b"", "empty file"),
    "header only": (b"timestamp,value\n", "no data rows"),
    "blank lines": (b"\n\n\n", "no data rows"),
    "missing column": (b"time,reading\n2024-01-01,1\n", "missing column(s)"),
    "non-numeric": (b"timestamp,value\n2024-01-01,abc\n", "non-numeric"),
    "bad dates": (b"timestamp,value\nnot a date,1\n", "unparseable timestamps"),
    "ragged CSV": (b'timestamp,value\n"2024-01-01,1\n2024-01-02,2,3,4\n', "cannot read"),
    "binary": (bytes(range(256)) * 4, "cannot read"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_input_file_is_one_line_and_exit_3(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    content, what = BAD_FILES[case]
    src = tmp_path / "in.csv"
    src.write_bytes(content)
    assert _detect(tmp_path, src) == ExitCode.BAD_INPUT
    line = _one_error_line(capsys.readouterr().err, str(src), "(")
    assert what in line, line
    assert line.endswith(")")  # the hint


def test_unreadable_paths_are_exit_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _detect(tmp_path, tmp_path / "nope.csv") == ExitCode.BAD_INPUT
    _one_error_line(capsys.readouterr().err, "nope.csv: no such file (check the path)")
    assert _detect(tmp_path, tmp_path) == ExitCode.BAD_INPUT
    _one_error_line(capsys.readouterr().err, ": not a file")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    content=st.one_of(
        st.binary(max_size=400),
        # CSV-shaped noise: separators, quotes, blank lines, numbers and date fragments
        st.text(alphabet=st.sampled_from(list(' \n\r\t,;"0123456789.-:+eETZnaif\x00é')), max_size=200).map(
            lambda t: ("timestamp,value\n" + t if t[:1] == "2" else t).encode()
        ),
        st.lists(
            st.tuples(st.text(max_size=25), st.one_of(st.floats(), st.text(max_size=10))), max_size=15
        ).map(lambda rows: ("timestamp,value\n" + "".join(f"{t},{v}\n" for t, v in rows)).encode()),
    )
)
def test_any_csv_bytes_end_in_a_known_code_and_never_a_traceback(
    content: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "any.csv"
    src.write_bytes(content)
    code = _detect(tmp_path, src)
    err = capsys.readouterr().err
    assert code in (ExitCode.OK, ExitCode.BAD_INPUT)
    if code == ExitCode.BAD_INPUT:
        _one_error_line(err, str(src))
    else:
        assert err == ""


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.binary(max_size=400))
def test_backtest_input_is_a_frame_or_a_data_error(content: bytes, tmp_path: Path) -> None:
    src = tmp_path / "any.csv"
    src.write_bytes(content)
    try:
        data, _ = read_input(src, ["value"])
    except DataError as exc:
        assert "\n" not in str(exc) and str(exc).startswith(f"{src}: ")
    else:
        assert len(data) >= 2


def test_backtest_missing_target_is_exit_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "b.csv"
    src.write_text(GOOD)
    code = cli.main(
        ["-q", "backtest", "--csv", str(src), "--target", "load", "--horizon", "2", "--model", "lightgbm"]
    )
    assert code == ExitCode.BAD_INPUT
    _one_error_line(capsys.readouterr().err, f"{src}: no target column(s) ['load']", "(expected a CSV")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_database_is_exit_4(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KILOWATCH_POSTGRES_PORT", str(_closed_port()))
    assert cli.main(["db", "status"]) == ExitCode.UNAVAILABLE
    _one_error_line(capsys.readouterr().err, "PostgreSQL")


def test_invalid_setting_is_exit_5_without_its_value(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KILOWATCH_API_PORT", "s3cr3t-not-a-port")
    assert cli.main(["db", "status"]) == ExitCode.CONFIG
    line = _one_error_line(capsys.readouterr().err, "invalid settings", "port")
    assert "s3cr3t" not in line


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (DataError("x"), ExitCode.BAD_INPUT),
        (ConfigError("x"), ExitCode.CONFIG),
        (InfraError("x"), ExitCode.UNAVAILABLE),
        (ConnectionRefusedError(111, "refused"), ExitCode.UNAVAILABLE),
        (TimeoutError(), ExitCode.UNAVAILABLE),
        (TrainingError("x"), ExitCode.FAILURE),
        (KilowatchError("x"), ExitCode.FAILURE),
        (KeyboardInterrupt(), ExitCode.INTERRUPTED),
        (RuntimeError("bug"), ExitCode.FAILURE),
    ],
)
def test_classify(exc: BaseException, code: ExitCode) -> None:
    assert classify(exc) == code


def test_client_errors_of_loaded_libraries_are_unavailable() -> None:
    import redis.exceptions

    assert classify(redis.exceptions.ConnectionError("down")) == ExitCode.UNAVAILABLE
    line = error_line(redis.exceptions.ConnectionError("Error 111\nconnecting"))
    assert line == (
        "kilowatch: error: service unavailable: Error 111 connecting "
        "(is it running? `kilowatch infra up` starts it)"
    )


def test_a_bug_keeps_its_traceback(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    src = tmp_path / "ok.csv"
    src.write_text(GOOD)

    def boom(*_: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr("stream_app.evaluation.cli.write_results", boom)
    with pytest.raises(RuntimeError, match="a bug"):
        _detect(tmp_path, src)
