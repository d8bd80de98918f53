"""From a Label Studio export (as `khabar studio pull` writes it) through validation to a loadable build."""

from __future__ import annotations

import json
from pathlib import Path

import datasets

from khabar.foundation.paths import repo
from khabar.gold.inputs import documents_table
from tests.dataset import khabar_fixtures as fx

DOCS = {row["doc_id"]: row for row in documents_table(repo().documents_file).iter_rows(named=True)}
RT = DOCS[fx.RT]
CONTEXT = "وقالت رومانوفسكي"
QUOTE = "يقدر كلانا أن تنظيم داعش لا يزال يمثل تهديدا هنا"


def region(region_id: str, layer: str, label: str, surface: str, context: str = "") -> dict:
    start, end = fx.find(RT["text"], surface, context)
    return {"from_name": layer, "id": region_id, "origin": "manual", "to_name": "text", "type": "labels",
            "value": {"start": start, "end": end, "labels": [label], "text": surface}}


def export(offset_shift: int = 0) -> list[dict]:
    content = region("cnt1", "attribution", "CONTENT", QUOTE)
    content["value"]["start"] += offset_shift
    result = [
        region("per1", "entity", "PERS", "ألينا رومانوفسكي"),
        region("gpe1", "entity", "GPE", "بغداد"),
        region("org1", "entity", "ORG", "تنظيم داعش", "يقدر كلانا"),
        region("org2", "entity", "ORG", "داعش", "يقدر كلانا"),
        region("cue1", "attribution", "CUE", "قالت", CONTEXT),
        region("src1", "attribution", "SOURCE", "رومانوفسكي", CONTEXT),
        content,
        {"from_name": "quote_type", "id": "cnt1", "to_name": "text", "type": "choices",
         "value": {**{k: content["value"][k] for k in ("start", "end", "text")}, "choices": ["direct"]}},
        {"direction": "right", "from_id": "cnt1", "to_id": "src1", "labels": ["source"], "type": "relation"},
        {"direction": "right", "from_id": "cnt1", "to_id": "cue1", "labels": ["cue"], "type": "relation"},
    ]
    prediction = [region("p1", "entity", "GPE", "بغداد"), region("p2", "entity", "PERS", "رومانوفسكي", CONTEXT)]
    return [{
        "annotations": [{"completed_by": {"pseudonym": "annotator-1"}, "created_at": "2026-01-05T10:00:00.000000Z",
                         "ground_truth": False, "id": 11, "lead_time": 42.5, "result": result,
                         "updated_at": "2026-01-05T10:05:00.000000Z", "was_cancelled": False}],
        "data": {"doc_id": RT["doc_id"], "source": RT["source"], "text": RT["text"], "title": RT["title"]},
        "drafts": [],
        "id": 1,
        "predictions": [{"id": 5, "model_version": "gazetteer-1", "result": prediction}],
    }]


def write(path: Path, tasks: list[dict]) -> Path:
    path.write_text(json.dumps(tasks, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def test_build_from_an_export_through_validation(tmp_path, datasheet_copy, khabar):
    exported = write(tmp_path / "khabar.json", export())
    sheet = tmp_path / "DATASHEET.md"
    sheet.write_bytes(datasheet_copy.read_bytes())
    out = tmp_path / "build"
    result = khabar("build", "--exports", exported, "--out", out, "--datasheet", sheet)
    assert result.status == 0, result.err
    documents = datasets.load_dataset(str(out), "documents", cache_dir=str(tmp_path / "cache"))["test"]
    assert documents.num_rows == 5
    rt = next(r for r in documents if r["id"] == fx.RT)
    names = documents.features["entities"].feature["label"].names
    assert sorted((names[e["label"]], e["text"]) for e in rt["entities"]) == sorted(
        [("PERS", "ألينا رومانوفسكي"), ("GPE", "بغداد"), ("ORG", "تنظيم داعش"), ("ORG", "داعش")]
    )
    quotes = datasets.load_dataset(str(out), "quotes", cache_dir=str(tmp_path / "cache"))["test"]
    assert quotes[0]["text"] == QUOTE and quotes.features["quote_type"].int2str(quotes[0]["quote_type"]) == "direct"
    assert quotes[0]["sources"][0]["text"] == "رومانوفسكي" and quotes[0]["cues"][0]["text"] == "قالت"
    manifest = json.loads((out / "MANIFEST.json").read_text())
    assert [e["file"] for e in manifest["inputs"]["exports"]] == ["khabar.json"]
    report = json.loads((out / "build_report.json").read_text())
    entity = report["pre_annotator"][0]
    assert (entity["predicted"], entity["gold"], entity["correct"]) == (2, 4, 1)
    assert "Model version(s): gazetteer-1" in sheet.read_text(encoding="utf-8")


def test_an_export_with_errors_is_refused_and_nothing_is_written(tmp_path, datasheet_copy, khabar):
    exported = write(tmp_path / "khabar.json", export(offset_shift=3))  # CONTENT offsets no longer match its text
    out = tmp_path / "build"
    result = khabar("build", "--exports", exported, "--out", out, "--datasheet", datasheet_copy)
    assert result.status == 1
    assert "validation found" in result.err and "khabar validate" in result.err and "Traceback" not in result.err
    assert not out.exists()


def test_stats_of_an_export(tmp_path, khabar):
    exported = write(tmp_path / "khabar.json", export())
    result = khabar("stats", "--exports", exported, "--json")
    assert result.status == 0, result.err
    stats = json.loads(result.out)
    counts = {(c["layer"], c["label"]): c["spans"] for c in stats["labels"]}
    assert counts["entity", "ORG"] == 2 and counts["attribution", "CONTENT"] == 1 and counts["zone", "TITLE"] == 0
    assert stats["surface_conflicts"] == []
    table = khabar("stats", "--exports", exported)
    assert "gold spans: 7 in 1 document(s)" in table.out and "ORG 2" in table.out
