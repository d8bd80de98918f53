"""``khabar diff`` between builds of two fixture versions, and ``khabar stats``."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest

from khabar.annotation.scheme import load_scheme
from khabar.dataset.build import build
from khabar.dataset.diff import diff_builds, read_build
from khabar.dataset.release import load_release
from khabar.dataset.stats import SpanTally
from khabar.gold.inputs import from_tables
from tests.dataset import khabar_fixtures as fx


def test_diff_of_two_builds_shows_the_changes(built_v1, tmp_path, datasheet_copy, khabar):
    tables = fx.tables("v2")
    # v2: every document its own story, and ratios that let five documents fill three splits
    tables = replace(tables, documents=tables.documents.with_columns(story=pl.col("doc_id")))
    v1 = load_release().version
    major, minor, _ = map(int, v1.split("."))
    release = replace(load_release(), version=f"{major}.{minor + 1}.0", splits=(("train", 0.6), ("validation", 0.2), ("test", 0.2)))
    sheet = tmp_path / "DATASHEET.md"
    sheet.write_bytes(datasheet_copy.read_bytes())
    v2 = tmp_path / "khabar-v2"
    build(from_tables(tables), v2, datasheet=sheet, release=release)

    result = diff_builds(read_build(built_v1), read_build(v2))
    # compared a range of documents at a time: one document at a time, the same
    assert diff_builds(read_build(built_v1), read_build(v2), documents_at_once=1) == result
    assert (result.old_version, result.new_version) == (v1, release.version)
    assert result.documents_added == [fx.SHAFAQ] and result.documents_removed == []
    assert result.spans_relabeled == {"entity/ORG→NORP": 1}
    assert result.spans_removed == {"entity/GPE": 1}
    assert result.spans_added == {"entity/GPE": 1}
    new_splits = read_build(v2).split_of
    moved = [(doc, "test", split) for doc, split in sorted(new_splits.items()) if split != "test" and doc != fx.SHAFAQ]
    assert moved and result.splits_changed == moved

    cli = khabar("diff", built_v1, v2, "--json")
    assert cli.status == 0
    assert json.loads(cli.out)["spans_relabeled"] == {"entity/ORG→NORP": 1}
    same = khabar("diff", built_v1, built_v1)
    assert same.out.splitlines()[-1] == "no differences"


def test_diff_of_a_folder_that_is_not_a_build_is_one_line(tmp_path, khabar):
    result = khabar("diff", tmp_path, tmp_path)
    assert result.status == 2 and "not a khabar build" in result.err and "Traceback" not in result.err


@pytest.mark.parametrize("config", ["documents", "tokens"])
def test_diff_of_a_build_with_a_damaged_file_is_one_line_naming_it(built_v1, tmp_path, khabar, config):
    import shutil

    damaged = tmp_path / "damaged"
    shutil.copytree(built_v1, damaged)
    path = sorted((damaged / "data" / config).glob("*.parquet"))[-1]
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    result = khabar("diff", built_v1, damaged)
    assert result.status == 2 and result.out == ""
    assert result.err.count("\n") == 1 and str(path) in result.err and "Traceback" not in result.err
    assert "the build fails its checks" in result.err and "MANIFEST.json says" in result.err and "not a readable parquet file" in result.err


def test_stats_counts_and_surface_forms_with_two_labels():
    tables = fx.tables("v1")
    tally = SpanTally()
    tally.add(tables.spans)
    counts = tally.label_counts(load_scheme())
    assert len(counts) == sum(len(layer.labels) for layer in load_scheme().layers)
    by = {(c.layer, c.label): c.spans for c in counts}
    assert by["entity", "GPE"] == tables.spans.filter((pl.col("layer") == "entity") & (pl.col("label") == "GPE")).height
    assert by["entity", "CURR"] == 0
    conflicts = {(c.layer, c.text): dict(c.labels) for c in tally.surface_conflicts()}
    # بغداد is GPE for most annotations and LOC in one; العراق is GPE and LOC
    assert conflicts["entity", "بغداد"]["LOC"] == 1 and conflicts["entity", "بغداد"]["GPE"] >= 3
    assert set(conflicts["entity", "العراق"]) == {"GPE", "LOC"}
    assert all(len(labels) > 1 for labels in conflicts.values())

    by_document = SpanTally()  # a document at a time, as ``khabar stats`` counts a range at a time: the same
    for _, spans in sorted(tables.spans.group_by("doc_id"), key=lambda group: str(group[0])):
        by_document.add(spans)
    assert by_document == tally and tally.documents == tables.spans["doc_id"].n_unique() > 1


def with_new_field(build: Path, config: str, rows: list[dict], name: str, value: str) -> None:
    """Rewrite ``config``'s one parquet file of ``build`` with ``rows`` and a string field ``name`` added, as a later
    release that adds a field writes it: in the file's features, the card's and MANIFEST.json."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import yaml

    from khabar.foundation.manifest import file_entry

    [path] = (build / "data" / config).glob("*.parquet")
    schema = pq.read_schema(path)
    metadata = json.loads(schema.metadata[b"huggingface"])
    metadata["info"]["features"][name] = {"dtype": "string", "_type": "Value"}
    table = pa.Table.from_pylist(rows, schema=schema).append_column(name, pa.array([value] * len(rows)))
    pq.write_table(table.replace_schema_metadata({b"huggingface": json.dumps(metadata)}), path)
    card = build / "README.md"
    _, front, body = card.read_text(encoding="utf-8").split("---\n", 2)
    meta = yaml.safe_load(front)
    [info] = [info for info in meta["dataset_info"] if info["config_name"] == config]
    info["features"].append({"name": name, "dtype": "string"})
    card.write_text(f"---\n{yaml.safe_dump(meta, allow_unicode=True, sort_keys=False)}---\n{body}", encoding="utf-8")
    manifest = json.loads((build / "MANIFEST.json").read_text(encoding="utf-8"))
    manifest["files"] = [file_entry(build, build / entry["path"]) for entry in manifest["files"]]
    (build / "MANIFEST.json").write_text(json.dumps(manifest), encoding="utf-8")


def test_diff_shows_new_fields_and_changed_tokens_though_no_span_changed(built_v1, tmp_path, khabar):
    import shutil

    import pyarrow.parquet as pq

    changed = tmp_path / "retokenised"
    shutil.copytree(built_v1, changed)
    [path] = (changed / "data" / "tokens").glob("*.parquet")
    rows = pq.read_table(path).to_pylist()
    first = rows[0]
    rows[0] = first | {"tokens": first["tokens"][1:], "token_starts": first["token_starts"][1:], "ner_tags": first["ner_tags"][1:],
                       "nested_ner_tags": first["nested_ner_tags"][1:]}
    with_new_field(changed, "tokens", rows, "script", "arab")

    result = diff_builds(read_build(built_v1), read_build(changed))
    assert diff_builds(read_build(built_v1), read_build(changed), documents_at_once=1) == result
    assert not (result.spans_added or result.spans_removed or result.spans_relabeled or result.config_rows)
    assert result.fields_added == {"tokens": ["script"]} and result.fields_removed == {}
    assert result.tokens_changed == [first["doc_id"]] and result.tokens[0] - result.tokens[1] == 1
    lines = khabar("diff", built_v1, changed).out.splitlines()
    assert "fields added      tokens: script" in lines and "no differences" not in lines
    assert any(line.startswith("tokens changed    1 document(s)") for line in lines)


def _relabels_by_counter(old: list[tuple], new: list[tuple]) -> tuple[dict, dict, dict]:
    """The multiset reading of a diff, place by place (a place of each version: document and annotator), as Python's
    Counter gives it."""
    from collections import Counter

    def at(spans):
        places: dict = {}
        for doc_id, annotator, layer, start, end, label in spans:
            places.setdefault((doc_id, annotator, layer, start, end), []).append(label)
        return places

    before, after = at(old), at(new)
    added, removed, relabeled = Counter(), Counter(), Counter()
    for key in set(before) | set(after):
        was, now = Counter(before.get(key, ())), Counter(after.get(key, ()))
        gone, came = sorted((was - now).elements()), sorted((now - was).elements())
        for a, b in zip(gone, came):
            relabeled[f"{key[2]}/{a}→{b}"] += 1
        for label in gone[len(came):]:
            removed[f"{key[2]}/{label}"] += 1
        for label in came[len(gone):]:
            added[f"{key[2]}/{label}"] += 1
    return dict(sorted(added.items())), dict(sorted(removed.items())), dict(sorted(relabeled.items()))


def _spans(rows: list[tuple]) -> pl.DataFrame:
    schema = {"doc_id": pl.String, "annotator": pl.String, "layer": pl.String, "start": pl.Int64, "end": pl.Int64, "label": pl.String}
    return pl.DataFrame(rows, schema=schema, orient="row")


def test_spans_added_removed_and_relabeled_are_the_multisets_difference_place_by_place():
    """Each version of a document apart: one annotator's span at a place and another's gone from it are two changes
    (summed over the versions, they cancelled out); a gold build's spans, and a version no one signed, have no annotator."""
    import random

    from khabar.dataset.diff import _label_changes

    rng = random.Random(3)
    for _ in range(40):
        def spans():
            return [(rng.choice("ab"), rng.choice([None, "annotator-1", "annotator-2"]), rng.choice(["entity", "zone"]), rng.randrange(3),
                     rng.randrange(3, 5), rng.choice(["GPE", "ORG", "PERS", "TITLE"]))
                    for _ in range(rng.randrange(0, 25))]

        old, new = spans(), spans() if rng.random() < 0.7 else []
        assert _label_changes(_spans(old), _spans(new)) == _relabels_by_counter(old, new)


@pytest.fixture(scope="module")
def per_annotator(tmp_path_factory, datasheet_copy) -> Path:
    """A per-annotator build of the repository's own export (13 annotations of 5 documents), through the real command."""
    from tests.cli_support import run_khabar

    out = tmp_path_factory.mktemp("per-annotator") / "khabar"
    assert run_khabar("build", "--per-annotator", "--out", str(out), "--datasheet", str(datasheet_copy)) == 0
    return out


def test_two_per_annotator_builds_are_compared_version_by_version(per_annotator, tmp_path, khabar):
    """An entity that one annotator's version of a document lost and another's gained is a span removed and a span
    added: the versions' spans were added together, and the diff said there was no difference."""
    import shutil

    import pyarrow as pa
    import pyarrow.parquet as pq

    from tests.reliability.reliability_support import rehash

    moved = tmp_path / "moved"
    shutil.copytree(per_annotator, moved)
    [path] = (moved / "data" / "documents").glob("*.parquet")
    table = pq.read_table(path)
    rows = table.to_pylist()
    giver, taker, entity = next(
        (giver, taker, entity)
        for giver in rows for taker in rows if giver["id"] == taker["id"] and giver["annotator"] != taker["annotator"]
        for entity in giver["entities"] if all((e["start"], e["end"]) != (entity["start"], entity["end"]) for e in taker["entities"])
    )
    giver["entities"].remove(entity)
    taker["entities"] = sorted([*taker["entities"], entity], key=lambda e: (e["start"], e["end"]))
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), path)
    rehash(moved, path.relative_to(moved).as_posix())
    names = json.loads(table.schema.metadata[b"huggingface"])["info"]["features"]["entities"]["feature"]["label"]["names"]

    run = khabar("diff", per_annotator, moved, "--json")
    assert run.status == 0, run.err
    result = run.json()
    assert result["spans_added"] == result["spans_removed"] == {f"entity/{names[entity['label']]}": 1}
    assert result["spans_relabeled"] == {} and result["documents_added"] == result["documents_removed"] == []


def test_a_per_annotator_build_and_a_gold_build_are_refused_in_one_line(per_annotator, built_v1, khabar):
    """Each annotator's spans against the gold's: their counts were read as changes."""
    for old, new in ((built_v1, per_annotator), (per_annotator, built_v1)):
        run = khabar("diff", old, new)
        assert run.status == 2 and run.out == "" and run.err.count("\n") == 1, run.output
        assert f"{per_annotator}: a per-annotator build (a version of each document per annotator) cannot be compared with a gold build" in run.err
