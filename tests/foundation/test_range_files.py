"""A table cut into ranges of documents: every row of a known document in its range's file, in the rows' order."""

from __future__ import annotations

import random

import polars as pl

from khabar.foundation import range_files


def test_every_row_lands_in_its_ranges_file_in_order_and_unknown_documents_are_left_out(tmp_path):
    rng = random.Random(5)
    documents = [f"d{n:02d}" for n in range(12)]
    ranges = [rng.randrange(4) for _ in documents]
    rows = pl.DataFrame({"doc_id": [rng.choice([*documents, "unknown"]) for _ in range(500)], "row": range(500)})
    batches = rows.to_arrow().to_batches(max_chunksize=37)

    paths = range_files.cut(batches, "doc_id", range_files.RangeOf.of(documents, ranges), lambda index: tmp_path / f"part-{index}.arrow")

    range_of = dict(zip(documents, ranges))
    expected = rows.filter(pl.col("doc_id") != "unknown").with_columns(range=pl.col("doc_id").replace_strict(range_of))
    assert sorted(paths) == sorted(expected["range"].unique().to_list())
    for index, path in paths.items():
        assert range_files.read(path).equals(expected.filter(pl.col("range") == index).drop("range"))
