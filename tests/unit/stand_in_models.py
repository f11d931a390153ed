"""Stand-in served models of the unit tests: ``plan`` of the served-model protocol written once.

``stream_app.serving.model.ServedModel.plan`` takes five arguments; a stand-in says what it forecasts
in ``points``, which gets them unchanged as one ``PlanCall``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from stream_app.core.types import ForecastPoint


@dataclass(frozen=True)
class PlanCall:
    """The arguments of one ``plan`` call, as the pipeline passed them."""

    ts: Sequence[float]
    values: Sequence[float]
    horizon: int
    covariates: Mapping[str, Sequence[float]] | None
    future: Mapping[str, Sequence[float]] | None


class StandIn:
    """A served model for the pipeline and LiveModels; subclasses write ``points`` and ``judge``."""

    past_covariates: tuple[str, ...] = ()
    supplied_future_covariates: tuple[str, ...] = ()

    def plan(
        self,
        ts: Sequence[float],
        values: Sequence[float],
        horizon: int,
        covariates: Mapping[str, Sequence[float]] | None = None,
        future: Mapping[str, Sequence[float]] | None = None,
    ) -> list[ForecastPoint]:
        return self.points(PlanCall(ts, values, horizon, covariates, future))

    def points(self, call: PlanCall) -> list[ForecastPoint]:
        raise NotImplementedError
