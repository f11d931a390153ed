"""Issue 14: the worker's memory bounds reach what holds the memory (the state table's RocksDB
databases, the alert-episode tracker); the figures are in bench/rocksdb_memtables.py and
bench/asset_memory.py."""

from __future__ import annotations

from pathlib import Path

from stream_app.alerting.service import AlertService
from stream_app.settings import Settings
from stream_app.worker.app import create_app

MIB = 1024 * 1024


def test_the_state_table_opens_rocksdb_with_the_bounded_options(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path, rocksdb_write_buffer_mib=4, rocksdb_block_cache_mib=2)
    _app, ctx = create_app(settings)
    opts = ctx.state_table.options  # what faust passes to RocksDBOptions for each partition's database
    assert opts is not None
    assert opts["write_buffer_size"] == 4 * MIB and opts["max_write_buffer_number"] == 2
    assert opts["block_cache_size"] == 2 * MIB  # faust's default is 2 GiB per partition


def test_the_alert_tracker_remembers_at_most_the_configured_assets() -> None:
    service = AlertService(Settings(tracked_assets_max=7), pool=None)
    assert service.tracker.max_assets == 7
