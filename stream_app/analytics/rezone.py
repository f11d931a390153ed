"""A dataset's new time zone (pure): naive timestamps of the upload are read again in the new zone.

A file whose timestamps carried no offset was read as local times of the dataset's zone (given at upload,
else UTC). Changing the zone means those same wall-clock times are another zone's, so every instant moves:
a reading stored at 12:00 Europe/Paris (11:00 UTC) becomes 12:00 America/New_York (17:00 UTC). Wall
times that do not exist in the new zone, or are ambiguous there and cannot be told apart by their order,
are dropped as at upload. A file whose timestamps carried offsets keeps its instants: only the zone they
are shown and analysed in changes.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from stream_app.analytics.ingest import localize_naive


@dataclass(frozen=True)
class Rezoned:
    frame: pd.DataFrame  # index: the new instants in the new zone; column value as before
    shifted: bool  # the instants moved (naive timestamps); False: only the display zone changed
    dropped: int  # wall times the new zone does not have (or cannot tell apart)


def naive_source(detection: dict[str, object]) -> bool:
    """Whether the upload's timestamps were naive (read in the dataset's zone), per its detection."""
    return detection.get("timezone_source") in ("override", "default")


def rezone(frame: pd.DataFrame, old_zone: str, new_zone: str, *, naive: bool) -> Rezoned:
    """``frame`` (tz-aware index, column ``value``) in ``new_zone``; with ``naive`` its wall times in
    ``old_zone`` are read again as wall times of ``new_zone``."""
    index = pd.DatetimeIndex(frame.index)
    if not naive:
        out = frame.copy()
        out.index = index.tz_convert(new_zone).rename("timestamp")
        return Rezoned(out, shifted=False, dropped=0)
    wall = index.tz_convert(old_zone).tz_localize(None)
    utc, dropped = localize_naive(wall, new_zone)
    keep = ~utc.isna()
    out = pd.DataFrame({"value": frame["value"].to_numpy()[keep]}, index=utc[keep])
    out = out[~out.index.duplicated(keep="first")].sort_index()
    out.index = pd.DatetimeIndex(out.index).tz_convert(new_zone).rename("timestamp")
    return Rezoned(out, shifted=True, dropped=dropped)
