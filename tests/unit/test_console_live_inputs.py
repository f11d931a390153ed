"""Inputs of the console's live routes, any value: the anomaly stream's resume id, a NOTIFY payload, and
the fleet search pattern (pure functions, no services)."""

from __future__ import annotations

import re
import uuid

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.http.errors import ApiError
from api.routes.anomaly_stream import parse_event_id
from api.services.anomaly_events import Announcements
from api.services.fleet_store import like_pattern


@given(header=st.one_of(st.none(), st.text(max_size=80)), query=st.one_of(st.none(), st.text(max_size=80)))
def test_a_resume_id_is_a_uuid_or_a_400_naming_where_it_came_from(
    header: str | None, query: str | None
) -> None:
    try:
        got = parse_event_id(header, query)
    except ApiError as exc:
        assert exc.status == 400
        assert isinstance(exc.details, list)
        loc = exc.details[0]["loc"]
        assert loc in (["header", "Last-Event-ID"], ["query", "last_event_id"])
        return
    first = next((v for v in (header, query) if v and v.strip()), None)
    assert (got is None) == (first is None)
    if first is not None:
        assert got == uuid.UUID(first.strip())


def test_a_resume_id_prefers_the_header() -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    assert parse_event_id(str(a), str(b)) == a
    assert parse_event_id(None, f" {b} ") == b
    assert parse_event_id("", None) is None
    with pytest.raises(ApiError):
        parse_event_id("0-0", None)  # a job stream's id is not an anomaly's


@given(payload=st.one_of(st.text(max_size=200), st.binary(max_size=100).map(lambda b: b.decode("latin-1"))))
def test_any_notify_payload_is_taken_or_ignored_never_raised(payload: str) -> None:
    box = Announcements("m1", limit=4)
    box.on_payload(payload)
    assert box.queue.qsize() <= 1


def test_only_the_assets_own_announcements_are_queued_and_the_bound_holds() -> None:
    box = Announcements("site/m1", limit=2)
    mine = [uuid.uuid4() for _ in range(3)]
    box.on_payload(orjson.dumps({"asset_id": "other", "event_id": str(uuid.uuid4())}).decode())
    box.on_payload(orjson.dumps({"asset_id": "site/m1", "event_id": "not-a-uuid"}).decode())
    box.on_payload(orjson.dumps(["site/m1"]).decode())
    for e in mine:
        box.on_payload(orjson.dumps({"asset_id": "site/m1", "event_id": str(e)}).decode())
    assert box.overflowed  # the third did not fit: the stream will send `reset`
    first = box.queue.get_nowait()
    assert box.drain(first, 10) == mine[:2]


def _like_to_regex(pattern: str) -> re.Pattern[str]:
    """PostgreSQL's ILIKE ... ESCAPE '\\' as a Python regex (to check the pattern's meaning)."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if c == "%" else "." if c == "_" else re.escape(c))
        i += 1
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


ASCII = st.characters(
    min_codepoint=32, max_codepoint=126
)  # (case folding of other scripts is the database's)


@given(needle=st.text(ASCII, max_size=20), hay=st.text(ASCII, max_size=40))
def test_the_search_pattern_matches_exactly_the_texts_containing_the_needle(needle: str, hay: str) -> None:
    rx = _like_to_regex(like_pattern(needle))
    assert bool(rx.fullmatch(hay)) == (needle.lower() in hay.lower())


def test_percent_and_underscore_are_literal() -> None:
    rx = _like_to_regex(like_pattern("100%_"))
    assert rx.fullmatch("Boiler 100%_x") and not rx.fullmatch("Boiler 1000ax")
