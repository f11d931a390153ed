"""Champion/challenger decision (pure): the candidate must beat the active MASE by a relative margin."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str


def decide(candidate_mase: float | None, active_mase: float | None, margin: float) -> Decision:
    """Promote when there is no champion, or when ``candidate <= active * (1 - margin)``.

    ``margin`` is relative (0.05 = the candidate must be at least 5 % better). A candidate whose
    metric is missing or not finite is never promoted; an active model whose metric cannot be computed
    loses to any finite candidate (it could not even be evaluated on the hold-out).
    """
    if not 0.0 <= margin < 1.0:
        raise ValueError("margin must be in [0, 1)")
    if candidate_mase is None or not math.isfinite(candidate_mase):
        return Decision(False, f"candidate hold-out MASE is not a finite number ({candidate_mase})")
    if active_mase is None:
        return Decision(True, f"no active version; candidate hold-out MASE {candidate_mase:.4f}")
    if not math.isfinite(active_mase):
        return Decision(
            True,
            f"active version could not be scored (MASE {active_mase}); candidate MASE {candidate_mase:.4f}",
        )
    bar = active_mase * (1.0 - margin)
    if candidate_mase <= bar:
        gain = 100.0 * (1.0 - candidate_mase / active_mase) if active_mase > 0 else 0.0
        return Decision(
            True,
            f"candidate MASE {candidate_mase:.4f} beats active {active_mase:.4f} by "
            f"{gain:.1f}% (margin {100 * margin:.1f}%)",
        )
    return Decision(
        False,
        f"candidate MASE {candidate_mase:.4f} does not beat active {active_mase:.4f} "
        f"by the {100 * margin:.1f}% margin (needs <= {bar:.4f})",
    )
