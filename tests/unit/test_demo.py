"""The demo counts a planted fault as found as the tests do: a flag within 3 readings of its start."""

from __future__ import annotations

import numpy as np

from stream_app.core.faults import InjectedFault
from stream_app.devtools.demo import within_three
from stream_app.devtools.simulate import Meter


def _meter(n: int) -> Meter:
    stamps = [f"2018-01-01T00:{i:02d}:00Z" for i in range(n)]
    return Meter("line-000", stamps, np.zeros(n), [])


def test_a_drop_out_named_when_the_next_reading_undoes_it_counts() -> None:
    meter = _meter(10)
    dip = InjectedFault(4, "dip", 1)
    found = within_three(meter, dip)
    # the one-reading fault is often flagged at index + 1 ("... and recovered"): that is in time
    assert ("line-000", meter.timestamps[5]) in found
    assert found == {("line-000", meter.timestamps[i]) for i in (4, 5, 6)}
    assert ("line-000", meter.timestamps[7]) not in found


def test_a_fault_at_the_end_of_the_series_stops_there() -> None:
    meter = _meter(6)
    assert within_three(meter, InjectedFault(5, "spike", 1)) == {("line-000", meter.timestamps[5])}
