"""`khabar import-conll` and `khabar export`, through the real command: a CoNLL file with a BOM, CRLF,
bidi marks and mixed separators comes out token for token in the built `tokens` config; an export in
each format loads in its own tool, and a CoNLL export re-imports to the same spans."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path

import pytest

from khabar.annotation.conll_import import import_conll
from khabar.annotation.ingest import load_records
from khabar.annotation.scheme import load_scheme
from khabar.annotation.tags import tag_names
from khabar.dataset.iob import decode_nested
from khabar.foundation.paths import repo
from tests.cli_support import run_khabar
from tests.reliability.reliability_support import rehash

LRM = "\u200e"
#: Hostile on purpose: a BOM, CRLF line ends, a left-to-right mark inside a token, tab and space
#: separators, a type to rename (PER) and one to drop (LOCATION).
SOURCE = (
    "\ufeffقال\tO\r\nالسفير\tB-OCC\r\n" + LRM + "ألينا B-PER\tO\r\nرومانوفسكي I-PER  O\r\nفي O\r\n"
    "بغداد B-LOCATION\r\n. O\r\n\r\nوقال O\r\nزيد B-PER\r\nبن I-PER\r\nعلي I-PER B-PER\r\n"
)
SOURCE_TOKENS = ["قال", "السفير", "ألينا", "رومانوفسكي", "في", "بغداد", ".", "وقال", "زيد", "بن", "علي"]


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture
def datasheet(tmp_path) -> Path:
    path = tmp_path / "DATASHEET.md"
    shutil.copyfile(repo().root / "DATASHEET.md", path)
    return path


def test_import_conll_cleans_and_counts_and_every_token_comes_out_in_order(tmp_path, khabar, datasheet):
    source = tmp_path / "news.conll"
    source.write_bytes(SOURCE.encode("utf-8"))
    (tmp_path / "map.json").write_text(json.dumps({"PER": "PERS", "LOCATION": None}), encoding="utf-8")
    status, out, err = khabar("import-conll", source, "--out", tmp_path / "in", "--tag-map", tmp_path / "map.json")
    assert status == 0, err
    assert "byte-order mark 1, CRLF line ends 12, bidi marks 1" in out
    assert "PER → PERS 3" in out and "entities dropped by the tag map: LOCATION 1" in out
    [record] = [json.loads(line) for line in (tmp_path / "in" / "documents.jsonl").read_text(encoding="utf-8").splitlines()]
    assert not {"\ufeff", LRM, "\r"} & set(record["text"])

    documents, export = tmp_path / "in" / "documents.jsonl", tmp_path / "in" / "export.json"
    assert khabar("validate", export, "--documents", documents)[0] == 0
    status, out, err = khabar("build", "--exports", export, "--documents", documents, "--out", tmp_path / "build", "--datasheet", datasheet)
    assert status == 0, err
    import datasets

    tokens = datasets.load_dataset(str(tmp_path / "build"), "tokens", cache_dir=str(tmp_path / "cache"))["test"]
    names = tokens.features["nested_ner_tags"].feature.feature
    assert [t for row in tokens for t in row["tokens"]] == SOURCE_TOKENS
    assert [[names.int2str(t) for t in tags] for row in tokens for tags in row["nested_ner_tags"]] == [
        ["O"], ["B-OCC"], ["B-PERS"], ["I-PERS"], ["O"], ["O"], ["O"], ["O"], ["B-PERS"], ["I-PERS"], ["I-PERS", "B-PERS"],
    ]


@pytest.mark.parametrize("source", ["", " \t"])
def test_a_blank_source_is_refused_before_records_every_reader_would_refuse_are_written(tmp_path, khabar, source):
    conll = tmp_path / "news.conll"
    conll.write_text("قال O\nالسفير B-OCC\n", encoding="utf-8")
    status, _, err = khabar("import-conll", conll, "--out", tmp_path / "in", "--source", source)
    assert status == 2 and err.count("\n") == 1 and "--source is" in err and "a corpus record needs" in err, err
    assert not (tmp_path / "in").exists()


def test_every_unmapped_type_is_reported_at_once_and_nothing_is_written(tmp_path, khabar):
    source = tmp_path / "news.conll"
    source.write_bytes(SOURCE.encode("utf-8"))
    status, out, err = khabar("import-conll", source, "--out", tmp_path / "in")
    assert status == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "'LOCATION' (1 tag(s), first on line 6), 'PER' (6 tag(s), first on line 3)" in err and str(source) in err
    assert not (tmp_path / "in").exists()
    (tmp_path / "map.json").write_text(json.dumps({"PER": "PERSON"}), encoding="utf-8")
    status, _, err = khabar("import-conll", source, "--out", tmp_path / "in", "--tag-map", tmp_path / "map.json")
    assert status == 2 and "outside the scheme: 'PER' → 'PERSON'" in err


def test_import_conll_never_overwrites(tmp_path, khabar):
    source = tmp_path / "news.conll"
    source.write_text("بغداد B-GPE\n", encoding="utf-8")
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "export.json").write_text("mine\n", encoding="utf-8")
    before = digest(tmp_path / "in")
    status, _, err = khabar("import-conll", source, "--out", tmp_path / "in")
    assert status == 2 and "refusing to overwrite" in err and digest(tmp_path / "in") == before
    status, _, err = khabar("import-conll", source, "--out", tmp_path / "in" / "export.json")
    assert status == 2 and "not a folder" in err and "Traceback" not in err and digest(tmp_path / "in") == before


def test_import_conll_stopped_by_a_bad_line_after_many_documents_leaves_nothing(tmp_path, khabar):
    """Tasks are made and written as the file is read: a bad line near the end is one line naming it, and neither
    file nor the --out folder is left."""
    source = tmp_path / "news.conll"
    source.write_text("بغداد B-GPE\nقال O\n\n" * 300 + "$#$ B-ORG\n", encoding="utf-8")  # read well, refused once laid out
    status, _, err = khabar("import-conll", source, "--out", tmp_path / "in" / "new", "--sentences-per-document", "1")
    assert status == 2 and "line 901: '$#$' is not text but is tagged B-ORG" in err and len(err.strip().splitlines()) == 1
    assert sorted(os.listdir(tmp_path)) == ["news.conll"]


@pytest.mark.parametrize(("per_document", "texts", "repeated"), [(1, 2, 2), (2, 1, 1)])
def test_documents_of_one_text_share_one_corpus_record(tmp_path, khabar, per_document, texts, repeated):
    """A doc_id is its text's: two documents of one text (a sentence a file repeats, read a sentence a document)
    were written as two records of one doc_id, and every command then refused the corpus file (a doc_id names one
    record). A text is one record, which each of its documents' tasks refers to; the import says how many repeat."""
    source = tmp_path / "news.conll"
    source.write_text("بغداد B-GPE\nقال O\n\nزيد B-PERS\n\n" * 2, encoding="utf-8")
    run = khabar("import-conll", source, "--out", tmp_path / "in", "--sentences-per-document", str(per_document))
    assert run.status == 0, run.err
    documents, export = tmp_path / "in" / "documents.jsonl", tmp_path / "in" / "export.json"
    records = load_records(documents)  # read as every command reads them
    tasks = json.loads(export.read_text(encoding="utf-8"))
    assert len(records) == texts and len(tasks) == texts + repeated
    assert {task["data"]["doc_id"] for task in tasks} == {record.doc_id for record in records}
    assert f"{repeated} document(s) repeat an earlier one's text: their tasks share its corpus record" in run.out
    assert khabar("validate", export, "--documents", documents).status in (0, 1)  # checked, not refused


@pytest.mark.parametrize(
    ("character", "name"),
    [("\u2028", "U+2028 LINE SEPARATOR"), ("\u2029", "U+2029 PARAGRAPH SEPARATOR"), ("\x85", "U+0085 NEXT LINE (NEL)"),
     ("\v", "U+000B LINE TABULATION"), ("\f", "U+000C FORM FEED"), ("\r", "U+000D CARRIAGE RETURN"), ("\xa0", "U+00A0 NO-BREAK SPACE"),
     ("\u3000", "U+3000 IDEOGRAPHIC SPACE")],
)
@pytest.mark.parametrize("column", ["token", "tag"])
def test_white_space_inside_a_column_is_refused_naming_the_character(tmp_path, khabar, character, name, column):
    """Columns are separated by spaces or tabs; other white space, which the ingest normaliser leaves as it is, would
    split the token in the built text, and U+2028 in a token was said to be "no text once normalised"."""
    token, tag = ("بغ" + character + "داد", "B-GPE") if column == "token" else ("بغداد", "B-G" + character + "PE")
    source = tmp_path / "news.conll"
    source.write_bytes(f"قال O\n{token} {tag}\n\n".encode())
    status, out, err = khabar("import-conll", source, "--out", tmp_path / "in")
    written = repr(token if column == "token" else tag)
    assert status == 2 and out == "" and err.splitlines() == [
        f"khabar import-conll: error: {source}: line 2: {written} holds {name}, white space inside a column (columns are separated by spaces or tabs)"
    ]
    assert sorted(os.listdir(tmp_path)) == ["news.conll"]


def test_a_token_of_invisible_controls_only_is_refused_as_no_text(tmp_path, khabar):
    source = tmp_path / "news.conll"
    source.write_text(f"قال O\n{LRM} O\n\n", encoding="utf-8")
    status, _, err = khabar("import-conll", source, "--out", tmp_path / "in")
    assert status == 2 and err.splitlines() == [f"khabar import-conll: error: {source}: line 2: token {LRM!r} is no text once normalised (invisible controls only)"]


@pytest.fixture(scope="module")
def committed(tmp_path_factory) -> Path:
    """The committed release, built through the real command."""
    folder = tmp_path_factory.mktemp("committed")
    shutil.copyfile(repo().root / "DATASHEET.md", folder / "DATASHEET.md")
    assert run_khabar("build", "--out", folder / "khabar", "--datasheet", folder / "DATASHEET.md") == 0
    return folder / "khabar"


def built_rows(build: Path, config: str) -> list[dict]:
    import pyarrow.parquet as pq

    return [row for path in sorted((build / "data" / config).glob("*.parquet")) for row in pq.read_table(path).to_pylist()]


def test_a_conll_export_reimports_to_the_same_spans(committed, tmp_path, khabar):
    status, out, err = khabar("export", committed, "--format", "conll", "--out", tmp_path / "conll")
    assert status == 0, err
    tags = tag_names(load_scheme().labels("entity"))
    # per sentence, the spans as (first token, last token + 1, label): what the release's tokens config holds
    released = []
    for row in built_rows(committed, "tokens"):
        offsets = [(s, s + len(t)) for s, t in zip(row["token_starts"], row["tokens"])]
        firsts = {start: i for i, (start, _) in enumerate(offsets)}
        lasts = {end: i + 1 for i, (_, end) in enumerate(offsets)}
        spans = decode_nested(offsets, [[tags[t] for t in column] for column in row["nested_ner_tags"]])
        released.append(sorted((firsts[s.start], lasts[s.end], s.label) for s in spans))
    imported = import_conll(tmp_path / "conll" / "test.txt", sentences_per_document=1)
    assert imported.tokens_read == sum(len(r["tokens"]) for r in built_rows(committed, "tokens")) and not imported.repairs
    again = []
    for document, task in zip(imported.documents, imported.tasks, strict=True):
        firsts = {start: i for i, (start, _) in enumerate(document.offsets)}
        lasts = {end: i + 1 for i, (_, end) in enumerate(document.offsets)}
        values = [r["value"] for r in task["annotations"][0]["result"]]
        again.append(sorted((firsts[v["start"]], lasts[v["end"]], v["labels"][0]) for v in values))
    assert again == released and sum(map(len, released)) > 800


def test_spacy_reads_the_docbin_back(committed, tmp_path, khabar):
    spacy = pytest.importorskip("spacy", reason="spaCy is pinned in the test extra")
    from spacy.tokens import DocBin

    assert khabar("export", committed, "--format", "spacy", "--out", tmp_path / "spacy")[0] == 0
    docs = list(DocBin().from_disk(tmp_path / "spacy" / "test.spacy").get_docs(spacy.blank("xx").vocab))
    documents = {row["id"]: row for row in built_rows(committed, "documents")}
    sentences = built_rows(committed, "tokens")
    tags = tag_names(load_scheme().labels("entity"))
    assert sorted(doc.user_data["doc_id"] for doc in docs) == sorted(documents)
    for doc in docs:
        document = documents[doc.user_data["doc_id"]]
        rows = [r for r in sentences if r["doc_id"] == doc.user_data["doc_id"]]
        assert doc.text == document["text"]
        assert [s.start_char for s in doc.sents] == [r["start"] for r in rows]
        assert [t.text for t in doc if not t.is_space] == [t for r in rows for t in r["tokens"]]
        outer = sorted(
            (span.start, span.end, span.label)
            for r in rows
            for span in decode_nested([(s, s + len(t)) for s, t in zip(r["token_starts"], r["tokens"])], [[tags[c[0]]] for c in r["nested_ner_tags"]])
        )
        assert sorted((e.start_char, e.end_char, e.label_) for e in doc.ents) == outer
        assert len(doc.spans["entity"]) == len(document["entities"]) and len(doc.spans["attribution"]) == len(document["attributions"])
        nested = sorted((s.start_char, s.end_char, s.label_) for s in doc.spans["entity"])
        assert all(any(a <= e.start_char and e.end_char <= b for a, b, _ in nested) for e in doc.ents)


def test_brat_standoff_holds_every_span_and_relation(committed, tmp_path, khabar):
    assert khabar("export", committed, "--format", "brat", "--out", tmp_path / "brat")[0] == 0
    conf = (tmp_path / "brat" / "annotation.conf").read_text(encoding="utf-8")
    assert "source\tArg1:CONTENT, Arg2:SOURCE" in conf
    for document in built_rows(committed, "documents"):
        text = (tmp_path / "brat" / "test" / f"{document['id']}.txt").read_text(encoding="utf-8")
        assert text == document["text"]
        lines = (tmp_path / "brat" / "test" / f"{document['id']}.ann").read_text(encoding="utf-8").splitlines()
        spans = {}
        for line in (x for x in lines if x.startswith("T")):
            number, kind, surface = line.split("\t")
            fragments = [tuple(map(int, f.split())) for f in kind.split(" ", 1)[1].split(";")]
            assert " ".join(text[a:b] for a, b in fragments) == surface
            spans[number] = kind.split(" ", 1)[0]
        assert len(spans) == sum(len(document[c]) for c in ("entities", "attributions", "zones"))
        relations = [x.split("\t")[1].split() for x in lines if x.startswith("R")]
        assert len(relations) == len(document["relations"])
        assert all(spans[a.removeprefix("Arg1:")] == "CONTENT" and spans[b.removeprefix("Arg2:")] in ("SOURCE", "CUE") for _, a, b in relations)
        assert sum(x.startswith("A") for x in lines) == sum(1 for s in document["attributions"] if s["quote_type"] is not None)


@pytest.fixture(scope="module")
def per_annotator(tmp_path_factory) -> Path:
    """The committed annotations built with a row per document and annotator, through the real command."""
    folder = tmp_path_factory.mktemp("per-annotator")
    shutil.copyfile(repo().root / "DATASHEET.md", folder / "DATASHEET.md")
    assert run_khabar("build", "--per-annotator", "--out", folder / "khabar", "--datasheet", folder / "DATASHEET.md") == 0
    return folder / "khabar"


def test_brat_of_a_per_annotator_build_writes_every_annotators_version_to_its_own_pair_of_files(per_annotator, tmp_path, khabar):
    """Each version was written to ``<doc_id>.txt``/``.ann`` over the one before: 13 versions, 5 pairs, the last annotator's."""
    run = khabar("export", per_annotator, "--format", "brat", "--out", tmp_path / "brat")
    versions = built_rows(per_annotator, "documents")
    doc_ids = {version["id"] for version in versions}
    assert run.status == 0 and f"test/ ({len(versions)} versions of {len(doc_ids)} documents)" in run.out
    assert len(versions) > len(doc_ids) and len({version["annotator"] for version in versions}) > 1
    for version in versions:
        name = f"{version['id']}.{version['annotator']}"
        assert (tmp_path / "brat" / "test" / f"{name}.txt").read_text(encoding="utf-8") == version["text"]
        spans = [line for line in (tmp_path / "brat" / "test" / f"{name}.ann").read_text(encoding="utf-8").splitlines() if line.startswith("T")]
        assert len(spans) == sum(len(version[column]) for column in ("entities", "attributions", "zones"))
    assert len(list((tmp_path / "brat" / "test").iterdir())) == 2 * len(versions)


def test_brat_names_a_version_no_one_signed_no_annotator(per_annotator, tmp_path, khabar):
    import pyarrow as pa
    import pyarrow.parquet as pq

    build = tmp_path / "build"
    shutil.copytree(per_annotator, build)
    [path] = (build / "data" / "documents").glob("*.parquet")
    table = pq.read_table(path)
    rows = table.to_pylist()
    rows[0]["annotator"] = None
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), path)
    rehash(build, path.relative_to(build).as_posix())
    assert khabar("export", build, "--format", "brat", "--out", tmp_path / "brat").status == 0
    assert (tmp_path / "brat" / "test" / f"{rows[0]['id']}.no-annotator.txt").read_text(encoding="utf-8") == rows[0]["text"]
    assert len(list((tmp_path / "brat" / "test").iterdir())) == 2 * len(rows)


@pytest.mark.parametrize("fmt", ["conll", "conll-wojood", "spacy"])
def test_the_formats_that_cannot_keep_each_annotators_version_refuse_a_per_annotator_build(per_annotator, tmp_path, khabar, fmt):
    """CoNLL and spaCy took their tags from the tokens config (the gold's) or wrote every version unnamed: spaCy
    gave each version after a document's first one token and no entity on tokens."""
    run = khabar("export", per_annotator, "--format", fmt, "--out", tmp_path / "out")
    assert run.status == 2 and run.out == "" and "Traceback" not in run.err
    [line] = run.err.splitlines()
    assert f"{per_annotator}: a per-annotator build: --format {fmt} would not keep each annotator's version" in line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("annotator", "message"),
    [("the next row's", "would both be written to test/"), ("../../elsewhere", "cannot name a file")],
    ids=["two-versions-of-one-name", "a-name-that-is-a-path"],
)
def test_brat_never_writes_a_file_twice_nor_outside_its_folder(per_annotator, tmp_path, khabar, annotator, message):
    """A version whose annotator repeats its document's next one, or names a path, with MANIFEST.json re-hashed to
    match (the build passes its checks): refused, nothing written, where the second version overwrote the first."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    build = tmp_path / "build"
    shutil.copytree(per_annotator, build)
    [path] = (build / "data" / "documents").glob("*.parquet")
    table = pq.read_table(path)
    rows = table.to_pylist()
    first = next(n for n, row in enumerate(rows) if rows[n + 1]["id"] == row["id"])
    rows[first]["annotator"] = rows[first + 1]["annotator"] if annotator == "the next row's" else annotator
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), path)
    rehash(build, path.relative_to(build).as_posix())
    run = khabar("export", build, "--format", "brat", "--out", tmp_path / "brat")
    assert run.status == 2 and run.out == "" and "Traceback" not in run.err
    [line] = run.err.splitlines()
    assert message in line and not (tmp_path / "brat").exists() and not (tmp_path / "elsewhere.txt").exists()


def test_export_refuses_an_existing_folder_and_a_folder_that_is_no_build(committed, tmp_path, khabar):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine\n", encoding="utf-8")
    status, _, err = khabar("export", committed, "--format", "conll", "--out", tmp_path / "taken")
    assert status == 2 and "existing path" in err and (tmp_path / "taken" / "keep.txt").read_text(encoding="utf-8") == "mine\n"
    status, _, err = khabar("export", tmp_path / "taken", "--format", "brat", "--out", tmp_path / "new")
    assert status == 2 and "not a khabar build" in err and not (tmp_path / "new").exists()


def test_the_importers_corpus_records_survive_any_line_splitter(tmp_path):
    from dataclasses import replace

    from khabar.annotation.conll_import import write_documents
    from khabar.annotation.ingest import load_records

    source = tmp_path / "news.conll"
    source.write_text("بغداد B-GPE\n", encoding="utf-8")
    [document] = import_conll(source).documents
    record = replace(document.record, title="قال\u2028الوزير\u2029اليوم\u0085")  # Unicode line separators, which splitlines() cuts at
    write_documents(tmp_path / "documents.jsonl", [record])
    assert load_records(tmp_path / "documents.jsonl") == [record]


def test_a_build_made_before_roles_were_marked_exports_the_same(committed, tmp_path, khabar):
    """A published release carries the config it was built with; one without role attributes still exports."""
    old = tmp_path / "old-build"
    shutil.copytree(committed, old)
    config = old / "labeling_config.xml"
    config.write_text(re.sub(r' (?:role|from|to)="[^"]*"', "", config.read_text(encoding="utf-8")), encoding="utf-8")
    rehash(old, "labeling_config.xml")  # as that build's MANIFEST.json lists it
    assert "role=" not in config.read_text(encoding="utf-8")
    for fmt in ("conll", "brat"):
        assert khabar("export", committed, "--format", fmt, "--out", tmp_path / f"new-{fmt}")[0] == 0
        assert khabar("export", old, "--format", fmt, "--out", tmp_path / f"old-{fmt}")[0] == 0
        new_files = sorted(p.relative_to(tmp_path / f"new-{fmt}") for p in (tmp_path / f"new-{fmt}").rglob("*") if p.is_file())
        old_files = sorted(p.relative_to(tmp_path / f"old-{fmt}") for p in (tmp_path / f"old-{fmt}").rglob("*") if p.is_file())
        assert new_files == old_files and new_files
        assert all((tmp_path / f"new-{fmt}" / p).read_bytes() == (tmp_path / f"old-{fmt}" / p).read_bytes() for p in new_files)
