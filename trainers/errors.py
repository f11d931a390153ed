"""Trainer errors: all under the project's one root, so the agent/API boundary catches them."""

from __future__ import annotations

from schemas.errors import KilowatchError


class TrainingError(KilowatchError):
    """A training run cannot start or finish: bad spec, bad data, too little data."""


class TrainingCanceled(TrainingError):
    """``should_stop()`` turned true; raised between epochs / boosting rounds / stages."""


class BundleError(KilowatchError):
    """An artifact bundle is missing, corrupt, tampered with or incompatible with this install."""
