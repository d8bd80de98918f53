"""Corpus records whose values break the record's rules (khabar.foundation.records) are refused by every reader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

FIRST = "81ec20757aeac4d6"  # the doc_id of the committed corpus's first record
SECOND = "c59ea302dcd9b174"


def _edit_records(documents: Path, **changes: dict) -> None:
    """Each record whose doc_id is a key of ``changes`` given those values (the doc_id of the first is FIRST)."""
    lines = documents.read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    edited = [record | changes.get(record["doc_id"], {}) for record in records]
    documents.write_text("".join(json.dumps(record, ensure_ascii=False) + "\n" for record in edited), encoding="utf-8")


BROKEN = {
    "a-month-13": ({FIRST: {"published": "2024-13-45"}}, 1, "field 'published' is «2024-13-45», not a date written YYYY-MM-DD"),
    "a-30-february": ({FIRST: {"published": "2024-02-30"}}, 1, "field 'published' is «2024-02-30», not a date written YYYY-MM-DD"),
    "no-date-nor-evidence": (
        {FIRST: {"published": None, "published_evidence": " "}}, 1,
        "field 'published_evidence' is empty while 'published' is not given: a page without its date needs the evidence of when it was published",
    ),
    "english": ({FIRST: {"language": "en"}}, 1, "field 'language' is «en», not the corpus's language, 'ar'"),
    "no-source": ({FIRST: {"source": ""}}, 1, "field 'source' is empty"),
    "no-story": ({FIRST: {"story": ""}}, 1, "field 'story' is empty"),
    "no-file": ({FIRST: {"file": ""}}, 1, "field 'file' is empty"),
    "no-text": ({FIRST: {"text": ""}}, 1, "field 'text' is empty"),
    "a-doc-id-twice": ({SECOND: {"doc_id": FIRST}}, 2, f"field 'doc_id' is «{FIRST}», which an earlier record has too: a doc_id names one record"),
    "superseded-by-nothing": ({FIRST: {"superseded_by": "nonexistent"}}, 1, "field 'superseded_by' is «nonexistent», which is no record's doc_id"),
    "superseded-by-itself": ({FIRST: {"superseded_by": FIRST}}, 1, f"field 'superseded_by' is «{FIRST}», the record's own doc_id"),
    "superseded-in-a-cycle": (
        {FIRST: {"superseded_by": SECOND}, SECOND: {"superseded_by": FIRST}}, 1,
        f"field 'superseded_by' is «{SECOND}», which leads back to this record: no record of the chain is current",
    ),
}


@pytest.mark.parametrize("command", ["validate", "build"])
@pytest.mark.parametrize(("changes", "line", "problem"), BROKEN.values(), ids=BROKEN.keys())
def test_a_record_that_breaks_a_rule_of_records_is_one_line_naming_file_line_document_field_and_value_and_nothing_is_built(
    repo_copy: Path, khabar, command: str, changes: dict, line: int, problem: str,
) -> None:
    """validate and build took each of these with exit 0, and build released them (a date of month 13 as a string)."""
    documents = repo_copy / "annotation" / "corpus" / "documents.jsonl"
    _edit_records(documents, **changes)
    out = repo_copy.parent / "out"
    run = khabar("--root", repo_copy, command, *(["--out", out] if command == "build" else []))
    assert run.status == 2, run.output
    document = json.loads(documents.read_text(encoding="utf-8").splitlines()[line - 1])["doc_id"]
    assert run.err.splitlines()[-1] == f"khabar {command}: error: {documents}: document {document}: line {line}: {problem}"
    assert not out.exists()


def test_a_page_without_a_title_is_a_record_the_readers_take(repo_copy: Path, khabar) -> None:
    """A title may be empty: the committed corpus has a page without one (RT Arabic's)."""
    documents = repo_copy / "annotation" / "corpus" / "documents.jsonl"
    assert any(json.loads(line)["title"] == "" for line in documents.read_text(encoding="utf-8").splitlines())
    _edit_records(documents, **{FIRST: {"title": ""}})
    run = khabar("--root", repo_copy, "validate")
    assert run.status == 0, run.output


def test_two_current_records_of_one_page_are_refused_by_ingest_which_keeps_a_pages_records_by_its_file(repo_copy: Path, khabar) -> None:
    """The other readers do not read ``file`` (it is not released): a corpus made elsewhere may name its records as it
    likes, and validate takes it; ingest, which would keep one of the two, refuses it and writes nothing."""
    documents = repo_copy / "annotation" / "corpus" / "documents.jsonl"
    _edit_records(documents, **{SECOND: {"file": "000_158dcc2fb926e4d5.txt"}})
    edited = documents.read_bytes()
    assert khabar("--root", repo_copy, "validate").status == 0
    run = khabar("--root", repo_copy, "ingest")
    assert run.status == 2, run.output
    assert run.err.splitlines()[-1] == (
        f"khabar ingest: error: {documents}: document {SECOND}: line 2: field 'file' is «000_158dcc2fb926e4d5.txt», which an earlier current "
        "record (superseded_by null) has too: a page has one current record"
    )
    assert documents.read_bytes() == edited
