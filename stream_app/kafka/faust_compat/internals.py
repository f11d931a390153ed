"""Small typed wrappers around the faust-streaming private names the agents use (see UPSTREAM.md).

Each one is the only place its private name is touched outside ``consumer.py``; a faust upgrade that
renames or changes one of them is fixed here.
"""

from __future__ import annotations

import weakref

import faust
from faust.streams import _current_event  # the event a table write is attributed to
from faust.types import EventT, TopicT
from faust.types.tables import CollectionT
from rocksdict import Rdict


def set_current_event(event: EventT) -> None:
    """Make ``event`` faust's "current event": table reads and writes go to its partition (what
    ``Stream._set_current_event`` does for the event a stream yields)."""
    _current_event.set(weakref.ref(event))


def partition_db(table: CollectionT, partition: int) -> Rdict:
    """The RocksDB database (rocksdict) of ``table``'s partition, opened on first use by faust's
    RocksDB store (``Store._db_for_partition``); the table must use the ``rocksdb://`` store."""
    db: Rdict = table.data._db_for_partition(partition)  # type: ignore[attr-defined]
    return db


def subscribe_topic(app: faust.App, topic: TopicT) -> None:
    """Add ``topic`` to the conductor's set without an agent or stream: the conductor subscribes
    every topic in its set when it first subscribes (after agents start and tables register)."""
    app.topics._topics.add(topic)  # type: ignore[attr-defined]


def open_partition_dbs(store: object) -> list[Rdict] | None:
    """The RocksDB databases a faust RocksDB store has open (``Store._dbs``), or None for another
    kind of store (the in-memory one of unit tests)."""
    dbs = getattr(store, "_dbs", None)
    return list(dbs.values()) if isinstance(dbs, dict) else None
