"""The corpus mapped from a temporary file (:mod:`khabar.validation.mapped`): the same frame, no file left behind."""

from __future__ import annotations

import tempfile

import polars as pl

from khabar.foundation.paths import repo
from khabar.validation.mapped import MappedFrame
from khabar.validation.reader import read_documents


def test_a_mapped_frame_is_the_frame_it_was_made_from_before_and_after_its_pages_are_handed_back(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    documents = read_documents(repo().documents_file)
    mapped = MappedFrame(documents, "the corpus records")
    assert list(tmp_path.iterdir()) == [], "the file has no name in the temporary folder"
    assert mapped.frame.schema == documents.schema and mapped.frame.equals(documents)
    texts = mapped.frame["text"].to_list()
    mapped.release()
    assert mapped.frame["text"].to_list() == texts and mapped.frame.equals(documents)


def test_a_mapped_frame_keeps_empty_frames_nulls_and_any_text():
    frame = pl.DataFrame(
        {"doc_id": ["a", "b", "c"], "text": ["قال الوزير\u2028إن", "", None], "n": [1, None, 3]},
        schema={"doc_id": pl.String, "text": pl.String, "n": pl.Int64},
    )
    for rows in (frame, frame.clear()):
        mapped = MappedFrame(rows, "rows")
        assert mapped.frame.schema == rows.schema and mapped.frame.equals(rows)
