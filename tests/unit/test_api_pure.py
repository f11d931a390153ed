"""Pure parts of the API: languages, cursors, keyset SQL, keys, the verified-key cache, route labels."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from api.app import create_app
from api.http.errors import ApiError
from api.http.i18n import MESSAGES, message, negotiate
from api.http.pagination import PageParams, decode_cursor, encode_cursor, finish, keyset
from api.services import keys
from api.services.keys import Principal, VerifiedCache
from api.services.resources import Resources
from stream_app import metrics as prom
from stream_app.settings import Settings


@pytest.mark.parametrize(
    ("query", "header", "expected"),
    [
        (None, None, "en-US"),
        ("zh-CN", "en-US", "zh-CN"),
        ("xx", "zh-TW;q=0.5, fr", "zh-CN"),
        (None, "fr;q=1, en-GB;q=0.9, zh;q=0.8", "en-US"),
        (None, "zh;q=0.9, en;q=0.95", "en-US"),
        (None, "de, it", "en-US"),
        (None, "en;q=abc, zh", "zh-CN"),
    ],
)
def test_language_negotiation(query: str | None, header: str | None, expected: str) -> None:
    assert negotiate(query, header, "en-US") == expected


def test_every_message_has_both_languages_and_fills_fields() -> None:
    for key, texts in MESSAGES.items():
        assert set(texts) == {"en-US", "zh-CN"}, key
    assert message("rate_limited", "en-US", retry_after=7) == "Too many requests: retry after 7 s."
    assert "7" in message("rate_limited", "zh-CN", retry_after=7)
    assert "{what}" in message("not_found", "en-US")  # a missing field stays visible, never raises


def test_cursor_round_trip_and_rejection() -> None:
    ts = datetime(2026, 12, 2, 7, 30, tzinfo=UTC)
    ident = uuid.uuid4()
    assert decode_cursor(encode_cursor(ts, ident)) == (ts, str(ident))
    for bad in ("%%%", "bm90IGpzb24", encode_cursor(ts, ident)[:-3], "WzEsMl0"):
        with pytest.raises(ApiError) as err:
            decode_cursor(bad)
        assert err.value.status == 400 and err.value.details[0]["loc"] == ["query", "cursor"]  # type: ignore[index]


def test_keyset_binds_every_value_and_pages() -> None:
    ts = datetime(2026, 1, 1, tzinfo=UTC)
    page = PageParams(limit=2, after=(ts, "abc"), start=ts - timedelta(days=1), end=ts, descending=True)
    conds, args, order = keyset(page, "created_at", "id", 3)
    assert conds == ["created_at >= $3", "created_at < $4", "(created_at, id::text) < ($5, $6::text)"]
    assert args == [ts - timedelta(days=1), ts, ts, "abc", 3]
    assert order == "ORDER BY created_at DESC, id::text DESC LIMIT $7"
    rows = [(ts, "c"), (ts, "b"), (ts, "a")]
    items, meta = finish(rows, page, lambda r: r)
    assert items == rows[:2] and meta.has_more and decode_cursor(meta.next_cursor or "") == (ts, "b")
    items, meta = finish(rows[:2], page, lambda r: r)
    assert not meta.has_more and meta.next_cursor is None


def test_keys_are_random_parseable_and_hashed_slowly() -> None:
    key, prefix = keys.new_key()
    other, _ = keys.new_key()
    assert key != other and keys.parse(key) == prefix and len(prefix) == 8
    assert keys.parse("kw_short_x") is None and keys.parse(key + " ") is None
    h = keys.hash_key(key)
    assert h.startswith("$argon2id$") and key not in h
    assert keys.verify(h, key) and not keys.verify(h, other) and not keys.verify("garbage", key)


def test_scopes_read_and_write_are_independent_admin_grants_all() -> None:
    assert keys.grants(frozenset({"read"}), "read") and not keys.grants(frozenset({"read"}), "write")
    assert not keys.grants(frozenset({"write"}), "read")
    assert all(keys.grants(frozenset({"admin"}), s) for s in keys.SCOPES)
    assert not keys.grants(frozenset({"read", "write"}), "admin")


def test_verified_cache_expires_and_forgets_a_revoked_key() -> None:
    cache = VerifiedCache(ttl_s=10)
    p = Principal(uuid.uuid4(), "n", "abcdefgh", frozenset({"read"}), None)
    cache.put("fp", p, now=100.0)
    assert cache.get("fp", now=109.9) == p and cache.get("fp", now=110.0) is None
    cache.put("fp", p, now=200.0)
    cache.forget(p.key_id)
    assert cache.get("fp", now=200.0) is None
    assert VerifiedCache(ttl_s=0).get("fp") is None


async def test_metrics_label_is_the_full_route_template_and_bounded() -> None:
    settings = Settings()
    app = create_app(settings)
    app.state.resources = Resources(settings)  # nothing below connects: no key means 401 first
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
            before = prom.API_REQUESTS.labels("DELETE", "/api/v1/api-keys/{key_id}", "401")._value.get()
            r = await c.delete(f"/api/v1/api-keys/{uuid.uuid4()}")
            assert r.status_code == 401 and r.headers["x-request-id"] == r.json()["request_id"]
            after = prom.API_REQUESTS.labels("DELETE", "/api/v1/api-keys/{key_id}", "401")._value.get()
            assert after == before + 1
            unmatched = prom.API_REQUESTS.labels("GET", prom.UNMATCHED, "404")._value.get()
            await c.get("/random/scan/path")
            assert prom.API_REQUESTS.labels("GET", prom.UNMATCHED, "404")._value.get() == unmatched + 1
    finally:
        await app.state.resources.close()


def test_storable_json_refuses_what_jsonb_cannot_hold() -> None:
    from api.http.validation import storable_json

    assert storable_json({"a": [1, 2.5, None]}, "params", 100) == {"a": [1, 2.5, None]}
    for bad, words in (({"n": 2**70}, "64-bit"), ({"k": "x" * 200}, "at most"), ({"k\x00": 1}, "NUL")):
        with pytest.raises(ValueError, match=words):
            storable_json(bad, "params", 100)
