"""``python -m bench.rocksdb_memtables``: what the worker's RocksDB state costs in RSS for new assets,
with no Python-side state at all (issue 14: the worker's RSS beyond its bounded state cache).

The state table is one RocksDB database per readings partition, opened by faust with its default
options (64 MiB write buffers, up to 3 per database, a 2 GiB block cache). Writes stay in memtables
until a write buffer fills, so 8 partitions hold up to 8 x 3 x 64 MiB = 1.5 GiB of records before
RocksDB bounds them. This writes 3 records (594 bytes, the size of a state record) for each of
200,000 new asset ids over 8 such databases and prints RSS and the memtable bytes.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from faust.stores.rocksdb import RocksDBOptions
from rocksdict import WriteBatch

from stream_app.settings import Settings
from stream_app.worker.app import state_table_options

PARTITIONS = 8
RECORD = 594


def rss_mib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024
    return 0


def main(n_assets: int = 200_000, per: int = 3) -> None:
    """The same writes with faust's default options (the baseline) and with the worker's own."""
    for label, options in (
        ("faust defaults", {}),
        ("kilowatch state_table_options", state_table_options(Settings())),
    ):
        print(f"--- {label}: {options or 'faust defaults'}")
        run(n_assets, per, options)


def run(n_assets: int, per: int, options: dict[str, int]) -> None:
    rec = os.urandom(RECORD)
    with tempfile.TemporaryDirectory(prefix="kw-memtables-") as tmp:
        opts = RocksDBOptions(use_rocksdict=True, **options)
        dbs = [opts.open(Path(tmp) / f"p{p}.db") for p in range(PARTITIONS)]
        print(f"{PARTITIONS} databases opened: RSS {rss_mib()} MiB")
        chunk = 1000 // per
        for a0 in range(0, n_assets, chunk):
            batches = [WriteBatch(raw_mode=True) for _ in dbs]
            for a in range(a0, min(a0 + chunk, n_assets)):
                for s in range(per):
                    batches[a % PARTITIONS].put(f"asset-{a:07d}|{s}".encode(), rec)
            for db, wb in zip(dbs, batches, strict=True):
                db.write(wb)
            if a0 % 50_000 < chunk:
                print(f"{a0:>7,} assets: RSS {rss_mib()} MiB")
        mem = sum(int(db.property_value("rocksdb.cur-size-all-mem-tables") or 0) for db in dbs)
        print(
            f"{n_assets:,} assets ({n_assets * per:,} records): RSS {rss_mib()} MiB, "
            f"memtables {mem >> 20} MiB"
        )
        for db in dbs:
            db.close()


if __name__ == "__main__":
    main()
