"""Training-job states and the transitions allowed between them (pure).

PENDING -> PREPARING -> TRAINING -> TRAINED; any open state may end FAILED or CANCELED. Terminal states
never change again, so a late message from a dead runner cannot resurrect a finished job.
"""

from __future__ import annotations

from enum import StrEnum

from schemas.errors import KilowatchError


class JobStatus(StrEnum):
    PENDING = "PENDING"
    PREPARING = "PREPARING"
    TRAINING = "TRAINING"
    TRAINED = "TRAINED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"


class VersionStatus(StrEnum):
    CANDIDATE = "candidate"
    ACTIVE = "active"
    RETIRED = "retired"


TERMINAL: frozenset[JobStatus] = frozenset({JobStatus.TRAINED, JobStatus.FAILED, JobStatus.CANCELED})

ALLOWED: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.PENDING: frozenset({JobStatus.PREPARING, JobStatus.FAILED, JobStatus.CANCELED}),
    JobStatus.PREPARING: frozenset({JobStatus.TRAINING, JobStatus.FAILED, JobStatus.CANCELED}),
    JobStatus.TRAINING: frozenset({JobStatus.TRAINED, JobStatus.FAILED, JobStatus.CANCELED}),
    JobStatus.TRAINED: frozenset(),
    JobStatus.FAILED: frozenset(),
    JobStatus.CANCELED: frozenset(),
}


class InvalidTransition(KilowatchError):
    """A job was asked to move to a state it cannot reach from where it is."""


def check_transition(current: JobStatus | str, target: JobStatus | str) -> JobStatus:
    """The target as a JobStatus, or InvalidTransition naming both states."""
    cur, tgt = JobStatus(current), JobStatus(target)
    if tgt not in ALLOWED[cur]:
        raise InvalidTransition(f"training job cannot go from {cur} to {tgt}")
    return tgt


def sources_of(target: JobStatus | str) -> list[str]:
    """States from which ``target`` is reachable (used as the SQL guard of an atomic transition)."""
    tgt = JobStatus(target)
    return sorted(s.value for s, targets in ALLOWED.items() if tgt in targets)
