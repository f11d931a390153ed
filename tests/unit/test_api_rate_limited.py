"""The per-key limits' 429 (new asset ids per hour, open log streams): one envelope, from
``api.http.errors.rate_limited`` (both callers are exercised on a real API and Redis by
tests/integration/api/test_hardening_limits.py)."""

from __future__ import annotations

from api.http.error_handlers import error_body
from api.http.errors import Code, rate_limited


def test_the_envelope_names_the_limit_and_when_to_retry() -> None:
    err = rate_limited(42, ["body", "readings"], "3 new asset ids would pass the cap", "new_assets_limit")
    assert (err.status, err.code, err.headers) == (429, Code.RATE_LIMITED, {"Retry-After": "42"})
    body = error_body(err, "en-US", "req-1")
    assert body == {
        "status": "error",
        "error": {
            "code": "RATE_LIMITED",
            "message": "Too many requests: retry after 42 s.",
            "details": [
                {
                    "loc": ["body", "readings"],
                    "msg": "3 new asset ids would pass the cap",
                    "type": "new_assets_limit",
                }
            ],
        },
        "request_id": "req-1",
    }
