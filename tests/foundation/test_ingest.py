"""khabar ingest: the seed pages, id stability, the no-overwrite rule and bad input."""

import csv
import io
import itertools
import json
import shutil
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from khabar.annotation import ingest as ingest_module
from khabar.annotation.ingest import doc_id_for, ingest, load_records
from khabar.annotation.normalize import normalize_text
from khabar.foundation.errors import KhabarError
from khabar.foundation.export_files import export_paths
from khabar.foundation.paths import repo
from khabar.validation.reader import read_documents
from tests.cli_support import run_khabar


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A copy of the committed corpus without its records."""
    corpus = tmp_path / "corpus"
    shutil.copytree(repo().corpus_dir, corpus, ignore=shutil.ignore_patterns("documents.jsonl"))
    return corpus


def run_ingest(corpus: Path) -> int:
    return run_khabar("ingest", "--corpus", str(corpus), "--exports")  # the flag alone: no export protects a document


def test_five_seed_pages_become_five_documents(corpus):
    assert run_ingest(corpus) == 0
    records = load_records(corpus / "documents.jsonl")
    assert len(records) == 5
    for record in records:
        seed = corpus / "pages" / record.file
        assert record.text == normalize_text(seed.read_text(encoding="utf-8"))
        assert record.doc_id == doc_id_for(record.text)
        assert record.language == "ar"
    assert {r.story for r in records} == {"us-coalition-iraq-2024"}


def test_metadata_comes_from_the_evidence(corpus):
    run_ingest(corpus)
    by_file = {r.file: r for r in load_records(corpus / "documents.jsonl")}
    assert by_file["000_158dcc2fb926e4d5.txt"].published == "2024-03-24"
    assert by_file["002_a4f69e2f7e4ae359.txt"].published == "2024-09-24"
    assert by_file["003_847c99fe3f1cdf92.txt"].published == "2024-09-01"
    for undated in ("001_ddbb9326de54cf8b.txt", "004_7ffaebf57031e60d.txt"):
        assert by_file[undated].published is None
        assert by_file[undated].published_evidence
    assert [by_file[f].source for f in sorted(by_file)] == ["asharq-al-awsat", "rt-arabic", "alhurra", "al-arab", "shafaq-news"]


def test_committed_records_are_up_to_date():
    """The committed documents.jsonl is what ingest makes of the committed pages."""
    committed = (repo().corpus_dir / "documents.jsonl").read_bytes()
    report = ingest(repo().corpus_dir, export_paths(None))
    assert (repo().corpus_dir / "documents.jsonl").read_bytes() == committed
    assert len(report.unchanged) == 5 and not report.added


def test_reingest_is_a_no_op(corpus):
    run_ingest(corpus)
    first = (corpus / "documents.jsonl").read_bytes()
    report = ingest(corpus, [])
    assert len(report.unchanged) == 5 and not (report.added or report.replaced or report.superseded)
    assert (corpus / "documents.jsonl").read_bytes() == first


def test_doc_id_is_content_bound_and_stable():
    assert doc_id_for("نص") == doc_id_for("نص")
    assert doc_id_for("نص") != doc_id_for("نص.")
    assert len(doc_id_for("نص")) == 16 and int(doc_id_for("نص"), 16) >= 0
    # a BOM or CRLF in the raw page does not change the id: normalisation comes first
    assert doc_id_for(normalize_text("\ufeffسطر\r\n")) == doc_id_for("سطر\n")


def _change_page(corpus: Path, name: str) -> None:
    page = corpus / "pages" / name
    page.write_text(page.read_text(encoding="utf-8") + "\nسطر مضاف", encoding="utf-8")


def test_changed_text_of_an_unannotated_document_replaces_it(corpus):
    run_ingest(corpus)
    old = {r.file: r.doc_id for r in load_records(corpus / "documents.jsonl")}
    _change_page(corpus, "004_7ffaebf57031e60d.txt")
    report = ingest(corpus, [])
    records = load_records(corpus / "documents.jsonl")
    assert len(records) == 5
    assert report.replaced and report.replaced[0][0] == old["004_7ffaebf57031e60d.txt"]


def test_changed_text_never_overwrites_an_annotated_document(corpus):
    run_ingest(corpus)
    old = next(r for r in load_records(corpus / "documents.jsonl") if r.file.startswith("004"))
    export = [{"id": 1, "data": {"text": old.text, "doc_id": old.doc_id}, "annotations": [{"id": 7, "result": []}]}]
    (corpus.parent / "project.json").write_text(json.dumps(export), encoding="utf-8")
    _change_page(corpus, old.file)
    report = ingest(corpus, [corpus.parent / "project.json"])
    records = load_records(corpus / "documents.jsonl")
    assert len(records) == 6
    kept = next(r for r in records if r.doc_id == old.doc_id)
    assert kept.text == old.text and kept.superseded_by == report.superseded[0][1]
    new = next(r for r in records if r.doc_id == kept.superseded_by)
    assert new.text.endswith("سطر مضاف") and new.superseded_by is None


PAGE = "004_7ffaebf57031e60d.txt"


def _annotate(corpus: Path, *records) -> Path:
    """An export with an annotated task for each of ``records``."""
    export = corpus.parent / f"export-{len(list(corpus.parent.glob('export-*.json')))}.json"
    tasks = [{"id": n, "data": r.task_data(), "annotations": [{"id": n, "result": []}]} for n, r in enumerate(records, start=1)]
    export.write_text(json.dumps(tasks), encoding="utf-8")
    return export


def _records_of(corpus: Path, page: str) -> dict[str, str | None]:
    """The page's records, each doc_id with its superseded_by, read as every command reads them."""
    return {r.doc_id: r.superseded_by for r in load_records(corpus / "documents.jsonl") if r.file == page}


@pytest.mark.parametrize("newer_annotated", [True, False], ids=["newer-annotated", "newer-not-annotated"])
def test_a_page_changed_back_to_an_annotated_earlier_text_makes_that_record_current_again(corpus, khabar, newer_annotated: bool):
    """Text A annotated, changed to B (A kept), changed back to A: ingest wrote a current record of A beside the
    kept one (a doc_id twice, A → B → A), and every command then refused the corpus. A's record is current again;
    B is kept, superseded by A, while annotated, else replaced; ingest once more changes nothing."""
    assert run_ingest(corpus) == 0
    page = corpus / "pages" / PAGE
    a_text = page.read_bytes()
    a = next(r for r in load_records(corpus / "documents.jsonl") if r.file == PAGE)
    exports = [_annotate(corpus, a)]
    _change_page(corpus, PAGE)
    assert khabar("ingest", "--corpus", corpus, "--exports", *exports).status == 0
    b = next(r for r in load_records(corpus / "documents.jsonl") if r.file == PAGE and r.superseded_by is None)
    if newer_annotated:
        exports.append(_annotate(corpus, b))
    page.write_bytes(a_text)
    run = khabar("ingest", "--corpus", corpus, "--exports", *exports)
    assert run.status == 0, run.err
    assert _records_of(corpus, PAGE) == ({a.doc_id: None, b.doc_id: a.doc_id} if newer_annotated else {a.doc_id: None})
    assert f"restored   {a.doc_id}: a page has this kept text again, so it is current again" in run.out
    assert khabar("validate", *exports, "--documents", corpus / "documents.jsonl").status in (0, 1)  # read, not refused
    written = (corpus / "documents.jsonl").read_bytes()
    assert khabar("ingest", "--corpus", corpus, "--exports", *exports).status == 0
    assert (corpus / "documents.jsonl").read_bytes() == written


def test_a_kept_record_whose_newer_text_is_replaced_is_superseded_by_the_pages_text(corpus, khabar):
    """A annotated, changed to B (A kept, superseded by B), B not annotated and changed to C: B was replaced and A
    left superseded by a doc_id no record has, which every command then refused. A is superseded by C."""
    assert run_ingest(corpus) == 0
    a = next(r for r in load_records(corpus / "documents.jsonl") if r.file == PAGE)
    export = _annotate(corpus, a)
    _change_page(corpus, PAGE)
    assert khabar("ingest", "--corpus", corpus, "--exports", export).status == 0
    _change_page(corpus, PAGE)
    run = khabar("ingest", "--corpus", corpus, "--exports", export)
    assert run.status == 0 and "replaced" in run.out, run.err
    [c] = [doc_id for doc_id, by in _records_of(corpus, PAGE).items() if by is None]
    assert _records_of(corpus, PAGE) == {a.doc_id: c, c: None}


def test_the_records_of_a_page_no_longer_there_go_with_it_unless_annotations_refer_to_them(corpus, khabar):
    """A page whose earlier text is kept for its annotations, taken out of pages/ and pages.csv: its current record
    went and its kept one stayed, superseded by a doc_id no record has. While the annotations refer to it, the removal
    is refused and nothing written; once they are taken away, both go, each said."""
    assert run_ingest(corpus) == 0
    a = next(r for r in load_records(corpus / "documents.jsonl") if r.file == PAGE)
    export = _annotate(corpus, a)
    _change_page(corpus, PAGE)
    assert khabar("ingest", "--corpus", corpus, "--exports", export).status == 0
    gone = _records_of(corpus, PAGE)
    (corpus / "pages" / PAGE).unlink()
    pages_csv = corpus / "pages.csv"
    pages_csv.write_text("".join(line for line in pages_csv.read_text(encoding="utf-8").splitlines(keepends=True) if not line.startswith(PAGE)), encoding="utf-8")
    written = (corpus / "documents.jsonl").read_bytes()
    run = khabar("ingest", "--corpus", corpus, "--exports", export)
    assert run.status == 2 and run.err.count("\n") == 1 and f"page {PAGE!r} is no longer in pages.csv, but annotations refer to its record {a.doc_id}" in run.err, run.err
    assert (corpus / "documents.jsonl").read_bytes() == written
    run = khabar("ingest", "--corpus", corpus, "--exports")
    assert run.status == 0, run.err
    assert _records_of(corpus, PAGE) == {} and len(load_records(corpus / "documents.jsonl")) == 4
    assert sorted(line for line in run.out.splitlines() if line.startswith("removed")) == sorted(
        f"removed    {doc_id}: its page {PAGE} is no longer in pages.csv" for doc_id in gone
    )


def test_pages_that_swap_texts_keep_one_record_of_each_text(corpus, khabar):
    """Two pages' texts swapped, one of them annotated: its record was kept superseded while the other page's new
    record had its doc_id (a doc_id twice). The record of each text is the current record of the page that has it."""
    assert run_ingest(corpus) == 0
    other = "003_847c99fe3f1cdf92.txt"
    before = {r.file: r.doc_id for r in load_records(corpus / "documents.jsonl")}
    export = _annotate(corpus, *(r for r in load_records(corpus / "documents.jsonl") if r.file == PAGE))
    texts = {name: (corpus / "pages" / name).read_bytes() for name in (PAGE, other)}
    (corpus / "pages" / PAGE).write_bytes(texts[other])
    (corpus / "pages" / other).write_bytes(texts[PAGE])
    run = khabar("ingest", "--corpus", corpus, "--exports", export)
    assert run.status == 0, run.err
    assert _records_of(corpus, PAGE) == {before[other]: None} and _records_of(corpus, other) == {before[PAGE]: None}
    assert f"new text   {before[other]}; {before[PAGE]} stays, as the text of {other}" in run.out


def test_two_pages_of_one_text_are_refused_naming_both_and_nothing_is_written(corpus, khabar):
    """Their records would have one doc_id, which every command refuses."""
    assert run_ingest(corpus) == 0
    written = (corpus / "documents.jsonl").read_bytes()
    shutil.copyfile(corpus / "pages" / "003_847c99fe3f1cdf92.txt", corpus / "pages" / PAGE)
    run = khabar("ingest", "--corpus", corpus, "--exports")
    doc_id = doc_id_for(normalize_text((corpus / "pages" / PAGE).read_text(encoding="utf-8")))
    assert run.status == 2 and run.err.splitlines() == [
        f"khabar ingest: error: {corpus / 'pages' / PAGE}: the page's text is that of '003_847c99fe3f1cdf92.txt' "
        f"(doc_id {doc_id}): a doc_id names one record, so one of the two pages must go"
    ]
    assert (corpus / "documents.jsonl").read_bytes() == written


def test_records_their_readers_would_refuse_are_not_written(tmp_path: Path) -> None:
    """The check every writer of records makes: the readers' rules, named as the readers name them, nothing written."""
    path = tmp_path / "documents.jsonl"
    record = ingest_module.DocumentRecord(**RECORD)
    with pytest.raises(KhabarError) as refused:
        ingest_module.write_records(path, [record, replace(record, file="b.txt")], over=None)
    assert str(refused.value) == (
        f"{path}: document d1: not written: its readers would refuse it: line 2: field 'doc_id' is «d1», which an earlier record has too: a doc_id names one record"
    )
    assert not path.exists()


@pytest.mark.parametrize("there", [True, False], ids=["edited", "made"])
def test_records_saved_while_ingest_reads_the_pages_are_kept_and_the_write_refused(corpus, khabar, monkeypatch, there: bool):
    """``khabar ingest`` read documents.jsonl, then the pages, and wrote its records over the file: records saved
    meanwhile (another ingest's, an editor's) were lost, and so was a file made where it found none. The records are
    put in place only over the bytes read; run again, ingest brings the saved file up to date."""
    documents = corpus / "documents.jsonl"
    if there:
        assert run_ingest(corpus) == 0
        _change_page(corpus, "004_7ffaebf57031e60d.txt")
    saved = "".join(documents.read_text(encoding="utf-8").splitlines(keepends=True)[:2]) if there else ""
    reading = ingest_module.read_page

    def saved_meanwhile(path: Path) -> str:
        documents.write_text(saved, encoding="utf-8")
        return reading(path)

    monkeypatch.setattr(ingest_module, "read_page", saved_meanwhile)
    happened = "changed on disk since it was read" if there else "made on disk since the command found none there"
    run = khabar("ingest", "--corpus", corpus, "--exports")
    assert run.status == 2 and f"{documents}: {happened}; not written (run the command again)" in run.err, run.err
    assert documents.read_text(encoding="utf-8") == saved
    assert sorted(p.name for p in corpus.iterdir()) == ["documents.jsonl", "pages", "pages.csv", "sources.csv"], "no staged file left beside it"
    monkeypatch.undo()
    assert run_ingest(corpus) == 0 and len(load_records(documents)) == 5


@pytest.mark.parametrize(
    "content, problem",
    [
        (b"", "empty page"),
        (b" \n\t\n", "empty page"),
        (b"\xff\xfe\x00\x00binary", "binary file"),
        ("نص عربي".encode("cp1256"), "not UTF-8"),
    ],
)
def test_bad_pages_are_refused_naming_the_file(corpus, capsys, content, problem):
    (corpus / "pages" / "004_7ffaebf57031e60d.txt").write_bytes(content)
    assert run_ingest(corpus) == 2
    err = capsys.readouterr().err
    assert problem in err and "004_7ffaebf57031e60d.txt" in err
    assert "Traceback" not in err


def test_page_without_metadata_is_refused(corpus, capsys):
    (corpus / "pages" / "005_new.txt").write_text("خبر جديد", encoding="utf-8")
    assert run_ingest(corpus) == 2
    err = capsys.readouterr().err
    assert "005_new.txt" in err and "missing metadata" in err


@pytest.mark.parametrize(
    "edit, problem",
    [
        (lambda rows: rows.replace(",asharq-al-awsat,", ",nowhere,", 1), "unknown source 'nowhere'"),
        (lambda rows: rows.replace(",us-coalition-iraq-2024", ",", 1), "'story' is empty"),
        (lambda rows: rows.replace("file,source,", "file,outlet,", 1), "lacks 'source'"),
    ],
)
def test_bad_metadata_is_refused(corpus, capsys, edit, problem):
    pages = corpus / "pages.csv"
    pages.write_text(edit(pages.read_text(encoding="utf-8")), encoding="utf-8")
    assert run_ingest(corpus) == 2
    err = capsys.readouterr().err
    assert problem in err and "pages.csv" in err


def _edit_rows(change):
    """An edit of pages.csv as CSV: ``change(rows)`` on its rows (the header first), written back as the csv module writes."""
    def edit(text: str) -> str:
        rows = list(csv.reader(io.StringIO(text, newline="")))
        change(rows)
        written = io.StringIO()
        csv.writer(written, lineterminator="\n").writerows(rows)
        return written.getvalue()

    return edit


@pytest.mark.parametrize(
    "edit, line, problem",
    [
        (_edit_rows(lambda rows: rows[1].append("surplus")), 2, "8 values where the header has 7 columns: «surplus» has no column"),
        (_edit_rows(lambda rows: rows[1].pop()), 2, "6 values where the header has 7 columns: no value for 'story'"),
        (_edit_rows(lambda rows: rows[2].__delitem__(slice(2, None))), 3,
         "2 values where the header has 7 columns: no value for 'title', 'published', 'published_evidence', 'url', 'story'"),
        (_edit_rows(lambda rows: rows[3].__setitem__(3, "2024-13-45")), 4, "'published' is «2024-13-45», not a date written YYYY-MM-DD"),
        (_edit_rows(lambda rows: rows[3].__setitem__(3, "24/09/2024")), 4, "'published' is «24/09/2024», not a date written YYYY-MM-DD"),
        (_edit_rows(lambda rows: rows[3].__setitem__(3, "2024-9-24")), 4, "'published' is «2024-9-24», not a date written YYYY-MM-DD"),
        # a title over two lines: the row after it starts a line further down
        (_edit_rows(lambda rows: (rows[1].__setitem__(2, "عنوان\nعلى سطرين"), rows[3].__setitem__(3, "2024-02-30"))), 5,
         "'published' is «2024-02-30», not a date written YYYY-MM-DD"),
        (lambda text: text + '005.txt,al-arab,"a title never closed,2024-01-01,e,,s\n', 7, "not CSV: unexpected end of data"),
        (lambda text: text.replace(",2024-09-24,", ',"2024-09-24"x,', 1), 4, "not CSV: ',' expected after '\"'"),
    ],
    ids=["extra-value", "missing-value", "two-values", "month-13", "day-first", "one-digit-month", "after-a-two-line-title", "open-quote",
         "text-after-a-quote"],
)
def test_a_pages_csv_row_that_is_not_one_value_per_column_or_a_bad_date_is_one_line_naming_file_line_and_value(corpus, capsys, edit, line, problem):
    """An extra value was dropped unread, a missing one a null title in the records or a traceback, a date of month 13
    written as it was, and a quote left open took the rows after it for one title: "'story' is empty"."""
    pages = corpus / "pages.csv"
    pages.write_text(edit(pages.read_text(encoding="utf-8")), encoding="utf-8")
    assert run_ingest(corpus) == 2
    [message] = capsys.readouterr().err.splitlines()
    assert message.startswith(f"khabar ingest: error: {pages}:{line}: {problem}"), message
    assert not (corpus / "documents.jsonl").exists()


def test_a_sources_csv_row_that_is_not_one_value_per_column_is_one_line_naming_file_and_line(corpus, capsys):
    sources = corpus / "sources.csv"
    sources.write_text(sources.read_text(encoding="utf-8") + "bbc,بي بي سي,BBC,bbc.com\n", encoding="utf-8")
    assert run_ingest(corpus) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"khabar ingest: error: {sources}:7: 4 values where the header has 5 columns: no value for 'country'"
    ]


def test_metadata_for_a_missing_page_is_refused(corpus, capsys):
    (corpus / "pages" / "003_847c99fe3f1cdf92.txt").unlink()
    assert run_ingest(corpus) == 2
    assert "003_847c99fe3f1cdf92.txt" in capsys.readouterr().err


RECORD = {"doc_id": "d1", "file": "a.txt", "text": "قال", "source": "s", "title": "t", "published": None,
          "published_evidence": "e", "url": None, "story": "st", "language": "ar", "superseded_by": None}


@pytest.mark.parametrize(("escaped", "field"), [("\\ud800", "text"), ("x\\udc00", "title"), ("\\ud800\\u0041", "story"), ("\\ud800\\n", "file")])
def test_a_lone_surrogate_in_a_record_is_named_though_the_fast_read_does_not_look_for_one(tmp_path: Path, escaped: str, field: str) -> None:
    """msgspec refuses it, so the line-by-line read names its line and field."""
    path = tmp_path / "documents.jsonl"
    line = json.dumps(RECORD | {field: "@"}, ensure_ascii=False).replace('"@"', f'"{escaped}"')
    path.write_text(json.dumps(RECORD, ensure_ascii=False) + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(KhabarError, match=f"line 2: field '{field}' holds a lone surrogate"):
        load_records(path)


def test_escapes_in_records_read_as_json_reads_them(tmp_path: Path) -> None:
    """A record with escapes (a pair of surrogates among them) takes the fast read and gives what ``json`` gives."""
    path = tmp_path / "documents.jsonl"
    path.write_text(json.dumps(RECORD | {"text": "قال \U0001f600\n\u200f«"}) + "\n", encoding="utf-8")
    assert "\\ud83d\\ude00" in path.read_text(encoding="utf-8")
    (record,) = load_records(path)
    assert record.text == "قال \U0001f600\n\u200f«"


def _records_file(path: Path, count: int, *, last_newline: bool) -> list[dict]:
    records = [RECORD | {"doc_id": f"d{n:03}", "file": f"{n:03}.txt", "text": "قال " * (n % 7 + 1), "url": None if n % 2 else f"https://x/{n}"} for n in range(count)]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + ("\n" if last_newline else ""), encoding="utf-8")
    return records


@pytest.mark.parametrize("last_newline", [True, False])
def test_records_read_a_block_at_a_time_are_those_read_line_by_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, last_newline: bool) -> None:
    """Blocks far smaller than the file (lines cut across blocks, a line longer than a block, the last line with or
    without its newline) give every record once, in order, as the checked line-by-line read gives them; the
    corpus frame is one chunk whatever the blocks (the checks gather texts from it by row)."""
    path = tmp_path / "documents.jsonl"
    records = _records_file(path, 40, last_newline=last_newline)
    monkeypatch.setattr(ingest_module, "BLOCK_BYTES", 97)  # a record is 250-300 bytes
    blocks = list(ingest_module.well_formed_blocks(path))
    assert len(blocks) > 20
    assert [r for block in blocks for r in block] == ingest_module.checked_records(path) == load_records(path)
    assert [asdict(r) for block in blocks for r in block] == records
    documents = read_documents(path)
    assert documents["doc_id"].to_list() == [r["doc_id"] for r in records] and documents.n_chunks("all") == [1] * documents.width


def test_a_bad_line_after_good_blocks_is_named_as_the_line_by_line_read_names_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "documents.jsonl"
    _records_file(path, 30, last_newline=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(RECORD | {"doc_id": 7}) + "\n")
    monkeypatch.setattr(ingest_module, "BLOCK_BYTES", 500)
    with pytest.raises(ingest_module.NotWellFormed):
        list(ingest_module.well_formed_blocks(path))
    with pytest.raises(KhabarError) as line_by_line:
        ingest_module.checked_records(path)
    assert "line 31" in str(line_by_line.value)
    with pytest.raises(KhabarError) as read:
        read_documents(path)
    assert str(read.value) == str(line_by_line.value)


def test_records_one_at_a_time_go_on_line_by_line_from_the_first_block_msgspec_refuses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``iter_records`` gives the blocks msgspec decodes, then what the checked read gives from where they stop:
    every record once, in order, whichever block is refused; a bad line is raised as the checked read names it."""
    path = tmp_path / "documents.jsonl"
    records = _records_file(path, 40, last_newline=True)
    monkeypatch.setattr(ingest_module, "BLOCK_BYTES", 997)
    decode = ingest_module._decoded

    def refusing(block: int):
        blocks = itertools.count()

        def decoded(lines: list[bytes]) -> list:
            if next(blocks) == block:
                raise ingest_module.NotWellFormed
            return decode(lines)

        return decoded

    for block in range(4):
        monkeypatch.setattr(ingest_module, "_decoded", refusing(block))
        assert [asdict(r) for r in ingest_module.iter_records(path)] == records
    monkeypatch.setattr(ingest_module, "_decoded", decode)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(RECORD | {"doc_id": 7}) + "\n")
    taken = []
    with pytest.raises(KhabarError, match="line 41"):
        taken.extend(ingest_module.iter_records(path))
    assert len(taken) > 1  # records were given before the bad line was met
    assert list(ingest_module.iter_records(tmp_path / "none.jsonl")) == []
