"""The alert configuration users set (GET/PUT /api/v1/alert-config) and the filter it implies."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from schemas.events import AnomalyKind

Frequency = Literal["immediate", "hourly", "daily_digest"]
_EMAIL = re.compile(r"^[^@\s]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$|^[^@\s]{1,64}@localhost$")


class AlertConfig(BaseModel):
    """Who is told, about what, how often. ``anomaly_types`` empty means every type."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    email: str = Field(description="Recipient of alert e-mails.", max_length=320)
    threshold: float = Field(0.995, ge=0.0, le=1.0, description="Minimum anomaly score that alerts.")
    frequency: Frequency = Field("immediate", description="immediate, hourly or daily_digest.")
    anomaly_types: tuple[AnomalyKind, ...] = Field((), description="Types that alert (empty = all).")
    enabled: bool = Field(True, description="Alerts are off while false.")

    @field_validator("email")
    @classmethod
    def _email(cls, v: str) -> str:
        v = v.strip()
        if not _EMAIL.match(v):
            raise ValueError("not an e-mail address")
        return v

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
