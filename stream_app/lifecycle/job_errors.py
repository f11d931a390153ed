"""What a failed training job may say: fixed messages in ``job.error``, details in the worker's log.

A job's error is shown to every holder of a read key (the API's job routes, the SSE job-log stream). It
must not carry what a fetched file held (a CSV's column names or first line), parser or exception text,
tracebacks, server paths or addresses. So a training error reaches the job only if it is one of the
known messages that are built from the request and from counts (``too few rows: 12 usable ...``);
the errors that quote the data are replaced by a fixed text naming the problem; anything else becomes
``training failed (see worker log, job <id>)``. The original text goes to the worker's log at WARNING
with the job id.
"""

from __future__ import annotations

import logging
import re
import uuid

log = logging.getLogger(__name__)

FAILED = "training failed (see worker log, job {job})"
INTERNAL = "internal error (see worker log, job {job})"
_MAX = 300  # a kept message longer than this is not one of ours

# Messages that quote the data: the problem, in a fixed text.
_REPLACED: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p, re.S), text)
    for p, text in (
        (r"(cannot parse CSV|unparsable CSV)\b.*", "training data is not a readable CSV"),
        (r".*\bno timestamp column\b.*", "training data has no timestamp column"),
        (r"(no target column|CSV has no numeric target column)\b.*", "training data has no target column"),
        (
            r"no numeric values in target column\b.*",
            "training data has no numeric values in the target column",
        ),
        (r"unparsable timestamps\b.*", "training data has unparsable timestamps"),
        (r"covariates .* not in the data\b.*", "training data lacks a requested covariate column"),
    )
)
# Messages built from counts and from the request's own fields: kept as they are.
_KEPT = tuple(
    re.compile(p)
    for p in (
        r"too few rows: \d+ usable, at least \d+ needed",
        r"too little data: \d+ rows(, need at least \d+| at step \w+, [\w-]+ needs at least \d+ rows)",
        r"cannot infer the series step: fewer than two distinct timestamps",
        r"evaluation needs more than \d+ rows \(and a season of history\), got \d+",
        r"autoencoder needs at least \d+ points, got \d+",
        r"frame needs 'timestamp' and 'value' columns \(see load_frame\)",
        # Request validation (the worker's own check of the request's model type and params).
        r"unknown (darts )?model type '[\w.-]{1,64}'(; choose (one of|from) [\w, ]+)?",
        r"params must be a mapping",
        r"params\.\w{1,64} must be [\w ,.()'<>=-]{1,120}",
        r"param \w{1,64} must be [\w ,.()'<>=-]{1,120}",
        r"unknown params for [\w-]{1,64}: \[[\w', -]{0,200}\]; allowed: \[[\w', -]{0,400}\]",
        r"detector must be one of \([\w', ]+\), got [\w'.-]{1,64}",
        r"horizon must be an integer in 1\.\.1000, got [\w'.-]{1,64}",
        r"quantile must be in \(0\.5, 1\), got [\w'.-]{1,64}",
        r"holdout_fraction must be in \[0\.05, 0\.5\], got [\w'.-]{1,64}",
    )
)


def public_training_error(raw: str, job_id: uuid.UUID | str) -> str:
    """The job error for a training process's error message; logs ``raw`` at WARNING with the job id
    when it is not shown as it is."""
    text = raw.strip()
    if len(text) <= _MAX and any(p.fullmatch(text) for p in _KEPT):
        return text
    for pattern, fixed in _REPLACED:
        if len(text) <= 100_000 and pattern.fullmatch(text):
            log.warning("training job %s: %s: %s", job_id, fixed, text)
            return fixed
    message = FAILED.format(job=job_id)
    log.warning("training job %s failed: %s", job_id, text)
    return message


def data_source_error(job_id: uuid.UUID | str, message: str, detail: str) -> str:
    """The job error for a data source failure (``message`` is already fixed); the detail to the log."""
    log.warning("training job %s: %s%s", job_id, message, f" ({detail})" if detail else "")
    return message


def internal_error(job_id: uuid.UUID | str) -> str:
    """The job error for a fault of the worker itself (the exception is logged by the caller)."""
    return INTERNAL.format(job=job_id)
