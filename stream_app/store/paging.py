"""One cursor-paged list query for every store: equality filters, then the page's keyset.

A store's list function hands its table, columns and filters to :func:`page_rows` with a ``keyset``
callable (``api.http.pagination.keyset`` with the page bound), which returns the cursor conditions,
their bound args and ``ORDER BY ... LIMIT`` (limit + 1 rows, so the route's ``finish`` knows whether
another page exists). This module stays free of the API's types. Table and column names are code
constants of the calling store, never user input; every value is a bound parameter.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import asyncpg

from stream_app.store.repository import Conn

# (timestamp column, id column, number of the first free $n) -> (conditions, args, ORDER BY ... LIMIT)
Keyset = Callable[[str, str, int], tuple[list[str], list[Any], str]]
T = TypeVar("T")


async def page_rows(
    conn: Conn,
    keyset: Keyset,
    source: str,
    row: Callable[[asyncpg.Record], T],
    *,
    columns: str = "*",
    filters: Sequence[tuple[str, Any]] = (),
    ts_col: str = "created_at",
    id_col: str = "id",
) -> list[T]:
    """``SELECT columns FROM source WHERE col = value ... <page> ORDER BY ts_col, id_col LIMIT n``, each
    row made by ``row``; a filter whose value is None is left out, a list value means any of them."""
    conds: list[str] = []
    args: list[Any] = []
    for col, value in filters:
        if isinstance(value, list | tuple):
            args.append(list(value))
            conds.append(f"{col} = ANY(${len(args)})")
        elif value is not None:
            args.append(value)
            conds.append(f"{col} = ${len(args)}")
    more, more_args, order = keyset(ts_col, id_col, len(args) + 1)
    conds += more
    where = f"WHERE {' AND '.join(conds)}" if conds else ""
    rows = await conn.fetch(f"SELECT {columns} FROM {source} {where} {order}", *args, *more_args)
    return [row(r) for r in rows]
