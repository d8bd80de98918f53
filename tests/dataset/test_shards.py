"""A split's shard written part by part has the bytes of one write of the whole, and the card's byte count."""

from __future__ import annotations

import errno
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from khabar.dataset.shards import PARQUET_OPTIONS, ROW_GROUP_SIZE, ArrowBytes, ShardWriter, arrow_bytes, combined

ENTITY = pa.struct([("id", pa.string()), ("start", pa.int64()), ("entity_id", pa.string()), ("known", pa.bool_())])


def whole_table(rows: int, seed: int = 7) -> pa.Table:
    """Rows shaped like the configs': strings with nulls, lists of ints, lists of lists, lists of structs with nulls."""
    rng = random.Random(seed)
    words = ["قال", "الرئيس", "في", "بغداد", "", "Reuters", "٢٠٢٤"]
    return pa.table(
        {
            "id": [f"doc-{i:06d}" for i in range(rows)],
            "text": [None if rng.random() < 0.1 else " ".join(rng.choices(words, k=rng.randint(0, 6))) for _ in range(rows)],
            "tags": [[rng.randint(0, 40) for _ in range(rng.randint(0, 5))] for _ in range(rows)],
            "nested": [[[rng.randint(0, 9) for _ in range(rng.randint(0, 2))] for _ in range(rng.randint(0, 3))] for _ in range(rows)],
            "entities": [
                [{"id": f"r{j}", "start": j, "entity_id": None if rng.random() < 0.5 else f"Q{j}", "known": rng.random() < 0.5} for j in range(rng.randint(0, 3))]
                for _ in range(rows)
            ],
            "score": pa.array([None if rng.random() < 0.05 else rng.random() for _ in range(rows)], pa.float64()),
        },
        schema=pa.schema([("id", pa.string()), ("text", pa.string()), ("tags", pa.list_(pa.int64())), ("nested", pa.list_(pa.list_(pa.int64()))),
                          ("entities", pa.list_(ENTITY)), ("score", pa.float64())]),
    )


def parts(table: pa.Table, seed: int) -> list[pa.Table]:
    """``table`` cut at random places (some parts empty), each part with chunks of its own."""
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(table.num_rows + 1), 6))
    bounds = [0, *cuts, table.num_rows]
    return [pa.concat_tables([table.slice(lo, (hi - lo) // 2), table.slice(lo + (hi - lo) // 2, hi - lo - (hi - lo) // 2)]) for lo, hi in zip(bounds, bounds[1:])]


def test_arrow_bytes_counted_by_parts_are_pyarrows_bytes_of_the_whole():
    table = whole_table(3_000)
    for seed in range(5):
        counted = ArrowBytes(table.schema)
        for part in parts(table, seed):
            counted.add(combined(part))
        assert counted.total == arrow_bytes(table)
    # and the count is not trivially right: one column more or less changes it
    assert arrow_bytes(table.drop_columns(["text"])) != arrow_bytes(table)


def test_a_shard_fed_in_parts_has_the_bytes_of_one_write_of_the_whole(tmp_path):
    table = whole_table(2 * ROW_GROUP_SIZE + 1_234)
    expected = tmp_path / "whole.parquet"
    pq.write_table(combined(table), expected, row_group_size=ROW_GROUP_SIZE, **PARQUET_OPTIONS)
    writer = ShardWriter("train", tmp_path / "data" / "fed.parquet", tmp_path / "waiting.arrow")
    for part in parts(table, seed=3):
        writer.append(part)
    shard = writer.close()
    written = tmp_path / "data" / "fed.parquet"
    assert written.read_bytes() == expected.read_bytes()
    assert pq.ParquetFile(written).metadata.num_row_groups == 3
    assert shard == ("train", table.num_rows, arrow_bytes(table), written.stat().st_size)


def test_a_split_without_rows_gets_no_file_and_a_counted_shard_none(tmp_path):
    empty = ShardWriter("test", tmp_path / "empty.parquet", tmp_path / "waiting.arrow")
    empty.append(whole_table(0))
    assert empty.close() == ("test", 0, 0, 0) and not (tmp_path / "empty.parquet").exists()
    counted = ShardWriter("validation", None, tmp_path / "waiting.arrow")
    counted.append(whole_table(10))
    assert counted.close() == ("validation", 10, arrow_bytes(whole_table(10)), 0)
    assert list(tmp_path.iterdir()) == []


def test_rows_waiting_for_their_row_group_wait_on_disk_and_come_back_in_order(tmp_path):
    table = whole_table(ROW_GROUP_SIZE + 2_500)
    expected = tmp_path / "whole.parquet"
    pq.write_table(combined(table), expected, row_group_size=ROW_GROUP_SIZE, **PARQUET_OPTIONS)
    waiting = tmp_path / "waiting"
    writer = ShardWriter("train", tmp_path / "fed.parquet", waiting)
    first = combined(table.slice(0, ROW_GROUP_SIZE - 1))
    before = pa.total_allocated_bytes()
    writer.append(first)
    del first  # the writer holds no buffer of the rows it set aside: they are in its folder, a file per column
    assert pa.total_allocated_bytes() < before - 1_000_000
    assert sorted(p.name for p in waiting.iterdir()) == [f"{i}.arrow" for i in range(table.num_columns)]
    writer.append(table.slice(ROW_GROUP_SIZE - 1))  # fills the first group: the rest waits again
    assert writer.rows == ROW_GROUP_SIZE and waiting.is_dir()
    shard = writer.close()
    assert not waiting.exists(), "the folder of the waiting rows is removed once they are written"
    assert (tmp_path / "fed.parquet").read_bytes() == expected.read_bytes()
    assert shard == ("train", table.num_rows, arrow_bytes(table), (tmp_path / "fed.parquet").stat().st_size)


def test_rows_that_cannot_be_set_aside_name_the_folder_they_were_to_wait_in(tmp_path):
    """The waiting rows live in a temporary folder, not the output's: when it cannot take them (here its parent is a
    file; a full disk alike), the error names that folder, so the build's one line says which place failed."""
    parent = tmp_path / "not-a-folder"
    parent.write_text("")
    writer = ShardWriter("train", tmp_path / "fed.parquet", parent / "waiting")
    with pytest.raises(OSError) as raised:
        writer.append(combined(whole_table(10)))
    assert str(parent / "waiting") in str(raised.value.strerror) and raised.value.errno == errno.ENOTDIR
    assert writer.rows == 0 and not (tmp_path / "fed.parquet").exists()
