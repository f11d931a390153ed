"""The faust-streaming sources the fence was written against (how to re-sync: ``UPSTREAM.md``).

``UPSTREAM_SHA256`` maps ``module:qualname`` to the sha256 of ``inspect.getsource`` of that upstream
function as shipped in ``FAUST_VERSION``; ``tests/unit/test_faust_compat.py`` fails when the
installed faust's source differs, so an upgrade cannot silently change what was copied or relied on.
"""

from __future__ import annotations

FAUST_VERSION = "0.15.3"

UPSTREAM_SHA256: dict[str, str] = {
    # copied and modified: consumer.BatchReadingsConsumer._drain_messages
    "faust.transport.consumer:Consumer._drain_messages": (
        "44a2500309e83c630493f6828af50166ec8d96a0b3e4fb2bab735f704ae93417"
    ),
    # replaced for the readings topic (other topics call it): consumer.BatchReadingsConsumer._new_offset
    "faust.transport.consumer:Consumer._new_offset": (
        "1d2c7ea89a7ad4f1a216c1d51936e569162cd66bd56f889e13fd29c910b58eb0"
    ),
    # extended: consumer.BatchReadingsConsumer.perform_seek reads the ``_read_offset`` it fills
    "faust.transport.consumer:Consumer.perform_seek": (
        "0e8c130ff4b0afd82c0be9c5fd831316e10febc62c94032833911096e156d7c6"
    ),
    # mirrored: internals.set_current_event
    "faust.streams:Stream._set_current_event": (
        "b9a41294b605ac08c44529e087ad0b907a11c587b2e0fcbecf9ad667a4633e61"
    ),
    # called: internals.partition_db
    "faust.stores.rocksdb:Store._db_for_partition": (
        "cb7e67d5f9efc4bced7b7ab09a55fe717c352daad5b693594e3f7ca52a98787f"
    ),
}
