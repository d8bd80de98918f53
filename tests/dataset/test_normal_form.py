"""Text that is not in the form the ingest normaliser gives is refused wherever it is read back:
in a built dataset (``validate --dataset``) and in the corpus records an export is validated against."""

from __future__ import annotations

import json
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from khabar.annotation.normalize import departure, normalize_text
from khabar.foundation.paths import repo


@pytest.mark.parametrize(
    ("text", "found"),
    [("\ufeffبغداد", "U+FEFF"), ("قالت\u200e السفيرة", "U+200E"), ("سطر\r\nسطر", "carriage return"), ("ا\u0654", "NFC")],
)
def test_departure_names_what_the_normaliser_would_change(text, found):
    assert found in departure(text)
    assert departure(normalize_text(text)) is None


def test_validate_dataset_flags_text_not_in_the_ingest_normal_form(built_v1, tmp_path, khabar):
    copy = tmp_path / "khabar"
    shutil.copytree(built_v1, copy)
    assert khabar("validate", "--dataset", copy).status == 0
    path = next((copy / "data" / "documents").glob("*.parquet"))
    table = pq.read_table(path)
    texts = table["text"].to_pylist()
    texts[0] = "\u200f" + texts[0]
    column = table.schema.get_field_index("text")
    pq.write_table(table.set_column(column, table.schema.field("text"), pa.array(texts, pa.string())), path)
    run = khabar("validate", "--dataset", copy)
    assert run.status == 1 and "Traceback" not in run.out + run.err
    flagged = [line for line in run.out.splitlines() if "normal form of ingest" in line]
    assert len(flagged) == 1 and "row 0 (document " in flagged[0] and "U+200F" in flagged[0] and "data/documents/" in flagged[0], run.out


def unnormalised_corpus(folder):
    """The committed corpus records with a CR put into the second text."""
    records = [json.loads(line) for line in repo().documents_file.read_text(encoding="utf-8").splitlines()]
    records[1]["text"] = records[1]["text"].replace("\n", "\r\n", 1)
    corpus = folder / "documents.jsonl"
    corpus.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return corpus, records


def test_validate_refuses_corpus_records_not_in_the_ingest_normal_form(tmp_path, khabar):
    export = tmp_path / "khabar.json"
    shutil.copyfile(repo().exports_dir / "khabar.json", export)
    assert khabar("validate", export, "--documents", repo().documents_file).status == 0
    corpus, records = unnormalised_corpus(tmp_path)
    before = corpus.read_bytes(), export.read_bytes()
    run = khabar("validate", export, "--documents", corpus)
    assert run.status == 2 and "Traceback" not in run.out + run.err
    assert str(corpus) in run.err and records[1]["doc_id"] in run.err and "carriage return" in run.err, run.err
    assert (corpus.read_bytes(), export.read_bytes()) == before


def test_build_without_exports_refuses_corpus_records_not_in_the_ingest_normal_form(tmp_path, khabar, datasheet_copy):
    corpus, records = unnormalised_corpus(tmp_path)
    sheet = datasheet_copy.read_bytes()
    run = khabar("build", "--exports", "--documents", corpus, "--out", tmp_path / "out", "--datasheet", datasheet_copy)
    assert run.status == 2 and "Traceback" not in run.out + run.err
    assert records[1]["doc_id"] in run.err and "carriage return" in run.err, run.err
    assert not (tmp_path / "out").exists() and datasheet_copy.read_bytes() == sheet
