"""An uploaded consumption file (CSV or Excel) to a series of kWh per interval (pure: bytes in, frame out).

The format is told by the content, never the name: a ZIP container is an Excel workbook (``.xlsx``),
an OLE container (legacy ``.xls``) or a binary file is refused, anything else must be delimited text.
The timestamp and value columns, the time zone and the unit are detected and each may be overridden.
Every problem is an :class:`IngestError` naming the field to fix (and the line, for a bad row).

Detection rules:
- timestamp column: the override; else the first column whose name reads as time (timestamp, datetime,
  date, time, 时间, 日期) or, failing that, the first non-numeric column, whose first 200 values are at
  least 90 % dates;
- value column: the override; else among the other columns that are at least 90 % numbers, the first
  whose name reads as energy (kwh, energy, consumption, usage, load, power, value, 用电, 电量), else the
  first of them;
- time zone: timestamps with offsets are instants (one offset, or two an hour apart across a clock
  change; more is "mixed time zones", so is a mix of naive and offset timestamps); naive timestamps
  are local times of the ``timezone`` override (default UTC);
- unit: the override; else from the value column's name (MWh, kWh, Wh, kW); else kWh.
"""

from __future__ import annotations

import csv
import io
import re
import warnings
import zipfile
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from schemas.datasets import Detection, EnergyUnit, FileFormat, IngestOptions
from schemas.errors import KilowatchError

MAX_XLSX_UNPACKED = 512 * 1024 * 1024  # a workbook that unpacks to more is refused (zip bomb)
SAMPLE = 200
MIN_SHARE = 0.9
MIN_ROWS = 2
_TIME_NAMES = ("timestamp", "datetime", "date", "time", "时间", "日期")
_ENERGY_NAMES = ("kwh", "energy", "consumption", "usage", "load", "power", "value", "用电", "电量")
_AWARE = re.compile(r"\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:Z|[+-]\d{2}:?\d{2})\s*$", re.IGNORECASE)
_OFFSET = re.compile(r"(Z|[+-]\d{2}:?\d{2})\s*$", re.IGNORECASE)
_TO_KWH = {EnergyUnit.WH: 1e-3, EnergyUnit.KWH: 1.0, EnergyUnit.MWH: 1e3}

Code = Literal["FILE_FORMAT_ERROR", "FILE_TOO_LARGE"]


class IngestError(KilowatchError):
    """The file cannot be used: ``code`` of the API's vocabulary, ``field`` names what to fix."""

    def __init__(
        self, message: str, *, field: str = "file", code: Code = "FILE_FORMAT_ERROR", **details: Any
    ) -> None:
        super().__init__(message)
        self.message, self.field, self.code, self.details = message, field, code, details


@dataclass(frozen=True)
class Ingested:
    frame: pd.DataFrame  # DatetimeIndex "timestamp" (tz-aware, the dataset's zone), float column "value"
    detection: Detection
    file_format: FileFormat


# ---- the container ---------------------------------------------------------------------------------


def sniff(data: bytes) -> FileFormat:
    """The format by content; IngestError for what we cannot read."""
    if not data.strip():
        raise IngestError("the file is empty")
    if data.startswith(b"PK\x03\x04"):
        return FileFormat.XLSX
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise IngestError("legacy .xls workbooks are not supported: save it as .xlsx or CSV")
    head = data[:65536]
    if b"\x00" in head:
        raise IngestError("the file is binary, not CSV text or an Excel workbook")
    control = sum(1 for b in head if b < 9 or 13 < b < 32)
    if control > len(head) // 100:
        raise IngestError("the file is binary, not CSV text or an Excel workbook")
    return FileFormat.CSV


def _text(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def read_csv(data: bytes) -> pd.DataFrame:
    """Every cell as text (or NaN when empty); the delimiter is sniffed among , ; tab |."""
    text = _text(data)
    try:
        sep = csv.Sniffer().sniff(text[:65536], delimiters=",;\t|").delimiter
    except csv.Error:
        sep = ","
    try:
        frame = pd.read_csv(
            io.StringIO(text), sep=sep, dtype=str, on_bad_lines="error", skip_blank_lines=True
        )
    except pd.errors.ParserError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise IngestError(
            "the CSV rows do not have the header's number of columns",
            line=int(m.group(1)) if m else None,
        ) from None
    except (pd.errors.EmptyDataError, ValueError, csv.Error) as exc:
        raise IngestError(f"the CSV cannot be read ({type(exc).__name__})") from None
    if frame.shape[1] < 2:
        raise IngestError("the file needs a timestamp column and a value column (found one column)")
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def read_xlsx(data: bytes, sheet: str | None) -> tuple[pd.DataFrame, str]:
    """The one sheet (or the named one) as a frame with the first non-empty row as header."""
    import openpyxl  # the api extra; imported here so the pure package imports without it
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            unpacked = sum(i.file_size for i in zf.infolist())
    except zipfile.BadZipFile:
        raise IngestError("the file looks like a ZIP container but cannot be opened") from None
    if unpacked > MAX_XLSX_UNPACKED:
        raise IngestError(f"the workbook unpacks to more than {MAX_XLSX_UNPACKED // 2**20} MiB")
    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, TypeError, OSError) as exc:
        raise IngestError(f"not an Excel workbook ({type(exc).__name__})") from None
    try:
        names = list(wb.sheetnames)
        if sheet is None:
            if len(names) != 1:
                raise IngestError(
                    f"the workbook has {len(names)} sheets ({', '.join(names[:10])}): name one in 'sheet'",
                    field="sheet",
                    sheets=names[:50],
                )
            sheet = names[0]
        elif sheet not in names:
            raise IngestError(f"no sheet named {sheet!r} (sheets: {', '.join(names[:10])})", field="sheet")
        rows = iter(wb[sheet].iter_rows(values_only=True))
        header: tuple[Any, ...] | None = None
        for row in rows:
            if any(c is not None and str(c).strip() for c in row):
                header = row
                break
        if header is None:
            raise IngestError(f"sheet {sheet!r} is empty", field="sheet")
        body = [r for r in rows if any(c is not None for c in r)]
    finally:
        wb.close()
    cols = [str(c).strip() if c is not None else f"column_{i + 1}" for i, c in enumerate(header)]
    width = len(cols)
    frame = pd.DataFrame([list(r[:width]) + [None] * (width - len(r)) for r in body], columns=cols)
    if frame.shape[1] < 2:
        raise IngestError("the sheet needs a timestamp column and a value column (found one column)")
    return frame, sheet


# ---- columns ---------------------------------------------------------------------------------------


def _non_empty(col: pd.Series) -> pd.Series:
    s = col.dropna()
    if s.dtype == object:
        s = s[s.astype(str).str.strip() != ""]
    return s


def _numeric_share(col: pd.Series) -> float:
    s = _non_empty(col).head(SAMPLE)
    if s.empty:
        return 0.0
    return float(pd.to_numeric(s, errors="coerce").notna().mean())


def _time_share(col: pd.Series) -> float:
    s = _non_empty(col).head(SAMPLE)
    if s.empty:
        return 0.0
    if pd.api.types.is_datetime64_any_dtype(s):
        return 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = pd.to_datetime(s.astype(str), errors="coerce", utc=True, format="mixed")
    return float(parsed.notna().mean())


def _pick_timestamp(frame: pd.DataFrame, override: str | None) -> str:
    cols = list(frame.columns)
    if override is not None:
        if override not in cols:
            raise IngestError(
                f"no column named {override!r} (columns: {', '.join(cols[:20])})", field="timestamp_column"
            )
        return override
    named = [c for c in cols if any(h in c.lower() for h in _TIME_NAMES)]
    others = [c for c in cols if c not in named and _numeric_share(frame[c]) < 0.5]
    for c in named + others:
        if _time_share(frame[c]) >= MIN_SHARE:
            return c
    raise IngestError(
        f"no column holds timestamps (columns: {', '.join(cols[:20])}): name one in 'timestamp_column'",
        field="timestamp_column",
    )


def _pick_value(frame: pd.DataFrame, ts_col: str, override: str | None) -> str:
    cols = [c for c in frame.columns if c != ts_col]
    if override is not None:
        if override not in cols:
            raise IngestError(
                f"no value column named {override!r} (columns: {', '.join(cols[:20])})", field="value_column"
            )
        return override
    numeric = [c for c in cols if _numeric_share(frame[c]) >= MIN_SHARE]
    if not numeric:
        raise IngestError(
            f"no column holds numbers (columns: {', '.join(cols[:20])}): name one in 'value_column'",
            field="value_column",
        )
    for hint in _ENERGY_NAMES:
        for c in numeric:
            if hint in c.lower():
                return c
    return numeric[0]


def unit_of(column: str) -> EnergyUnit | None:
    """The unit a column's name states, if any (``Usage_kWh`` -> kWh)."""
    name = column.lower()
    if "mwh" in name:
        return EnergyUnit.MWH
    if "kwh" in name:
        return EnergyUnit.KWH
    if re.search(r"(?<![a-z])wh(?![a-z])", name):
        return EnergyUnit.WH
    if re.search(r"(?<![a-z])kw(?![a-z])", name):
        return EnergyUnit.KW
    return None


# ---- timestamps ------------------------------------------------------------------------------------


def _offset_seconds(text: str) -> int:
    m = _OFFSET.search(text)
    if m is None or m.group(1).upper() == "Z":
        return 0
    raw = m.group(1).replace(":", "")
    sign = -1 if raw[0] == "-" else 1
    return sign * (int(raw[1:3]) * 3600 + int(raw[3:5]) * 60)


def _zone_of_offset(seconds: int) -> str:
    if seconds == 0:
        return "UTC"
    if seconds % 3600 == 0 and abs(seconds) <= 14 * 3600:
        hours = seconds // 3600
        return f"Etc/GMT{'-' if hours > 0 else '+'}{abs(hours)}"  # IANA's Etc signs are inverted
    return "UTC"


def _line(col: pd.Series, pos: int) -> int:
    """The file line (header on line 1; blank lines not counted) of the ``pos``-th value of ``col``."""
    return int(col.index[pos]) + 2


def parse_times(
    col: pd.Series, tz_override: str | None
) -> tuple[pd.DatetimeIndex, str, Literal["offsets", "override", "default"], int]:
    """(instants as a UTC index with NaT for rows dropped at clock changes, zone, its source, dropped)."""
    if pd.api.types.is_datetime64_any_dtype(col):
        values = pd.DatetimeIndex(col)
        aware = values.tz is not None
        texts: pd.Series | None = None
    else:
        texts = col.astype(str).str.strip()
        flags = texts.str.contains(_AWARE)
        aware = bool(flags.all())
        if flags.any() and not aware:
            first = int(np.flatnonzero(flags.to_numpy() != bool(flags.iloc[0]))[0])
            raise IngestError(
                "mixed time zones: some timestamps carry an offset and some do not",
                field="timestamp_column",
                line=_line(col, first),
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                values = pd.DatetimeIndex(pd.to_datetime(texts, errors="coerce", utc=aware))
            except (ValueError, OverflowError):
                values = pd.DatetimeIndex(pd.to_datetime(texts, errors="coerce", utc=aware, format="mixed"))
            if values.isna().any():
                retry = pd.DatetimeIndex(pd.to_datetime(texts, errors="coerce", utc=aware, format="mixed"))
                if retry.isna().sum() < values.isna().sum():
                    values = retry
    bad = np.flatnonzero(values.isna())
    if bad.size:
        pos = int(bad[0])
        raise IngestError(
            f"{bad.size} timestamp(s) cannot be read",
            field="timestamp_column",
            line=_line(col, pos),
            value=str(col.iloc[pos])[:100],
        )
    if aware:
        source: Literal["offsets", "override", "default"] = "offsets"
        if texts is not None:
            offsets = sorted(set(texts.map(_offset_seconds)))
            if len(offsets) > 2 or (len(offsets) == 2 and offsets[1] - offsets[0] != 3600):
                raise IngestError(
                    "mixed time zones: the timestamps carry offsets "
                    + ", ".join(f"{o / 3600:+g} h" for o in offsets[:5]),
                    field="timestamp_column",
                )
            zone = _zone_of_offset(offsets[0]) if len(offsets) == 1 else "UTC"
        else:
            zone = str(values.tz)
        utc = values.tz_convert("UTC")
        if tz_override is not None:
            zone, source = tz_override, "override"
        return utc, zone, source, 0
    zone = tz_override or "UTC"
    source = "override" if tz_override else "default"
    utc, dropped = localize_naive(values, zone)
    return utc, zone, source, dropped


def localize_naive(values: pd.DatetimeIndex, zone: str) -> tuple[pd.DatetimeIndex, int]:
    """Naive local times of ``zone`` as UTC instants (NaT for a time that does not exist at a clock
    change, or is ambiguous and cannot be told apart by the order), and how many became NaT."""
    try:
        local = values.tz_localize(zone, ambiguous="infer", nonexistent="NaT")
    except Exception:  # noqa: BLE001 - pytz's AmbiguousTimeError (not a ValueError): no order to infer from
        local = values.tz_localize(zone, ambiguous="NaT", nonexistent="NaT")
    return local.tz_convert("UTC"), int(local.isna().sum())


# ---- the whole file --------------------------------------------------------------------------------


def ingest(data: bytes, options: IngestOptions | None = None) -> Ingested:
    """Parse, detect and convert; the frame is sorted, one row per timestamp, values kWh (NaN = missing)."""
    opts = options or IngestOptions()
    fmt = sniff(data)
    sheet: str | None = None
    if fmt is FileFormat.XLSX:
        table, sheet = read_xlsx(data, opts.sheet)
    else:
        table = read_csv(data)
    table = table.reset_index(drop=True)
    ts_col = _pick_timestamp(table, opts.timestamp_column)
    val_col = _pick_value(table, ts_col, opts.value_column)
    rows = table[[ts_col, val_col]]
    empty_ts = rows[ts_col].isna() | (rows[ts_col].astype(str).str.strip() == "")
    rows = rows[~empty_ts]
    if len(rows) < MIN_ROWS:
        raise IngestError(f"the file has {len(rows)} row(s) with a timestamp; at least {MIN_ROWS} are needed")
    instants, zone, zone_source, dst_dropped = parse_times(rows[ts_col], opts.timezone)
    raw = pd.to_numeric(rows[val_col], errors="coerce").to_numpy(dtype=float)
    keep = ~instants.isna()
    instants, raw = instants[keep], raw[np.asarray(keep)]
    series = pd.Series(raw, index=instants).sort_index(kind="stable")
    dup = series.index.duplicated(keep="first")
    series = series[~dup]
    if len(series) < MIN_ROWS:
        raise IngestError(f"the file has {len(series)} distinct timestamp(s); at least {MIN_ROWS} are needed")
    steps = np.diff(series.index.asi8) / 1e9
    interval_s = max(1, round(float(np.median(steps))))
    unit = opts.unit or unit_of(val_col) or EnergyUnit.KWH
    unit_source: Literal["column name", "override", "default"] = (
        "override" if opts.unit else ("column name" if unit_of(val_col) else "default")
    )
    factor = opts.scale * (interval_s / 3600.0 if unit is EnergyUnit.KW else _TO_KWH[unit])
    with np.errstate(over="ignore", invalid="ignore"):
        values = series.to_numpy(dtype=float) * factor
    values[~np.isfinite(values)] = np.nan
    frame = pd.DataFrame(
        {"value": values}, index=pd.DatetimeIndex(series.index, name="timestamp").tz_convert(zone)
    )
    detection = Detection(
        timestamp_column=ts_col,
        value_column=val_col,
        columns=[str(c) for c in table.columns][:100],
        timezone=zone,
        timezone_source=zone_source,
        unit=unit,
        unit_source=unit_source,
        scale=opts.scale,
        interval_s=interval_s,
        rows_read=len(table),
        missing_values=int(np.isnan(values).sum()),
        duplicates_dropped=int(dup.sum()),
        dst_dropped=dst_dropped,
        sheet=sheet,
    )
    return Ingested(frame=frame, detection=detection, file_format=fmt)
