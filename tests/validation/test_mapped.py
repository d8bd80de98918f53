"""The corpus mapped from a temporary file (:mod:`khabar.validation.mapped`): the same frame, no file left behind."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest

from khabar.annotation.scheme import load_scheme
from khabar.foundation.errors import KhabarError
from khabar.foundation.paths import repo
from khabar.validation.api import ValidationResult, check_exports, validate_exports
from khabar.validation.mapped import MappedFrame
from khabar.validation.reader import Tables, read_documents
from khabar.validation.report import render
from khabar.validation.table_spool import TABLE_NAMES
from tests.reliability.reliability_support import SHARED


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


CASES = sorted(path.parent for path in (Path(__file__).parents[1] / "reliability" / "bad_inputs").glob("*/export.json"))


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_a_validation_with_the_corpus_mapped_is_the_one_with_the_corpus_held(case):
    """Every export of the reliability cases, validated with the corpus mapped (``validate_exports``) and held as
    read (``check_exports`` on ``read_documents``' frame): the same JSON report and kept tables, or the same refusal."""
    documents_file = case / "documents.jsonl" if (case / "documents.jsonl").exists() else SHARED / "documents.jsonl"
    export = case / "export.json"

    def validated(run: Callable[[], ValidationResult]) -> tuple[str, Tables | None]:
        try:
            result = run()
        except KhabarError as exc:
            return str(exc), None
        return render(result, "json"), result.spool.load()

    mapped = validated(lambda: validate_exports([export], documents_file))
    held = validated(lambda: check_exports([export], read_documents(documents_file), load_scheme()))
    assert mapped[0] == held[0]
    if mapped[1] is not None and held[1] is not None:
        for name in TABLE_NAMES:
            assert getattr(mapped[1], name).equals(getattr(held[1], name)), name
    else:
        assert mapped[1] is held[1] is None


class _Held:
    """A corpus held as read, with :class:`MappedFrame`'s face (``repair_exports`` before it mapped the corpus)."""

    def __init__(self, frame: pl.DataFrame, what: str) -> None:
        self.frame = frame

    def release(self) -> None:
        pass


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_a_repair_with_the_corpus_mapped_is_the_one_with_the_corpus_held(case, tmp_path, monkeypatch):
    """Every export of the reliability cases, repaired with the corpus mapped and held as read: the same changes in
    the same order and the same rewritten bytes, or the same refusal."""
    import shutil

    import khabar.validation.repair as repair

    documents_file = case / "documents.jsonl" if (case / "documents.jsonl").exists() else SHARED / "documents.jsonl"

    def repaired(name: str) -> tuple[list[repair.Change] | str, bytes]:
        export = tmp_path / name / "export.json"
        export.parent.mkdir()
        shutil.copyfile(case / "export.json", export)
        try:
            changes: list[repair.Change] | str = list(repair.repair_exports([export], documents_file))
        except KhabarError as exc:
            changes = str(exc).replace(str(export), "EXPORT")
        return changes, export.read_bytes()

    mapped = repaired("mapped")
    monkeypatch.setattr(repair, "MappedFrame", _Held)
    held = repaired("held")
    named = [change if isinstance(change, str) else [replace(c, file="EXPORT") for c in change] for change, _ in (mapped, held)]
    assert named[0] == named[1] and mapped[1] == held[1]
