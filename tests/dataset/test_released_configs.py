"""What the released configs tell a researcher: tokens that do not leak the gold, the zone of every
span, sources named truthfully, the knowledge base's ids and the quote clusters."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import datasets
import polars as pl
import pytest

from khabar.annotation.scheme import load_scheme
from khabar.dataset.configs import document_table, quote_table
from khabar.dataset.features import BODY, column_of, zone_names
from khabar.dataset.iob import ALIGNMENTS, decode_nested
from khabar.dataset.links import read_clusters, read_entities, read_links
from khabar.foundation.errors import KhabarError
from khabar.foundation.paths import repo
from khabar.gold.adjudicate import adjudicate
from khabar.gold.inputs import from_tables
from khabar.kb.files import NOT_IN_BASE
from tests.dataset import khabar_fixtures

TOKEN_COLUMNS = ("doc_id", "sentence", "start", "end", "tokens", "token_starts")


def load(folder: Path, config: str, cache: Path) -> datasets.Dataset:
    return datasets.load_dataset(str(folder), config, cache_dir=str(cache))["test"]


@pytest.fixture(scope="module")
def committed(tmp_path_factory, datasheet_copy) -> Path:
    """The committed release built from the repository's own inputs, through the real command."""
    from tests.cli_support import run_khabar

    out = tmp_path_factory.mktemp("committed") / "khabar"
    assert run_khabar("build", "--out", str(out), "--datasheet", str(datasheet_copy)) == 0
    return out


def test_tokens_of_the_committed_release_are_those_of_the_corpus_with_no_annotations(committed, tmp_path, datasheet_copy, khabar):
    bare = tmp_path / "bare"
    result = khabar("build", "--exports", "--out", bare, "--datasheet", datasheet_copy)  # the flag alone: no exports
    assert result.status == 0, result.err
    annotated, unannotated = load(committed, "tokens", tmp_path / "c1"), load(bare, "tokens", tmp_path / "c2")
    assert any(any(tags) for tags in annotated["ner_tags"]) and not any(any(tags) for tags in unannotated["ner_tags"])
    for column in TOKEN_COLUMNS:
        assert annotated[column] == unannotated[column], column


def _undeclared(features: dict, declared: dict[str, bool], path: str = "") -> list[str]:
    """The paths of the fields of ``features`` (``datasets`` Features) whose names ``declared`` lacks: a list's items are
    no column of a table (a release never writes a null list, nor a null in one), the fields of a struct in it are."""
    found = []
    for name, feature in features.items():
        field, items = f"{path}.{name}" if path else name, ""
        while isinstance(feature, (datasets.List, datasets.LargeList, datasets.Sequence)):
            feature, items = feature.feature, items + "[]"
        if isinstance(feature, dict):
            found += _undeclared(feature, declared, field + items)
        elif not items and name not in declared:
            found.append(field)
    return found


def test_every_column_of_every_config_is_declared_with_whether_it_may_hold_a_null(committed):
    """One declaration per released column (``khabar.foundation.tables``), which ``validate --dataset`` holds the nulls
    to: a span's zone, an entity's normalized form, a sentence's number, a quote's cluster were declared nowhere, and no
    null in them was ever refused. The committed build's configs, and the per-annotator build's annotator column."""
    from khabar.dataset.features import all_features
    from khabar.foundation.tables import released_nullable
    from khabar.validation.dataset_check import card_configs, read_card

    declared = released_nullable()
    configs = card_configs(committed, read_card(committed))
    assert {config.name for config in configs} == {"documents", "tokens", "quotes"}
    for config in configs:
        assert _undeclared(config.features, declared) == [], config.name
    per_annotator = all_features(load_scheme(), per_annotator=True)["documents"]
    assert _undeclared(datasets.Features.from_arrow_schema(per_annotator.arrow_schema), declared) == []


def test_every_gold_entity_is_on_whole_tokens_or_counted_as_left_out(committed, tmp_path):
    documents, tokens = load(committed, "documents", tmp_path), load(committed, "tokens", tmp_path)
    names = documents.features["entities"].feature["label"]
    tags = tokens.features["ner_tags"].feature
    report = json.loads((committed / "build_report.json").read_text(encoding="utf-8"))["tokens_alignment"]
    gold = Counter(names.int2str(e["label"]) for row in documents for e in row["entities"])
    assert {label: sum(counts.values()) for label, counts in report.items()} == gold  # every entity counted once
    decoded: Counter[str] = Counter()
    widened = 0
    entities = {(row["id"], e["start"], e["end"], names.int2str(e["label"])) for row in documents for e in row["entities"]}
    for row in tokens:
        offsets = [(s, s + len(t)) for s, t in zip(row["token_starts"], row["tokens"])]
        for span in decode_nested(offsets, [[tags.int2str(t) for t in column] for column in row["nested_ner_tags"]]):
            decoded[span.label] += 1
            widened += (row["doc_id"], *span) not in entities
    assert decoded == +Counter({label: counts["exact"] + counts["widened"] for label, counts in report.items()})
    assert widened == sum(counts["widened"] for counts in report.values()) > 0  # the proclitics before names
    assert set(next(iter(report.values()))) == set(ALIGNMENTS)


def test_every_span_carries_the_zone_it_lies_in(committed, tmp_path):
    scheme = load_scheme()
    documents, quotes = load(committed, "documents", tmp_path), load(committed, "quotes", tmp_path)
    zone = documents.features["entities"].feature["zone"]
    assert zone.names == zone_names(scheme) == [BODY, *scheme.labels("zone")]
    assert quotes.features["zone"].names == zone.names and quotes.features["sources"].feature["zone"].names == zone.names
    zone_label = documents.features["zones"].feature["label"]
    seen: Counter[str] = Counter()
    quote_zone = {}
    for row in documents:
        zones = [(z["start"], z["end"], zone_label.int2str(z["label"])) for z in row["zones"]]
        for layer in scheme.layer_names:
            if layer == "zone":
                assert "zone" not in row["zones"][0]
                continue
            for span in row[column_of(layer)]:
                holding = sorted((end - start, name) for start, end, name in zones if start <= span["start"] < end)
                assert zone.int2str(span["zone"]) == (holding[0][1] if holding else BODY)
                seen[zone.int2str(span["zone"])] += 1
                quote_zone[row["id"], span["start"], span["end"]] = span["zone"]
    assert seen[BODY] and seen["RELATED"]  # the teasers of other stories are there, and now say so
    for quote in quotes:
        assert quote["zone"] == quote_zone[quote["doc_id"], quote["start"], quote["end"]]
        for part in quote["sources"] + quote["cues"]:
            assert part["zone"] == quote_zone[quote["doc_id"], part["start"], part["end"]]


def tables(text: str, spans: list[tuple[str, str, str, str]], relations: list[tuple[str, str, str]]) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """One document; ``spans``: (region, layer, label, phrase), each phrase at its first place in ``text``."""
    rows = []
    for region, layer, label, phrase in spans:
        start = text.index(phrase)
        rows.append({"doc_id": "d1", "region_id": region, "layer": layer, "label": label, "start": start, "end": start + len(phrase),
                     "text": phrase, "quote_type": "direct" if label == "CONTENT" else None})
    documents = pl.DataFrame({"doc_id": ["d1"], "text": [text], "source": ["x"], "url": [None], "published": [""], "title": [""], "story": ["s"],
                              "language": ["ar"]})
    relation_rows = [{"doc_id": "d1", "from_region": a, "to_region": b, "label": label} for a, b, label in relations]
    return documents, pl.DataFrame(rows), pl.DataFrame(relation_rows, schema={"doc_id": pl.String, "from_region": pl.String, "to_region": pl.String, "label": pl.String})


def test_sources_name_the_entity_of_their_extent_or_their_head_else_none():
    scheme = load_scheme()
    entity = scheme.entity.name
    text = "قال فرع «داعش» في أفغانستان إن الهجوم نجح. وقال مسؤولون عراقيون كبار إن الوضع هادئ. وأكدت الحكومة العراقية ذلك."
    documents, spans, relations = tables(text, [
        ("c1", "attribution", "CONTENT", "الهجوم نجح"), ("s1", "attribution", "SOURCE", "فرع «داعش» في أفغانستان"), ("v1", "attribution", "CUE", "قال"),
        ("e1", entity, "ORG", "داعش"), ("e2", entity, "GPE", "أفغانستان"),
        ("c2", "attribution", "CONTENT", "الوضع هادئ"), ("s2", "attribution", "SOURCE", "مسؤولون عراقيون كبار"),
        ("e3", entity, "OCC", "مسؤولون عراقيون"), ("e4", entity, "NORP", "عراقيون"),
        ("c3", "attribution", "CONTENT", "ذلك"), ("s3", "attribution", "SOURCE", "الحكومة العراقية"),
        ("e5", entity, "ORG", "الحكومة العراقية"), ("e6", entity, "GPE", "العراقية"),
    ], [("c1", "s1", "source"), ("c1", "v1", "cue"), ("c2", "s2", "source"), ("c3", "s3", "source")])
    links = pl.DataFrame({"doc_id": ["d1", "d1"], "start": [text.index("الحكومة"), text.index("عراقيون")], "end": [text.index(" ذلك"), text.index(" كبار")],
                          "label": ["ORG", "NORP"], "entity_id": ["iraqi-government", NOT_IN_BASE]})
    clusters = pl.DataFrame({"doc_id": ["d1"], "start": [text.index("الوضع")], "end": [text.index(". وأكدت")], "cluster_id": ["qc-1"]})
    quotes = quote_table(spans, relations, scheme, links, clusters).to_pylist()
    labels = scheme.entity.labels
    named = {q["text"]: [(labels[s["entity_label"]] if s["entity_label"] is not None else None, s["entity_id"]) for s in q["sources"]] for q in quotes}
    assert named == {
        "الهجوم نجح": [(None, None)],  # a branch of an organisation, in a country: neither the ORG nor the GPE inside
        "الوضع هادئ": [("OCC", None)],  # no entity has the extent: the longest that starts where the source starts
        "ذلك": [("ORG", "iraqi-government")],  # the entity of exactly the source's extent, and its link
    }
    assert [c["entity_label"] for c in quotes[0]["cues"]] == [None]
    assert [q["cluster_id"] for q in quotes] == [None, "qc-1", None]

    document = document_table(documents, spans, relations, scheme, links).to_pylist()[0]
    assert document["title"] is None and document["published"] is None  # missing values: null, never ''
    assert {e["text"]: e["entity_id"] for e in document["entities"]}["عراقيون"] is None  # "-": explicitly in no entry
    assert {e["text"]: e["entity_id"] for e in document["entities"]}["الحكومة العراقية"] == "iraqi-government"


def test_the_knowledge_base_tables_read_as_frames_and_a_missing_file_is_empty(tmp_path):
    assert read_links(tmp_path).height == 0 and read_entities(tmp_path).height == 0 and read_clusters(tmp_path).height == 0
    (tmp_path / "entities.csv").write_text("entity_id,type,canonical_name,aliases,wikidata\nbaghdad,GPE,بغداد,بغداد|بغدادي,\n", encoding="utf-8")
    (tmp_path / "links.csv").write_text("doc_id,start,end,label,entity_id\nd1,0,5,GPE,baghdad\n", encoding="utf-8")
    entities = read_entities(tmp_path)
    assert entities.row(0) == ("baghdad", "GPE", "بغداد", "بغداد|بغدادي", None)
    assert read_links(tmp_path).schema["start"] == pl.Int64
    (tmp_path / "quote_clusters.csv").write_text("doc_id,begin,end,cluster_id\n", encoding="utf-8")
    with pytest.raises(KhabarError, match="header «doc_id,begin,end,cluster_id» lacks 'start' and has 'begin' besides: expected doc_id,start") as raised:
        read_clusters(tmp_path)
    assert "quote_clusters.csv" in str(raised.value) and raised.value.exit_status == 2
    (tmp_path / "links.csv").write_text("doc_id,start,end,label,entity_id\nd1,zero,5,GPE,baghdad\n", encoding="utf-8")
    with pytest.raises(KhabarError, match="links.csv:2: start «zero» is not a whole number"):
        read_links(tmp_path)


def test_the_knowledge_base_is_released_beside_the_ids_and_listed_in_the_manifest(committed):
    kb = repo().root / "annotation" / "kb" / "entities.csv"
    manifest = json.loads((committed / "MANIFEST.json").read_text(encoding="utf-8"))
    listed = {f["path"] for f in manifest["files"]}
    if kb.exists():
        assert (committed / "kb" / "entities.csv").read_bytes() == kb.read_bytes() and "kb/entities.csv" in listed
    else:
        assert not (committed / "kb").exists() and "kb/entities.csv" not in listed


def test_what_the_card_and_datasheet_say_about_how_the_data_was_made_is_true(committed):
    from datetime import datetime

    tasks = json.loads((repo().exports_dir / "khabar.json").read_text(encoding="utf-8"))
    annotations = [a for task in tasks for a in task["annotations"]]
    created = sorted(datetime.fromisoformat(a["created_at"]) for a in annotations)
    assert len(annotations) == 13 and (created[-1] - created[0]).total_seconds() < 6  # one bulk load
    assert all(a.get("lead_time") is None for a in annotations)  # no lead time recorded

    # CONTENT spans that share a passage of 20 characters or more with the guidelines (white space and
    # quotation marks aside), and those quoted there whole
    def plain(text: str) -> str:
        return " ".join(text.replace("«", " ").replace("»", " ").replace('"', " ").split())

    guidelines = plain((repo().root / "annotation" / "GUIDELINES.md").read_text(encoding="utf-8"))
    contents = [plain(q["text"]) for q in load_rows(committed, "quotes")]
    shared = sum(1 for t in contents if any(t[i : i + 20] in guidelines for i in range(max(1, len(t) - 19))))
    whole = sum(1 for t in contents if t in guidelines)
    sheet = " ".join((repo().root / "DATASHEET.md").read_text(encoding="utf-8").split())
    assert f"{shared} of the {len(contents)} gold CONTENT spans share a passage" in sheet and f"({whole} are quoted there whole)" in sheet
    assert "all fall within 6 seconds" in sheet and "Spans are drawn in Label Studio" not in sheet
    assert "all three layers, all on one story" not in sheet and "Their article bodies are all on one story" in sheet
    card = (committed / "README.md").read_text(encoding="utf-8")
    assert "**Before evaluating on this data**" in card and "filter on `zone`" in card


def load_rows(build: Path, config: str) -> list[dict]:
    import pyarrow.parquet as pq

    return [row for path in sorted((build / "data" / config).glob("*.parquet")) for row in pq.read_table(path).to_pylist()]


def test_entities_carry_their_standalone_form_beside_the_offsets(committed, tmp_path):
    """Rule B4 spans (``لتحالف`` inside ``للتحالف``) keep their offsets and carry the word they stand for."""
    documents = load(committed, "documents", tmp_path)
    names = documents.features["entities"].feature["label"]
    restored = {}
    for row in documents:
        for e in row["entities"]:
            assert e["text"] == row["text"][e["start"] : e["end"]]  # the offsets are untouched
            if e["normalized"] != e["text"]:
                assert row["text"][e["start"] - 1] == "ل" and e["normalized"] == "ا" + e["text"]
                restored[e["text"]] = (e["normalized"], names.int2str(e["label"]))
            else:
                assert e["normalized"] is not None
    assert restored["لتحالف"] == ("التحالف", "ORG")
    assert restored["لعراق"][0] == "العراق"
    assert all(not text.startswith("لل") for text in restored)


def test_quotes_flag_exactly_the_reviewed_ambiguous_source_links(committed, tmp_path):
    from khabar.kb.files import AmbiguousSource, read

    quotes = load(committed, "quotes", tmp_path)
    flagged = {(q["doc_id"], q["start"], q["end"]) for q in quotes if q["source_ambiguous"]}
    assert flagged == {(r.doc_id, r.start, r.end) for r in read(AmbiguousSource)} and len(flagged) == 2
    assert all(q["source_ambiguous"] is False for q in quotes if (q["doc_id"], q["start"], q["end"]) not in flagged)
    assert all(q["sources"] for q in quotes if q["source_ambiguous"])  # a flag always has a source it is about


def test_documents_made_in_another_order_are_the_same_rows_in_that_order():
    """A build makes a range's ``documents`` rows split by split (the rows of a split are then sliced, not filtered):
    each row is the one made in id order, whatever the order."""
    scheme, inputs = load_scheme(), from_tables(khabar_fixtures.tables("v1"))
    gold = adjudicate(inputs)
    by_id = document_table(inputs.documents, gold.spans, gold.relations, scheme).to_pylist()
    assert len(by_id) >= 3 and any(row["entities"] for row in by_id)
    ids = sorted(row["id"] for row in by_id)
    split = {doc_id: (len(ids) - i) % 3 for i, doc_id in enumerate(ids)}  # ids spread over three splits, not in id order
    numbered = inputs.documents.with_columns(split=pl.col("doc_id").replace_strict(split, return_dtype=pl.Int64))
    by_split = document_table(numbered, gold.spans, gold.relations, scheme, order=("split", "doc_id")).to_pylist()
    expected = sorted(by_id, key=lambda row: (split[row["id"]], row["id"]))
    assert [row["id"] for row in by_split] == [row["id"] for row in expected] != ids
    assert by_split == expected
