"""Cursor pagination, time filters and sort order shared by every list route.

A cursor is opaque to clients: base64url of ``[sort value (ISO time), id]`` of the last row served.
Queries page by keyset ``(ts, id) < (cursor)`` (or ``>`` ascending), so pages stay stable while rows
are inserted and cost the same at any depth.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

import orjson
from fastapi import Depends, Query

from api.http.envelope import Envelope, Meta, Page, ok_page
from api.http.errors import field_error

MAX_PAGE = 1000
Sort = Literal["created_at:desc", "created_at:asc"]
R = TypeVar("R")
T = TypeVar("T")


@dataclass(frozen=True)
class PageParams:
    limit: int
    after: tuple[datetime, str] | None  # (sort value, id) of the last row of the previous page
    start: datetime | None
    end: datetime | None
    descending: bool


def encode_cursor(ts: datetime, ident: object) -> str:
    raw = orjson.dumps([ts.isoformat(), str(ident)])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """Raises a 400 VALIDATION_ERROR on ``query.cursor`` for anything we did not issue."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        ts, ident = orjson.loads(raw)
        stamp = datetime.fromisoformat(ts)
        if not isinstance(ident, str) or stamp.tzinfo is None:
            raise ValueError("bad cursor")
        return stamp, ident
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise field_error(["query", "cursor"], "not a cursor this API issued", status=400) from None


def _utc(v: datetime | None) -> datetime | None:
    if v is None:
        return None
    return v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)


def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Rows per page.")] = 50,
    cursor: Annotated[
        str | None, Query(max_length=512, description="next_cursor of the previous page.")
    ] = None,
    from_: Annotated[
        datetime | None, Query(alias="from", description="Inclusive lower time bound (ISO 8601).")
    ] = None,
    to: Annotated[datetime | None, Query(description="Exclusive upper time bound (ISO 8601).")] = None,
    sort: Annotated[Sort, Query(description="Order by time, newest first (desc) or oldest first.")] = (
        "created_at:desc"
    ),
) -> PageParams:
    start, end = _utc(from_), _utc(to)
    if start is not None and end is not None and start >= end:
        raise field_error(["query", "to"], "'to' must be after 'from'", status=400)
    return PageParams(
        limit=limit,
        after=decode_cursor(cursor) if cursor else None,
        start=start,
        end=end,
        descending=sort.endswith(":desc"),
    )


PageDep = Annotated[PageParams, Depends(page_params)]


def keyset(page: PageParams, ts_col: str, id_col: str, first_arg: int) -> tuple[list[str], list[Any], str]:
    """SQL pieces for a page: (WHERE conditions, their bound args, ORDER BY ... LIMIT $n).

    Column names are code constants, never user input; every value is a bound parameter. Fetches
    ``limit + 1`` rows so :func:`finish` knows whether another page exists.
    """
    conds: list[str] = []
    args: list[Any] = []
    n = first_arg

    def arg(v: Any) -> str:
        nonlocal n
        args.append(v)
        n += 1
        return f"${n - 1}"

    if page.start is not None:
        conds.append(f"{ts_col} >= {arg(page.start)}")
    if page.end is not None:
        conds.append(f"{ts_col} < {arg(page.end)}")
    if page.after is not None:
        op = "<" if page.descending else ">"
        ts, ident = page.after
        conds.append(f"({ts_col}, {id_col}::text) {op} ({arg(ts)}, {arg(ident)}::text)")
    direction = "DESC" if page.descending else "ASC"
    order = f"ORDER BY {ts_col} {direction}, {id_col}::text {direction} LIMIT {arg(page.limit + 1)}"
    return conds, args, order


def finish(
    rows: Sequence[R], page: PageParams, key: Callable[[R], tuple[datetime, object]]
) -> tuple[list[R], Meta]:
    """The page's rows and its meta (``next_cursor`` from the last row when more exist)."""
    items = list(rows[: page.limit])
    has_more = len(rows) > page.limit
    cursor = encode_cursor(*key(items[-1])) if has_more and items else None
    return items, Meta(next_cursor=cursor, has_more=has_more)


def paged(
    rows: Sequence[R],
    page: PageParams,
    key: Callable[[R], tuple[datetime, object]],
    show: Callable[[R], T],
) -> Envelope[Page[T]]:
    """A list route's answer from the store's ``limit + 1`` rows: :func:`finish` then
    :func:`api.http.envelope.ok_page` with each kept row shown by ``show``."""
    items, meta = finish(rows, page, key)
    return ok_page([show(r) for r in items], meta)
