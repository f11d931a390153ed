"""Event contracts: one pydantic model per topic payload (the single source of truth).

``kilowatch schemas export`` turns these into JSON Schema files and an AsyncAPI document.
"""

from schemas.events import (
    Anomaly,
    DeadLetter,
    Forecast,
    ForecastPointModel,
    ModelUpdated,
    Reading,
    ScoreRecord,
    TrainingRequest,
    anomaly_event_id,
)

__all__ = [
    "Anomaly",
    "DeadLetter",
    "Forecast",
    "ForecastPointModel",
    "ModelUpdated",
    "Reading",
    "ScoreRecord",
    "TrainingRequest",
    "anomaly_event_id",
]
