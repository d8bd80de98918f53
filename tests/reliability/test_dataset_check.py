"""``khabar.validation.dataset_check``: a consumer re-checks a built folder (``khabar validate --dataset``)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from khabar.annotation.scheme import load_scheme
from khabar.annotation.tags import OUTSIDE, tag_names
from khabar.dataset.export import FORMATS
from khabar.foundation import parquet
from khabar.foundation.errors import EXIT_FAILED_CHECKS, EXIT_UNUSABLE_INPUT, KhabarError
from khabar.validation import dataset_check
from khabar.validation.dataset_check import check_dataset
from tests.reliability.reliability_support import rehash, relabel_card

DOCUMENTS = "data/documents/test-00000-of-00001.parquet"
TOKENS = "data/tokens/test-00000-of-00001.parquet"
QUOTES = "data/quotes/test-00000-of-00001.parquet"


def rewrite_rows(folder: Path, relative: str, change) -> None:
    """Rewrite a parquet file with ``change(rows)`` applied, keeping its schema and metadata."""
    path = folder / relative
    table = pq.read_table(path)
    rows = table.to_pylist()
    change(rows)
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), path)


def _card_replace(folder: Path, old: str, new: str) -> None:
    card = folder / "README.md"
    text = card.read_text(encoding="utf-8")
    assert old in text
    card.write_text(text.replace(old, new, 1), encoding="utf-8")


def messages(folder: Path) -> list[str]:
    return [problem.line(folder) for problem in check_dataset(folder).problems]


def test_a_fresh_build_is_clean_and_every_span_and_token_is_checked(good_build):
    report = check_dataset(good_build)
    assert report.problems == []
    assert report.exit_status == 0
    assert report.files == len(json.loads((good_build / "MANIFEST.json").read_text())["files"])
    assert report.spans >= 9 and report.tokens > 20  # the good export's entities, attributions and quote


def test_a_changed_byte_is_named_with_its_file(build_copy):
    path = build_copy / "build_report.json"
    path.write_bytes(path.read_bytes().replace(b'"version"', b'"versioN"'))
    [line] = messages(build_copy)
    assert "build_report.json: sha256" in line and "MANIFEST.json says" in line


def test_added_and_missing_files(build_copy):
    (build_copy / "data" / "documents" / "extra.txt").write_text("x")
    (build_copy / "images" / "labels_per_layer.png").unlink()
    found = "\n".join(messages(build_copy))
    assert "data/documents/extra.txt: not listed in MANIFEST.json" in found
    assert "images/labels_per_layer.png: listed in MANIFEST.json but missing" in found


def test_row_count_against_the_manifest(build_copy):
    manifest_path = build_copy / "MANIFEST.json"
    manifest = json.loads(manifest_path.read_text())
    for entry in manifest["files"]:
        if entry["path"] == TOKENS:
            entry["rows"] += 1
    manifest_path.write_text(json.dumps(manifest))
    [line] = messages(build_copy)
    assert f"{TOKENS}: " in line and "rows, MANIFEST.json says" in line


def test_label_names_reordered_in_the_card_are_caught_even_with_a_matching_manifest(build_copy):
    relabel_card(build_copy)
    found = "\n".join(messages(build_copy))
    assert f"{DOCUMENTS}: label names of entities[].label are" in found
    assert "sha256" not in found  # the tamperer fixed the manifest; the features still tell


def test_span_text_that_is_not_the_document_text_names_the_region(build_copy):
    def change(rows):
        rows[0]["entities"][0]["text"] = "بغداد!"

    rewrite_rows(build_copy, DOCUMENTS, change)
    rehash(build_copy, DOCUMENTS)
    [line] = messages(build_copy)
    assert DOCUMENTS in line and "row 0" in line and "entities[0] (region " in line and "'بغداد!' is not the document's text" in line


def test_offsets_past_the_text_and_moved_tokens(build_copy):
    def spans(rows):
        for row in rows:
            if row["attributions"]:
                row["attributions"][0]["end"] = len(row["text"]) + 3
                return

    def tokens(rows):
        rows[0]["token_starts"][1] += 1

    rewrite_rows(build_copy, DOCUMENTS, spans)
    rewrite_rows(build_copy, TOKENS, tokens)
    rehash(build_copy, DOCUMENTS)
    rehash(build_copy, TOKENS)
    found = "\n".join(messages(build_copy))
    assert "attributions[0]" in found and "outside the text" in found
    assert f"{TOKENS}: row 0" in found and "token 1" in found


def test_a_class_label_value_out_of_range(build_copy):
    def change(rows):
        rows[0]["entities"][0]["label"] = 99

    rewrite_rows(build_copy, DOCUMENTS, change)
    rehash(build_copy, DOCUMENTS)
    [line] = messages(build_copy)
    assert "entities[].label is 99, outside 0..20" in line


def test_a_null_where_a_build_writes_none_is_a_failed_check_naming_its_column(build_copy, khabar):
    """No null where the tables of ``khabar.foundation.tables`` never hold one (an offset, a relation's label), in a
    list or among its items; the columns they declare nullable (a document's url, a span's quote_type) may hold one.
    A null token was a traceback of ``validate --dataset``."""
    def documents(rows):
        rows[0]["url"] = None
        rows[0]["entities"][0]["start"] = None
        [document] = [row for row in rows if row["relations"]][:1]
        document["relations"][0]["label"] = None
        for row in rows:
            for span in row["attributions"]:
                span["quote_type"] = None

    def tokens(rows):
        rows[0]["tokens"][0] = None
        rows[1]["nested_ner_tags"] = None

    rewrite_rows(build_copy, DOCUMENTS, documents)
    rewrite_rows(build_copy, TOKENS, tokens)
    rehash(build_copy, DOCUMENTS)
    rehash(build_copy, TOKENS)
    run = khabar("validate", "--dataset", build_copy)
    assert run.status == EXIT_FAILED_CHECKS and "Traceback" not in run.output
    assert run.out.splitlines()[:-1] == [
        f"{build_copy}: {DOCUMENTS}: 1 null(s) in entities[].start, where a build writes none",
        f"{build_copy}: {DOCUMENTS}: 1 null(s) in relations[].label, where a build writes none",
        f"{build_copy}: {TOKENS}: 1 null(s) in tokens[], where a build writes none",
        f"{build_copy}: {TOKENS}: 1 null(s) in nested_ner_tags, where a build writes none",
    ]


def test_a_null_in_a_column_a_build_adds_is_a_failed_check_unless_its_declaration_allows_one(committed_copy, khabar):
    """Every released column is declared once (:mod:`khabar.foundation.tables`; the columns a build adds in
    ``ReleasedColumns``): a span's zone, an entity's normalized form, a sentence's number, a quote's
    source_ambiguous hold no null; an entity_id, an entity_label or a cluster_id may. Nulls in any of them passed."""
    def documents(rows):
        row = next(row for row in rows if len(row["entities"]) > 1 and row["attributions"])
        row["entities"][0]["zone"] = None
        row["entities"][1]["normalized"] = None
        row["attributions"][0]["zone"] = None
        for row in rows:
            for entity in row["entities"]:
                entity["entity_id"] = None

    def tokens(rows):
        rows[0]["sentence"] = None

    def quotes(rows):
        row = next(row for row in rows if row["sources"])
        row["zone"] = None
        row["source_ambiguous"] = None
        row["sources"][0]["zone"] = None
        for row in rows:
            row["cluster_id"] = None
            for source in row["sources"]:
                source["entity_label"] = source["entity_id"] = None

    for relative, change in ((DOCUMENTS, documents), (TOKENS, tokens), (QUOTES, quotes)):
        rewrite_rows(committed_copy, relative, change)
        rehash(committed_copy, relative)
    run = khabar("validate", "--dataset", committed_copy)
    assert run.status == EXIT_FAILED_CHECKS
    assert run.out.splitlines()[:-1] == [
        f"{committed_copy}: {relative}: 1 null(s) in {column}, where a build writes none"
        for relative, column in ((DOCUMENTS, "entities[].zone"), (DOCUMENTS, "entities[].normalized"), (DOCUMENTS, "attributions[].zone"),
                                 (TOKENS, "sentence"), (QUOTES, "zone"), (QUOTES, "source_ambiguous"), (QUOTES, "sources[].zone"))
    ]


def _tag_ids(tags: list[str]) -> list[int]:
    names = tag_names(load_scheme().entity.labels)  # the build's scheme: the repository's
    return [names.index(tag) for tag in tags]


def _tag_sentence(row: dict, nested: list[list[str]], flat: list[str] | None = None) -> None:
    """Give a ``tokens`` row the nested tags ``nested`` on its first tokens, O on the rest, and as its ner_tags ``flat``
    (the outermost of ``nested`` unless given, O on the rest)."""
    rest = len(row["tokens"]) - len(nested)
    row["nested_ner_tags"] = [_tag_ids(tags) for tags in nested] + [_tag_ids([OUTSIDE])] * rest
    row["ner_tags"] = _tag_ids(flat if flat is not None else [tags[0] if tags else OUTSIDE for tags in nested]) + _tag_ids([OUTSIDE]) * rest


#: a sentence's tags that a build never writes, (its nested tags on its first tokens, its ner_tags if not their
#: outermost), and what the check says of its row, column by column
ILL_FORMED_TAGS = {
    "I-first-in-the-sentence": ([["I-GPE"], ["O"], ["O"]], None,
                                ["ner_tags: token 0: I-GPE begins its sentence", "nested_ner_tags: token 0: I-GPE begins its sentence"]),
    "I-after-B-of-another-label": ([["B-ORG"], ["I-GPE"], ["O"]], None,
                                   ["ner_tags: token 1: I-GPE follows B-ORG", "nested_ner_tags: token 1: I-GPE follows B-ORG"]),
    "I-after-O": ([["O"], ["I-GPE"], ["I-GPE"]], None, ["ner_tags: token 1: I-GPE follows O", "nested_ner_tags: token 1: I-GPE follows O"]),
    "inner-entity-beginning-before-its-outer-one": (
        [["B-PERS", "B-GPE"], ["B-ORG", "I-GPE"], ["O"]], None,
        ["nested_ner_tags: token 1: I-GPE at level 1 continues an entity inside B-ORG, which begins at this token"]),
    "inner-entity-continuing-what-was-not-there": (
        [["B-ORG"], ["I-ORG", "I-GPE"], ["O"]], None, ["nested_ner_tags: token 1: I-GPE at level 1 follows a token with no tag at level 1"]),
    "O-beside-an-entity": ([["B-ORG", "O"], ["O"], ["O"]], None, ["nested_ner_tags: token 0: O beside other tags (B-ORG O)"]),
    "a-token-without-tags": ([["O"], [], ["O"]], ["O", "O", "O"],
                             ["nested_ner_tags: token 1 has no tag", "ner_tags: token 1's tag is not the outermost of its nested_ner_tags"]),
    "ner_tags-that-are-not-the-outermost": ([["B-ORG", "B-GPE"], ["I-ORG"], ["O"]], ["B-GPE", "O", "O"],
                                            ["ner_tags: token 0's tag is not the outermost of its nested_ner_tags"]),
}


@pytest.mark.parametrize("case", ILL_FORMED_TAGS)
def test_ill_formed_iob_tags_are_a_failed_check_naming_the_row_token_and_tags(case, committed_copy):
    """Every tag column, at every level: a build's tags are IOB2 (as spaCy reads them, tests/validation/test_tag_check.py),
    its nested tags nest, its ner_tags are their outermost. Each of these passed ``validate --dataset``."""
    nested, flat, expected = ILL_FORMED_TAGS[case]
    changed = []

    def change(rows):
        index = next(i for i, row in enumerate(rows) if len(row["tokens"]) > len(nested))
        _tag_sentence(rows[index], nested, flat)
        changed.append((index, rows[index]["doc_id"]))

    rewrite_rows(committed_copy, TOKENS, change)
    rehash(committed_copy, TOKENS)
    [(index, doc_id)] = changed
    assert messages(committed_copy) == [f"{committed_copy}: {TOKENS}: row {index} (document {doc_id}): {line}" for line in expected]


def test_a_row_with_fewer_tags_than_tokens_is_a_failed_check(committed_copy):
    def change(rows):
        rows[0]["ner_tags"] = rows[0]["ner_tags"][:-1]
        rows[1]["nested_ner_tags"] = rows[1]["nested_ner_tags"][1:]

    rewrite_rows(committed_copy, TOKENS, change)
    rehash(committed_copy, TOKENS)
    rows = pq.read_table(committed_copy / TOKENS, columns=["doc_id", "tokens"]).to_pylist()
    found = messages(committed_copy)
    prefix = f"{committed_copy}: {TOKENS}"
    assert f"{prefix}: row 0 (document {rows[0]['doc_id']}): {len(rows[0]['tokens'])} tokens but {len(rows[0]['tokens']) - 1} tags in ner_tags" in found
    assert f"{prefix}: row 1 (document {rows[1]['doc_id']}): {len(rows[1]['tokens'])} tokens but {len(rows[1]['tokens']) - 1} tag lists in nested_ner_tags" in found


def test_tag_names_that_are_not_the_schemes_are_a_failed_check_though_card_and_files_agree(committed_copy):
    """The tags' names, renamed in the card and in the file's features alike (a hand edit that covers its tracks): the
    ids are read with the names of the scheme the build ships (``khabar export`` does), so the names must be its."""
    card = committed_copy / "README.md"
    text = card.read_text(encoding="utf-8")
    assert text.count("'1': B-PERS\n") == 2  # ner_tags and nested_ner_tags
    card.write_text(text.replace("'1': B-PERS\n", "'1': B-PERSON\n").replace("'2': I-PERS\n", "'2': I-PERSON\n"), encoding="utf-8")
    rehash(committed_copy, "README.md")
    path = committed_copy / TOKENS
    table = pq.read_table(path)
    features = table.schema.metadata[b"huggingface"].replace(b'"B-PERS"', b'"B-PERSON"').replace(b'"I-PERS"', b'"I-PERSON"')
    pq.write_table(table.replace_schema_metadata({b"huggingface": features}), path)
    rehash(committed_copy, TOKENS)
    assert messages(committed_copy) == [
        f"{committed_copy}: README.md: the ClassLabel names of {column} are not the IOB2 tags of the scheme's entity labels: "
        "'B-PERSON' at 1, where the scheme has 'B-PERS'"
        for column in ("ner_tags", "nested_ner_tags")
    ]


def test_a_folder_made_by_hf_download_is_checked_without_huggingface_hubs_record_and_nothing_else(committed_copy):
    """``hf download --local-dir`` writes its record of the download (``.cache/huggingface``) beside the files, and
    downloads the ``.gitattributes`` the Hub makes in every new repository: the check passes over exactly those (it
    reported each as added after the build); anything else in ``.cache``, or a ``.gitattributes`` lower down, is
    still reported. The real download from a Hub: tests/dataset/test_olah.py."""
    (committed_copy / ".gitattributes").write_text("*.parquet filter=lfs diff=lfs merge=lfs -text\n")
    record = committed_copy / ".cache" / "huggingface"
    (record / "download" / "data" / "documents").mkdir(parents=True)
    (record / ".gitignore").write_text("*")
    (record / "download" / "data" / "documents" / "test-00000-of-00001.parquet.metadata").write_text("0" * 40 + "\n")
    assert messages(committed_copy) == []
    (committed_copy / ".cache" / "notes.txt").write_text("mine")
    (committed_copy / ".cache" / "huggingface-old").mkdir()
    (committed_copy / ".cache" / "huggingface-old" / "x").write_text("mine")
    (committed_copy / "data" / ".gitattributes").write_text("mine")
    assert messages(committed_copy) == [
        f"{committed_copy}: {path}: not listed in MANIFEST.json (added after the build)"
        for path in (".cache/huggingface-old/x", ".cache/notes.txt", "data/.gitattributes")
    ]


def _cut_in_half(folder: Path, relative: str) -> None:
    path = folder / relative
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _damaged_pages(folder: Path) -> None:
    """Every byte of the documents file's pages flipped, its footer (the schema, the row counts) kept, and MANIFEST.json
    re-hashed: the file opens, and its rows cannot be read."""
    path = folder / DOCUMENTS
    data = bytearray(path.read_bytes())
    footer = int.from_bytes(data[-8:-4], "little") + 8  # the footer's length, then "PAR1"
    for at in range(4, len(data) - footer):
        data[at] ^= 0x5A
    path.write_bytes(bytes(data))
    rehash(folder, DOCUMENTS)


def _text_of_integers(folder: Path) -> None:
    path = folder / DOCUMENTS
    table = pq.read_table(path)
    pq.write_table(table.set_column(table.schema.get_field_index("text"), "text", pa.array(range(table.num_rows))), path)
    rehash(folder, DOCUMENTS)


def _null(relative: str, change: Callable[[list[dict]], object]) -> Callable[[Path], None]:
    """Rewrite a file with ``change`` made to its rows, and MANIFEST.json with it."""
    def damage(folder: Path) -> None:
        rewrite_rows(folder, relative, change)
        rehash(folder, relative)

    return damage


#: builds a reader was given (a file removed, cut or replaced; a column of another type, null ids or a null token with
#: MANIFEST.json re-hashed to match): the damage, the file the refusal names and what it says
DAMAGED_BUILDS = {
    "tokens-file-removed": (lambda f: (f / TOKENS).unlink(), TOKENS, "listed in MANIFEST.json but missing"),
    "documents-cut-in-half": (lambda f: _cut_in_half(f, DOCUMENTS), DOCUMENTS, "not a readable parquet file"),
    "documents-pages-damaged-rehashed": (_damaged_pages, DOCUMENTS, "cannot read parquet: "),
    "tokens-file-holding-the-quotes": (lambda f: shutil.copyfile(f / QUOTES, f / TOKENS), TOKENS, "MANIFEST.json says"),
    "text-of-integers-rehashed": (_text_of_integers, DOCUMENTS, "arrow schema differs from the card's features"),
    "null-ids-rehashed": (_null(DOCUMENTS, lambda rows: [row.update(id=None) for row in rows]), DOCUMENTS, "null(s) in id"),
    "null-token-rehashed": (_null(TOKENS, lambda rows: rows[0]["tokens"].__setitem__(0, None)), TOKENS, "null(s) in tokens[]"),
}
#: every command that reads a build: its arguments (the build, a good build, a new folder) and its exit status on one that fails its checks
READERS = {
    "diff": (lambda build, good, out: ["diff", good, build], EXIT_UNUSABLE_INPUT),
    "publish": (lambda build, good, out: ["publish", "--repo-id", "khabar-test/khabar", "--build", build, "--dry-run"], EXIT_FAILED_CHECKS),
    **{f"export-{fmt}": (lambda build, good, out, fmt=fmt: ["export", build, "--format", fmt, "--out", out], EXIT_UNUSABLE_INPUT) for fmt in FORMATS},
}


@pytest.mark.parametrize("damaged", DAMAGED_BUILDS)
@pytest.mark.parametrize("reader", READERS)
def test_every_command_that_reads_a_build_refuses_one_that_fails_its_checks_in_one_line(good_build, build_copy, tmp_path, khabar, reader, damaged):
    damage, relative, message = DAMAGED_BUILDS[damaged]
    argv, status = READERS[reader]
    damage(build_copy)
    out = tmp_path / "out"
    run = khabar(*argv(build_copy, good_build, out))
    assert run.status == status and run.out == "" and "Traceback" not in run.err, run.output
    [line] = run.err.splitlines()
    assert f"{build_copy / relative}: the build fails its checks: " in line and message in line
    assert not out.exists()


def test_a_file_whose_rows_cannot_be_read_is_named_with_why_and_no_row_is_blamed_on_it(build_copy, khabar):
    """It said "cannot read (KhabarError)", then that every row of the other configs named a document not in the
    documents config (1 + 290 lines for the committed build)."""
    _damaged_pages(build_copy)
    run = khabar("validate", "--dataset", build_copy)
    assert run.status == EXIT_FAILED_CHECKS, run.output
    damaged, rows, offsets, summary = run.out.splitlines()
    assert damaged.startswith(f"{build_copy}: {DOCUMENTS}: cannot read parquet: ") and "KhabarError" not in damaged
    assert rows == f"{build_copy}: data/documents: split 'test' has 0 rows, the card says 2"
    assert offsets == f"{build_copy}: data/documents: offsets not checked: a file of the config holding the texts cannot be read as the card says"
    assert summary.endswith(": 3 problem(s)")


def test_split_size_against_the_card(build_copy):
    card = build_copy / "README.md"
    text = card.read_text(encoding="utf-8")
    card.write_text(text.replace("num_examples: 2\n", "num_examples: 3\n", 1), encoding="utf-8")
    rehash(build_copy, "README.md")
    [line] = messages(build_copy)
    assert "data/documents: split 'test' has 2 rows, the card says 3" in line


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda f: (f / "MANIFEST.json").unlink(), "not a khabar build: no MANIFEST.json"),
        (lambda f: (f / "MANIFEST.json").write_text('{"files": [{'), "unreadable manifest"),
        (lambda f: (f / "MANIFEST.json").write_text('{"files": {}}'), "'files' must be a list"),
        (lambda f: ((f / "README.md").write_text("no metadata\n"), rehash(f, "README.md")), "no YAML metadata block"),
        (lambda f: ((f / "README.md").write_text("---\nlicense: [\n---\n"), rehash(f, "README.md")), "the card's YAML is broken"),
        (lambda f: ((f / "README.md").write_text("---\nlicense: mit\n---\n"), rehash(f, "README.md")), "no dataset_info"),
        (lambda f: (_card_replace(f, "path: data/documents/", "path: ../../"), rehash(f, "README.md")), "paths inside the folder"),
    ],
    ids=["no-manifest", "manifest-not-json", "manifest-files-not-a-list", "card-without-yaml", "card-yaml-broken", "card-without-dataset-info",
         "card-data-files-outside-the-folder"],
)
def test_unusable_folders_are_exit_2(build_copy, damage, message):
    damage(build_copy)
    with pytest.raises(KhabarError, match=message) as raised:
        check_dataset(build_copy)
    assert raised.value.exit_status == EXIT_UNUSABLE_INPUT


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda f: (f / "README.md").unlink(), "README.md: listed in MANIFEST.json but missing"),
        (lambda f: (f / "README.md").write_text("---\nlicense: mit\n---\nedited\n"), "README.md: sha256"),
    ],
    ids=["card-deleted", "card-replaced"],
)
def test_a_card_damaged_after_the_build_is_a_failed_check(build_copy, damage, message):
    damage(build_copy)
    report = check_dataset(build_copy)
    lines = [problem.line(build_copy) for problem in report.problems]
    assert report.exit_status == EXIT_FAILED_CHECKS
    assert any(message in line for line in lines), lines
    assert lines[-1].endswith("README.md: no dataset card") or "no dataset_info" in lines[-1], lines


@pytest.mark.parametrize("kind", ["a regular file", "a symlink loop", "a dangling symlink"])
def test_a_build_that_is_not_a_folder_is_named_for_what_it_is(tmp_path, kind):
    """Each was "no such dataset folder": it is there, and it is no folder."""
    path = tmp_path / "build"
    {"a regular file": lambda: path.write_text("notes\n", encoding="utf-8"), "a symlink loop": lambda: path.symlink_to(path),
     "a dangling symlink": lambda: path.symlink_to(tmp_path / "nowhere")}[kind]()
    with pytest.raises(KhabarError) as raised:
        check_dataset(path)
    assert str(raised.value) == f"{path}: {kind}, not a dataset folder" and raised.value.exit_status == EXIT_UNUSABLE_INPUT


def test_no_such_folder(tmp_path):
    with pytest.raises(KhabarError, match="no such dataset folder") as raised:
        check_dataset(tmp_path / "nowhere")
    assert raised.value.exit_status == EXIT_UNUSABLE_INPUT


def test_cli_validate_dataset(good_build, build_copy, khabar):
    clean = khabar("validate", "--dataset", good_build)
    assert clean.status == 0, clean.output
    assert "clean" in clean.out and "Traceback" not in clean.output
    relabel_card(build_copy)
    failed = khabar("validate", "--dataset", build_copy)
    assert failed.status == EXIT_FAILED_CHECKS and "label names" in failed.out
    (build_copy / "MANIFEST.json").unlink()
    unusable = khabar("validate", "--dataset", build_copy)
    assert unusable.status == EXIT_UNUSABLE_INPUT and "no MANIFEST.json" in unusable.err


def _report(folder: Path) -> tuple[list[str], int, int, int]:
    report = check_dataset(folder)
    return [problem.line(folder) for problem in report.problems], report.rows, report.spans, report.tokens


def test_a_batch_checked_whole_finds_what_its_rows_checked_one_by_one_find(build_copy, monkeypatch):
    """Polars checks a batch of rows whole and Arrow its label values; only a batch with a problem is read row by
    row, for the messages. Whatever the batch size, the report is the one of every row read one by one."""
    def documents(rows):
        last = rows[-1]
        last["entities"][0]["text"] += "!"  # a span's text that is not the document's
        last["entities"][-1]["start"] = -1  # a negative offset: Python's slice and polars' differ, Python judges it
        last["entities"][-1]["label"] = 99  # a label out of range
        if last["zones"]:
            last["zones"][0]["start"] = None  # offsets that are not numbers are not judged

    def tokens(rows):
        rows[-1]["token_starts"][-1] = -2  # a token where a negative start puts it
        rows[0]["doc_id"] = "no-such-document"
        if len(rows) > 1:
            rows[1]["token_starts"] = rows[1]["token_starts"][:-1]  # one start fewer than tokens

    clean = _report(build_copy)
    monkeypatch.setattr(dataset_check, "_clean_offsets", lambda *args: None)
    monkeypatch.setattr(dataset_check, "_labels_in_range", lambda *args: False)
    assert _report(build_copy) == clean and clean[0] == [], "the clean build counts the same rows, spans and tokens either way"
    monkeypatch.undo()

    rewrite_rows(build_copy, DOCUMENTS, documents)
    rewrite_rows(build_copy, TOKENS, tokens)
    rehash(build_copy, DOCUMENTS)
    rehash(build_copy, TOKENS)
    reports = []
    for rows_at_once in (parquet.ROWS_AT_ONCE, 1):
        monkeypatch.setattr(parquet, "ROWS_AT_ONCE", rows_at_once)
        reports.append(_report(build_copy))
    monkeypatch.setattr(dataset_check, "_clean_offsets", lambda *args: None)
    monkeypatch.setattr(dataset_check, "_labels_in_range", lambda *args: False)
    row_by_row = _report(build_copy)
    assert reports == [row_by_row, row_by_row]
    found = "\n".join(row_by_row[0])
    assert "is not the document's text" in found and "outside the text" in found and "is 99, outside 0..20" in found
    assert "document no-such-document is not in the documents config" in found and "token" in found
