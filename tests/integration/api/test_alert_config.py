"""GET/PUT /api/v1/alert-config on the real PostgreSQL: 404 before one is set, round trip, validation;
the documented body (``types``, old name ``anomaly_types`` accepted, default threshold 0.85, ``updated_at``)
and POST /alert-config/test against a real SMTP server (aiosmtpd) and a closed port (SMTP_ERROR)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest

from stream_app.alerting import store as alert_store
from tests.integration.alerting_fixtures import Inbox, free_port, smtp

from .conftest import Api, api_settings, keyed_api

__all__ = ["smtp"]  # the aiosmtpd fixture

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
        "types": ["spike", "dip", "spike"],
        "enabled": True,
    }
    r = await api.client.put(URL, json=body, headers=api.auth("admin"))
    assert r.status_code == 200, r.text
    stored = {
        "email": "ops@example.com",
        "threshold": 0.97,
        "frequency": "hourly",
        "types": ["dip", "spike"],
        "anomaly_types": ["dip", "spike"],  # deprecated copy for readers of the old shape
        "enabled": True,
    }
    put = r.json()["data"]
    first_stamp = datetime.fromisoformat(put.pop("updated_at"))
    assert put == stored
    r = await api.client.get(URL, headers=api.auth("read"))
    assert r.status_code == 200
    got = r.json()["data"]
    assert datetime.fromisoformat(got.pop("updated_at")) == first_stamp and got == stored
    pool = await api.resources.pool()
    row = await pool.fetchrow("SELECT * FROM alert_config WHERE name = $1", alert_store.DEFAULT)
    assert (row["email"], row["threshold"], row["frequency"], list(row["anomaly_types"])) == (
        "ops@example.com",
        0.97,
        "hourly",
        ["dip", "spike"],
    )
    assert row["updated_at"] == first_stamp
    # PUT replaces the whole configuration: omitted fields take their defaults (threshold 0.85, the
    # documented default) and updated_at moves on
    r = await api.client.put(URL, json={"email": "night@example.com"}, headers=api.auth("admin"))
    assert r.status_code == 200
    data = r.json()["data"]
    assert datetime.fromisoformat(data.pop("updated_at")) > first_stamp
    assert data == {
        "email": "night@example.com",
        "threshold": 0.85,
        "frequency": "immediate",
        "types": [],
        "anomaly_types": [],
        "enabled": True,
    }


async def test_the_old_name_anomaly_types_is_still_accepted(api: Api, no_config: None) -> None:
    body = {"email": "ops@example.com", "anomaly_types": ["flatline", "spike"]}
    r = await api.client.put(URL, json=body, headers=api.auth("admin"))
    assert r.status_code == 200, r.text
    assert r.json()["data"]["types"] == r.json()["data"]["anomaly_types"] == ["flatline", "spike"]
    pool = await api.resources.pool()
    stored = await alert_store.get_alert_config(pool)
    assert stored is not None and stored.anomaly_types == ("flatline", "spike")
    # both names at once is ambiguous: refused, nothing changed
    both = {"email": "x@example.com", "types": ["dip"], "anomaly_types": ["spike"]}
    r = await api.client.put(URL, json=both, headers=api.auth("admin"))
    assert r.status_code == 422
    assert [d["loc"] for d in r.json()["error"]["details"]] == [["body", "anomaly_types"]]
    assert await alert_store.get_alert_config(pool) == stored


async def test_test_email_reaches_the_smtp_server_or_answers_smtp_error(
    no_config: None, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    async with keyed_api(api_settings(alert_smtp_host="127.0.0.1", alert_smtp_port=port)) as api:
        r = await api.client.post(f"{URL}/test", headers=api.auth("admin"))
        assert r.status_code == 404 and r.json()["error"]["code"] == "RESOURCE_NOT_FOUND"  # nothing stored
        body = {"email": "ops@example.com"}
        assert (await api.client.put(URL, json=body, headers=api.auth("admin"))).status_code == 200
        assert (await api.client.post(f"{URL}/test", headers=api.auth("read"))).status_code == 403
        r = await api.client.post(f"{URL}/test", headers=api.auth("admin"))
        assert r.status_code == 200, r.text
        assert r.json()["data"] == {"sent": True, "email": "ops@example.com"}
        assert [rcpt for rcpt, _msg in inbox.messages] == [["ops@example.com"]]
        assert inbox.messages[0][1]["Subject"] == "[kilowatch] test alert"
    closed = free_port()  # nothing listens there
    async with keyed_api(api_settings(alert_smtp_host="127.0.0.1", alert_smtp_port=closed)) as api:
        r = await api.client.post(f"{URL}/test?lang=zh-CN", headers=api.auth("admin"))
        assert r.status_code == 502, r.text
        err = r.json()["error"]
        assert err["code"] == "SMTP_ERROR" and err["details"] == {"reason": "ConnectionRefusedError"}
        assert "邮件" in err["message"] and str(closed) not in r.text
    assert len(inbox.messages) == 1


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
        ({"types": ["spike", "explosion"]}, ["body", "types", 1]),
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
