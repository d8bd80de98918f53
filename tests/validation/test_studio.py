"""Annotations sent to a real Label Studio (which stores whatever it gets) → pull → validate.

Label Studio 1.23 accepts a wrong label, drifted offsets and a relation to a
region that does not exist; validation is what catches them. The snapshot
pull (``khabar studio pull``) and the plain JSON export of the UI (int
``completed_by``, predictions as ids only) both go through ``khabar validate``.
"""

from __future__ import annotations

import copy
import json

import pytest

from khabar.annotation.gazetteer import Gazetteer
from khabar.annotation.ingest import load_records
from khabar.foundation.paths import repo
from khabar.studio.export import pull
from khabar.studio.project import doc_id_tasks, import_preannotations, sync_project
from khabar.validation.api import validate_exports
from tests.validation.validation_exports import DOC, relation, valid_result

pytestmark = pytest.mark.studio

RECORDS = [r for r in load_records(repo().documents_file) if r.superseded_by is None]


def quiet(_line: str) -> None:
    pass


def broken_result() -> list[dict]:
    result = copy.deepcopy(valid_result())
    by_id = {r.get("id"): r for r in result if r.get("type") == "labels"}
    by_id["gpe1"]["value"]["start"] += 2  # drifted
    by_id["gpe1"]["value"]["end"] += 2
    by_id["org2"]["value"]["labels"] = ["CONTENT"]  # a label of another layer
    result.append(relation(by_id["cnt1"], {"id": "gone"}, "source"))  # to a region that does not exist
    return result


@pytest.fixture(scope="module")
def project(studio_server, tmp_path_factory):
    client = studio_server.client()
    report = sync_project(client, "validation-source", repo().labeling_config.read_text(encoding="utf-8"), RECORDS, progress=quiet)
    import_preannotations(client, report.project_id, Gazetteer(), progress=quiet)
    tasks = doc_id_tasks(client, report.project_id)
    task_id = tasks[DOC["doc_id"]]
    good = client.annotations.create(id=task_id, project=report.project_id, result=valid_result(), lead_time=30.0)
    bad = client.annotations.create(id=task_id, project=report.project_id, result=broken_result(), lead_time=20.0)
    other = tasks[RECORDS[0].doc_id]
    client.annotations.create(id=other, project=report.project_id, result=[], was_cancelled=True, lead_time=2.0)
    folder = tmp_path_factory.mktemp("validation-studio")
    pulled = folder / "validation-source.json"
    pull(client, report.project_id, pulled, folder / "pseudonyms.json", progress=quiet)
    direct = folder / "ui-export.json"
    direct.write_bytes(b"".join(client.projects.exports.download_sync(report.project_id, export_type="JSON", download_all_tasks=True)))
    return {"pulled": pulled, "direct": direct, "good": good.id, "bad": bad.id, "tasks": len(RECORDS)}


def test_pulled_export_names_what_label_studio_let_through(project, khabar):
    run = khabar("validate", project["pulled"], "--format", "json")
    assert run.status == 1
    report = run.json()
    errors = {(f["check"], f["region_id"], f["annotation_id"]) for f in report["failures"] if f["severity"] == "error"}
    assert errors == {
        ("span_text_matches", "gpe1", project["bad"]),
        ("label_in_layer", "org2", project["bad"]),
        ("relation_ends", "cnt1", project["bad"]),
    }
    counts = {c["unit"]: c for c in report["accounting"]["counts"]}
    assert counts["annotations"]["read"] == 3 and counts["annotations"]["excluded"] == {"cancelled": 1}
    assert counts["regions"]["excluded"] == {"failed check": 2}
    assert counts["relations"]["excluded"] == {"failed check": 1}
    assert counts["predictions"]["read"] == project["tasks"] and counts["predictions"]["used"] == project["tasks"]
    assert all(f["annotator"].startswith("annotator-") for f in report["failures"] if f["kind"] == "annotation")


def test_the_good_annotation_reaches_the_tables(project):
    result = validate_exports([project["pulled"]])
    good = result.tables.spans.filter(result.tables.spans["annotation_id"] == project["good"])
    assert good.height == 9 and result.tables.relations.filter(result.tables.relations["annotation_id"] == project["good"]).height == 2
    assert result.tables.predictions_spans.height == result.accounting.count("prediction regions").used > 0


def test_plain_ui_export_is_read_too(project, khabar):
    tasks = json.loads(project["direct"].read_text(encoding="utf-8"))
    assert any(isinstance(a.get("completed_by"), int) for t in tasks for a in t["annotations"])
    report = khabar("validate", project["direct"], "--format", "json").json()
    errors = {(f["check"], f["region_id"]) for f in report["failures"] if f["severity"] == "error"}
    assert errors == {("span_text_matches", "gpe1"), ("label_in_layer", "org2"), ("relation_ends", "cnt1")}
    annotators = {f["annotator"] for f in report["failures"] if f["kind"] == "annotation"}
    assert annotators and all(a.startswith("ls-user-") for a in annotators)
    # the plain export gives predictions as ids only: each is named, none is used
    id_only = [f for f in report["failures"] if f["kind"] == "prediction" and "only an id" in f["message"]]
    assert len(id_only) == project["tasks"] and all(f["severity"] == "warning" and f["annotation_id"] for f in id_only)
    predictions = next(c for c in report["accounting"]["counts"] if c["unit"] == "predictions")
    assert predictions["excluded"] == {"failed check": project["tasks"]}


def test_the_ui_export_is_streamed_a_chunk_at_a_time(project):
    """Label Studio's own JSON export, the list on one line, is read task by task as a pull is, never whole."""
    from unittest.mock import patch

    from khabar.validation import export_json
    from khabar.validation.export_json import ExportFile
    from khabar.validation.reader import OWNER_LISTS

    data = project["direct"].read_bytes()
    assert data.startswith(b'[{"id":') and b"\n" not in data and len(data) > 4 * 4096  # ujson.dumps(tasks, ensure_ascii=False)
    export = ExportFile(project["direct"], streamed=True, owner_lists=OWNER_LISTS.values())
    try:
        with patch.object(export_json, "READ_CHUNK", 4096):
            tasks = list(export.tasks())
    finally:
        export.close()
    assert [task.value for task in tasks] == json.loads(data) and len(tasks) == project["tasks"]
    assert not any(task.by_json for task in tasks)  # every task cut and decoded by msgspec
    assert sum(task.size for task in tasks) == len(data) - 2 - (len(tasks) - 1)  # every byte but the brackets and the commas between tasks
