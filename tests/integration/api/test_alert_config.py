"""GET/PUT /api/v1/alert-config on the real PostgreSQL: 404 before one is set, round trip, validation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from stream_app.alerting import store as alert_store

from .conftest import Api

URL = "/api/v1/alert-config"


@pytest.fixture
async def no_config(api: Api) -> AsyncIterator[None]:
    """The test starts without a stored configuration; whatever was stored is put back afterwards."""
    pool = await api.resources.pool()
    saved = await alert_store.get_alert_config(pool)
    await pool.execute("DELETE FROM alert_config WHERE name = $1", alert_store.DEFAULT)
    try:
        yield
    finally:
        await pool.execute("DELETE FROM alert_config WHERE name = $1", alert_store.DEFAULT)
        if saved is not None:
            await alert_store.put_alert_config(pool, saved)


async def test_get_is_404_until_a_config_is_put_then_round_trips(api: Api, no_config: None) -> None:
    r = await api.client.get(URL, headers=api.auth("read"))
    assert r.status_code == 404 and r.json()["error"]["code"] == "RESOURCE_NOT_FOUND", r.text
    body = {
        "email": " ops@example.com ",
        "threshold": 0.97,
        "frequency": "hourly",
        "anomaly_types": ["spike", "dip", "spike"],
        "enabled": True,
    }
    r = await api.client.put(URL, json=body, headers=api.auth("admin"))
    assert r.status_code == 200, r.text
    stored = {
        "email": "ops@example.com",
        "threshold": 0.97,
        "frequency": "hourly",
        "anomaly_types": ["dip", "spike"],
        "enabled": True,
    }
    assert r.json()["data"] == stored
    r = await api.client.get(URL, headers=api.auth("read"))
    assert r.status_code == 200 and r.json()["data"] == stored
    pool = await api.resources.pool()
    row = await pool.fetchrow("SELECT * FROM alert_config WHERE name = $1", alert_store.DEFAULT)
    assert (row["email"], row["threshold"], row["frequency"], list(row["anomaly_types"])) == (
        "ops@example.com",
        0.97,
        "hourly",
        ["dip", "spike"],
    )
    # PUT replaces the whole configuration: omitted fields take their defaults
    r = await api.client.put(URL, json={"email": "night@example.com"}, headers=api.auth("admin"))
    assert r.status_code == 200
    assert r.json()["data"] == {
        "email": "night@example.com",
        "threshold": 0.995,
        "frequency": "immediate",
        "anomaly_types": [],
        "enabled": True,
    }


async def test_put_needs_the_admin_scope_and_get_the_read_scope(api: Api, no_config: None) -> None:
    body = {"email": "ops@example.com"}
    assert (await api.client.put(URL, json=body)).status_code == 401
    for scope in ("read", "write"):
        r = await api.client.put(URL, json=body, headers=api.auth(scope))
        assert r.status_code == 403 and r.json()["error"]["code"] == "FORBIDDEN", scope
    assert (await api.client.get(URL)).status_code == 401
    assert (await api.client.get(URL, headers=api.auth("write"))).status_code == 403
    pool = await api.resources.pool()
    assert await alert_store.get_alert_config(pool) is None  # nothing was stored by the refused calls


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"email": "not-an-address"}, ["body", "email"]),
        ({"email": None}, ["body", "email"]),
        ({"threshold": 1.5}, ["body", "threshold"]),
        ({"threshold": -0.1}, ["body", "threshold"]),
        ({"threshold": "high"}, ["body", "threshold"]),
        ({"frequency": "weekly"}, ["body", "frequency"]),
        ({"anomaly_types": ["spike", "explosion"]}, ["body", "anomaly_types", 1]),
        ({"enabled": "sometimes"}, ["body", "enabled"]),
        ({"webhook": "http://x"}, ["body", "webhook"]),
    ],
)
async def test_invalid_fields_are_422_with_their_location(
    api: Api, no_config: None, change: dict[str, Any], loc: list[Any]
) -> None:
    body: dict[str, Any] = {"email": "ops@example.com", "threshold": 0.9, "frequency": "daily_digest"}
    body.update(change)
    r = await api.client.put(URL, json=body, headers=api.auth("admin"))
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == "VALIDATION_ERROR"
    assert [d["loc"] for d in err["details"]] == [loc]
    pool = await api.resources.pool()
    assert await alert_store.get_alert_config(pool) is None
