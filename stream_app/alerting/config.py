"""The alert configuration users set (GET/PUT /api/v1/alert-config) and the filter it implies."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from schemas.events import AnomalyKind

Frequency = Literal["immediate", "hourly", "daily_digest"]
# The documented default (the residential agent API design: 0.85). Anomalies reach alerting only once a
# detector flagged them: the online detector at score >= detector.threshold (0.996), a trained model's
# detectors around their calibration quantile (0.98). Scores are calibrated (on normal data P(score >= s)
# is about 1 - s), so 0.85 sits below every detector's own level: by default every reported anomaly
# alerts (episode hygiene still sends one message per episode). The old default 0.995 silently dropped
# trained detectors' anomalies scoring under 0.995. Raise it to alert only on the rarer ones.
DEFAULT_THRESHOLD = 0.85
_EMAIL = re.compile(r"^[^@\s]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$|^[^@\s]{1,64}@localhost$")


def valid_email(v: str) -> str:
    """The address without surrounding blanks; ValueError when it is not one."""
    v = v.strip()
    if not _EMAIL.match(v):
        raise ValueError("not an e-mail address")
    return v


class AlertConfig(BaseModel):
    """Who is told, about what, how often. ``anomaly_types`` empty means every type."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    email: str = Field(description="Recipient of alert e-mails.", max_length=320)
    threshold: float = Field(
        DEFAULT_THRESHOLD,
        ge=0.0,
        le=1.0,
        description="Minimum anomaly score that alerts (0.85 = every anomaly a detector reports; scores "
        "are calibrated: on normal data P(score >= s) is about 1 - s).",
    )
    frequency: Frequency = Field("immediate", description="immediate, hourly or daily_digest.")
    anomaly_types: tuple[AnomalyKind, ...] = Field((), description="Types that alert (empty = all).")
    enabled: bool = Field(True, description="Alerts are off while false.")

    @field_validator("email")
    @classmethod
    def _email(cls, v: str) -> str:
        return valid_email(v)

    @field_validator("anomaly_types")
    @classmethod
    def _unique(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(sorted(set(v)))

    def wants(self, score: float, kind: str) -> bool:
        """Whether an anomaly of this score and type should alert."""
        return (
            self.enabled
            and score >= self.threshold
            and (not self.anomaly_types or kind in self.anomaly_types)
        )
