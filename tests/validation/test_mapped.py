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


def test_the_corpus_is_handed_back_after_each_slice_read_or_written_and_the_spool_keeps_every_record(monkeypatch):
    """The normal-form check reads the texts a slice at a time, the spool writes them so, and each hands the slice's
    pages back (a mapped corpus' ``release``): a corpus of 5 records in slices of 2 is released 3 times by each."""
    import khabar.validation.reader as reader
    import khabar.validation.table_spool as table_spool

    monkeypatch.setattr(reader, "PAIRS_SLICE", 2)
    monkeypatch.setattr(table_spool, "CORPUS_SLICE", 2)
    documents = read_documents(repo().documents_file)
    assert documents.height == 5
    released: list[str] = []
    texts = reader.CorpusTexts(documents, release=lambda: released.append("read"))
    assert dict(texts.pairs()) == dict(zip(documents["doc_id"], documents["text"]))
    spool = table_spool.TableSpool(documents, release=lambda: released.append("written"))
    assert released == ["read"] * 3 + ["written"] * 3
    assert pl.read_parquet(spool.paths["documents"]).equals(documents)
