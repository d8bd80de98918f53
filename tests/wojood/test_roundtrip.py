"""What goes in comes out: Wojood's nested tags survive import → validate → build → load_dataset.

The comparison is token by token at every nesting level. The only differences
accepted are the ones the importer reports (an ``I-`` tag that opens nothing,
read as ``B-``; two entities over the same tokens, whose column order character
spans cannot carry), and their number is pinned here so a new one fails.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from khabar.annotation.conll_import import import_conll, read_conll
from khabar.foundation.paths import repo
from khabar.validation.api import validate_exports
from tests.studio.studio_support import read_export
from tests.wojood.wojood_support import SPLITS, build_and_compare, wojood_file, write_inputs

#: Facts of the sample (SOURCE.md): tokens, entities (B- tags), `$#$` sentinels, `#ERROR!` values.
EXPECTED = {
    "train": {"tokens": 18_887, "entities": 2_883, "dropped": {"$#$": 350, "#ERROR!": 3}, "repairs": 1, "ties": 0},
    "val": {"tokens": 2_743, "entities": 470, "dropped": {"$#$": 56}, "repairs": 0, "ties": 1},
    "test": {"tokens": 5_344, "entities": 870, "dropped": {"$#$": 117}, "repairs": 0, "ties": 0},
}


def _clean_and_unchanged(imported, export: Path, documents: Path, folder: Path):
    """Validate ``export`` (no error, one span per imported entity), build it, and compare the build's tokens
    and tags with the CoNLL file's: no mismatch and no sentence cut where the file has none."""
    result = validate_exports([export], documents)
    assert result.errors == 0, [f.message for f in result.failures if f.severity == "error"][:5]
    assert result.tables.spans.height == imported.entities
    comparison = build_and_compare(imported, export, documents, folder)
    assert comparison.mismatches == []
    assert comparison.sentence_cuts == []
    return comparison


@pytest.mark.parametrize("split", SPLITS)
def test_import_accounts_for_every_token_and_entity(split: str) -> None:
    imported = import_conll(wojood_file(split))
    expected = EXPECTED[split]
    assert imported.tokens_read == expected["tokens"]
    assert imported.entities == expected["entities"]
    assert imported.dropped == expected["dropped"]
    assert imported.tokens_kept + sum(imported.dropped.values()) == imported.tokens_read
    assert len(imported.repairs) == expected["repairs"]
    assert len(imported.ties) == expected["ties"]
    for task, document in zip(imported.tasks, imported.documents, strict=True):
        text = document.record.text
        assert task["data"]["text"] == text
        for result in task["annotations"][0]["result"]:
            value = result["value"]
            assert text[value["start"] : value["end"]] == value["text"]
        for start, end in document.offsets:
            assert text[start:end] not in ("", " ") and " " not in text[start:end]


def test_full_sample_round_trip(tmp_path: Path) -> None:
    """All three files: import → validate (no error) → build → load_dataset → identical tags."""
    for split in SPLITS:
        folder = tmp_path / split
        imported = import_conll(wojood_file(split))
        documents, export = write_inputs(imported, folder)
        comparison = _clean_and_unchanged(imported, export, documents, folder)
        assert comparison.tokens_compared == imported.tokens_kept
        assert comparison.repaired == EXPECTED[split]["repairs"]
        # val.txt:61 «كيلو» is UNIT (outer column) and QUANTITY: the builder orders same-extent
        # entities by the scheme's label order, so QUANTITY comes first
        assert comparison.reordered == EXPECTED[split]["ties"]
        assert comparison.matched + comparison.repaired + comparison.reordered == comparison.tokens_compared


@pytest.mark.studio
def test_val_through_label_studio(tmp_path: Path, studio_server, studio_project_title: str) -> None:
    """val.txt pushed into a real Label Studio and pulled back comes out of the build unchanged."""
    from khabar.studio.export import pull
    from khabar.studio.project import sync_project
    from khabar.studio.push import push_export

    imported = import_conll(wojood_file("val"))
    documents, export = write_inputs(imported, tmp_path)
    client = studio_server.client()
    sync = sync_project(client, studio_project_title, repo().labeling_config.read_text(encoding="utf-8"), [d.record for d in imported.documents], progress=lambda _: None)
    assert len(sync.imported) == len(imported.documents)
    pushed = push_export(client, sync.project_id, imported.tasks, progress=lambda _: None)
    assert pushed.annotations_created == len(imported.tasks)

    pulled = tmp_path / "pulled.json"
    pull(client, sync.project_id, pulled, tmp_path / "pseudonyms.json", progress=lambda _: None)
    tasks = read_export(pulled)
    assert sorted(t["data"]["doc_id"] for t in tasks) == sorted(d.record.doc_id for d in imported.documents)
    assert sum(len(a["result"]) for t in tasks for a in t["annotations"]) == imported.entities

    comparison = _clean_and_unchanged(imported, pulled, documents, tmp_path)
    assert comparison.tokens_compared == imported.tokens_kept == 2_687
    assert comparison.matched + comparison.reordered == comparison.tokens_compared


def test_tags_the_source_cannot_carry_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("$#$ B-ORG\n\n", encoding="utf-8")
    with pytest.raises(Exception, match=r"line 1: '\$#\$' is not text but is tagged B-ORG"):
        import_conll(bad)
    bad.write_text("بغداد B-CITY\n", encoding="utf-8")
    with pytest.raises(Exception, match=r"not in the scheme's entity layer and not in the tag map: 'CITY' \(1 tag\(s\), first on line 1\)"):
        import_conll(bad)
    bad.write_text("بغداد\n", encoding="utf-8")
    with pytest.raises(Exception, match=r"line 1: expected 'TOKEN TAG"):
        list(read_conll(bad))
    bad.write_text("\u200e B-GPE\n", encoding="utf-8")
    with pytest.raises(Exception, match=r"line 1: token '\\u200e' is no text once normalised"):
        list(read_conll(bad))
    bad.write_bytes("بغداد B-GPE\n".encode() + b"\xe9 O\n")  # read a line at a time: the byte is found in its file
    with pytest.raises(Exception, match=r"line 2: not UTF-8 \(byte 0xe9 at offset 17\)"):
        list(read_conll(bad))


def test_a_dropped_token_never_joins_two_entities(tmp_path: Path) -> None:
    source = tmp_path / "joined.txt"
    source.write_text("بغداد B-GPE\n#ERROR! O\nدمشق I-GPE\n$#$ O\n", encoding="utf-8")
    imported = import_conll(source)
    document = imported.documents[0]
    assert document.record.text == "بغداد دمشق"
    values = [r["value"] for r in imported.tasks[0]["annotations"][0]["result"]]
    assert [(v["text"], v["labels"]) for v in values] == [("بغداد", ["GPE"]), ("دمشق", ["GPE"])]
    assert [(r.line, r.written, r.read_as) for r in imported.repairs] == [(3, "I-GPE", "B-GPE")]
    assert imported.dropped == {"#ERROR!": 1, "$#$": 1}
