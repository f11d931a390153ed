"""The least-squares test backend plus one knob: ``allocate_mb`` (params) allocates that much memory
before training, to drive a training process past its memory limit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tests.integration.lsq_backend import (
    MODEL_TYPES,
    TrainingCanceled,
    TrainingError,
    TrainSpec,
    evaluate,
    load_frame,
    load_model,
)
from tests.integration.lsq_backend import train as lsq_train

__all__ = [
    "MODEL_TYPES",
    "TrainSpec",
    "TrainingCanceled",
    "TrainingError",
    "evaluate",
    "load_frame",
    "load_model",
    "train",
]


def train(
    frame: Any,
    spec: TrainSpec,
    progress: Callable[[float, str], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Any:
    mb = int(spec.params.get("allocate_mb", 0))
    if mb:
        hog = np.ones(mb * 2**20 // 8)  # written, so really held
        del hog
    return lsq_train(frame, spec, progress, should_stop)
