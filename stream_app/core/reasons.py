"""The plain-words reason of a flagged reading, one wording for every model (online, trained, API).

"Exceeds predicted value by 45%" / "Below expected value by 32%": the deviation relative to the expected
value, or absolute (3 significant digits) when the expected value is about zero or the ratio is huge.
"""

from __future__ import annotations


def deviation(value: float, expected: float) -> str:
    """How far ``value`` is from ``expected``: "45%", or "12.3" when a percentage would mislead."""
    diff = abs(value - expected)
    if abs(expected) > 1e-9 and diff / abs(expected) < 100.0:
        return f"{diff / abs(expected):.0%}"
    return f"{diff:.3g}"


def point_reason(value: float, expected: float) -> str:
    """The reason of one reading judged against one expected value."""
    size = deviation(value, expected)
    if value > expected:
        return f"Exceeds predicted value by {size}"
    return f"Below expected value by {size}"
