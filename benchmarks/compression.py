"""Parquet compression levels measured on a built dataset: file bytes and CPU seconds to write and to read.

Every parquet file of a build folder (``khabar build --out FOLDER``) is read
once, then written again with the build's own writer options
(``khabar.dataset.shards.PARQUET_OPTIONS``, ``ROW_GROUP_SIZE``) at each zstd
level, and read back. CPU seconds are this process's (``time.process_time``),
the best of ``--repeat`` runs, so other work on the machine moves them little.

    python benchmarks/compression.py /tmp/khabar-bench/size-1000000/build --levels 1,3,9
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

from khabar.dataset.shards import PARQUET_OPTIONS, ROW_GROUP_SIZE


def measure(tables: dict[str, object], level: int, work: Path, repeat: int) -> tuple[int, float, float]:
    """Total bytes, write CPU seconds and read CPU seconds of all ``tables`` at zstd ``level``."""
    options = {**PARQUET_OPTIONS, "compression_level": level}
    best_write = best_read = float("inf")
    size = 0
    for _ in range(repeat):
        started = time.process_time()
        for name, table in tables.items():
            with pq.ParquetWriter(work / name, table.schema, **options) as writer:
                writer.write_table(table, row_group_size=ROW_GROUP_SIZE)
        best_write = min(best_write, time.process_time() - started)
        size = sum((work / name).stat().st_size for name in tables)
        started = time.process_time()
        for name in tables:
            pq.read_table(work / name)
        best_read = min(best_read, time.process_time() - started)
    return size, best_write, best_read


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("build", type=Path, help="a folder written by khabar build")
    parser.add_argument("--levels", default="1,3,9", help="comma-separated zstd levels (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    files = sorted((args.build / "data").rglob("*.parquet"))
    if not files:
        print(f"compression: no parquet file under {args.build / 'data'}", file=sys.stderr)
        return 2
    tables = {f"{i}.parquet": pq.read_table(path) for i, path in enumerate(files)}
    rows = sum(t.num_rows for t in tables.values())
    arrow_mb = sum(t.nbytes for t in tables.values()) / 2**20
    built = sum(path.stat().st_size for path in files)
    print(f"{len(files)} files, {rows:,} rows, {arrow_mb:,.1f} MB in arrow, {built:,} bytes as built (level {PARQUET_OPTIONS['compression_level']})")
    print()
    print("| zstd level | bytes | MB | write CPU s | read CPU s |")
    print("|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="khabar-compression-") as work:
        for level in (int(x) for x in args.levels.split(",") if x.strip()):
            size, write, read = measure(tables, level, Path(work), args.repeat)
            print(f"| {level} | {size:,} | {size / 2**20:,.1f} | {write:.2f} | {read:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
