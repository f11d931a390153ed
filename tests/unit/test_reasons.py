"""One wording for the reason of a flagged reading, whichever model flagged it."""

from __future__ import annotations

import pytest

from stream_app.core.online_evidence import describe
from stream_app.core.reasons import point_reason
from stream_app.scoring.state import describe as stored_reason
from trainers.backend import reason


@pytest.mark.parametrize(
    ("value", "expected", "text"),
    [
        (145.0, 100.0, "Exceeds predicted value by 45%"),
        (68.0, 100.0, "Below expected value by 32%"),
        (3.2, 0.0, "Exceeds predicted value by 3.2"),  # no percentage of zero
        (-1.5, 0.0, "Below expected value by 1.5"),
        (1e9, 1.0, "Exceeds predicted value by 1e+09"),  # a huge ratio is given as a size
    ],
)
def test_point_reason(value: float, expected: float, text: str) -> None:
    assert point_reason(value, expected) == text


def test_trained_online_and_stored_verdicts_use_it() -> None:
    assert reason(145.0, 100.0) == point_reason(145.0, 100.0)
    assert describe("point", True, 145.0, 100.0, 1, 1.0) == ("spike", point_reason(145.0, 100.0))
    assert describe("point", False, 68.0, 100.0, 1, 1.0) == ("dip", point_reason(68.0, 100.0))
    assert stored_reason("dip", 68.0, 100.0) == point_reason(68.0, 100.0)
