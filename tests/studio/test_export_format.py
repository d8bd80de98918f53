"""Pseudonyms and the stable export format, on export-shaped data (no server)."""

from __future__ import annotations

import json
import os
import re
import stat

import pytest

from khabar.annotation.gazetteer import gazetteer_from_tasks
from khabar.foundation import jsonl
from khabar.foundation.errors import KhabarError
from khabar.foundation.export_files import export_paths
from khabar.foundation.files import write_atomic
from khabar.studio.export import Annotators, FileSide, SnapshotTasks, annotation_pseudonyms, load_gazetteer, load_pseudonym_book
from khabar.studio.spool import TaskSpool


def user(uid: int, email: str) -> dict:
    return {"id": uid, "email": email, "first_name": "Salma", "last_name": "Haddad"}


def raw_task(task_id: int, annotations: list[dict], drafts: list[dict] | None = None) -> dict:
    return {
        "id": task_id,
        "data": {"text": "قال", "doc_id": f"doc{task_id}", "source": "s", "title": "t"},
        "annotations": annotations,
        "drafts": drafts or [],
        "predictions": [{"id": 9, "created_ago": "3 minutes", "model_version": "m", "result": []}],
        "updated_at": "2026-01-01T00:00:00Z",
        "updated_by": 3,
        "comment_authors": [{"id": 3, "email": "x@example.org"}],
        "inner_id": task_id,
    }


def raw_annotation(aid: int, who: dict, unique_id: str) -> dict:
    return {
        "id": aid,
        "completed_by": who,
        "unique_id": unique_id,
        "result": [],
        "created_ago": "1 minute",
        "created_username": f"{who['first_name']} {who['email']}, {who['id']}",
        "updated_by": who["id"],
        "last_created_by": who["id"],
        "lead_time": 1.5,
    }


SALMA = user(3, "salma@example.org")
OMAR = user(4, "omar@example.org")


def assign_pseudonyms(tasks: list[dict], previous: list[dict], book: dict[str, str]) -> dict[str, str]:
    """The pseudonyms a pull gives the users of a snapshot's raw ``tasks``, against a previous file's tasks."""
    annotators = Annotators()
    for task in tasks:
        annotators.add(task)
    return annotators.pseudonyms({k: v for t in previous for k, v in annotation_pseudonyms(t).items()}, book)


def stable_export(tasks: list[dict], pseudonyms: dict[str, str], folder) -> list[dict]:
    """The snapshot's tasks as a pull reads them back: set aside raw, then stable, in id order."""
    spool = TaskSpool(folder / "server.spool")
    for task in tasks:
        spool.add(task)
    return list(SnapshotTasks(spool, pseudonyms))


def test_new_users_get_annotator_numbers_in_order_of_first_annotation():
    tasks = [raw_task(2, [raw_annotation(7, OMAR, "u7")]), raw_task(1, [raw_annotation(5, SALMA, "u5")])]
    assert assign_pseudonyms(tasks, [], {}) == {"salma@example.org": "annotator-1", "omar@example.org": "annotator-2"}


def test_previous_file_keeps_pseudonyms_by_annotation_unique_id_on_a_new_machine():
    previous = [{"id": 1, "annotations": [{"unique_id": "u5", "completed_by": {"pseudonym": "annotator-7"}}]}]
    tasks = [raw_task(1, [raw_annotation(5, SALMA, "u5"), raw_annotation(6, OMAR, "u6")])]
    assert assign_pseudonyms(tasks, previous, {}) == {"salma@example.org": "annotator-7", "omar@example.org": "annotator-8"}


def test_local_book_and_placeholder_users_win():
    from khabar.studio.export import _user_key

    tasks = [raw_task(1, [raw_annotation(5, SALMA, "u5"), raw_annotation(6, user(9, "annotator-4@khabar.invalid"), "u6")])]
    book = {_user_key("salma@example.org"): "annotator-2"}
    assert assign_pseudonyms(tasks, [], book) == {"salma@example.org": "annotator-2", "annotator-4@khabar.invalid": "annotator-4"}


def test_stable_export_drops_identities_and_volatile_fields_and_sorts(tmp_path):
    draft = {"id": 2, "user": "omar@example.org", "created_username": "Omar omar@example.org, 4", "created_ago": "now", "result": []}
    tasks = [raw_task(2, []), raw_task(1, [raw_annotation(6, OMAR, "u6"), raw_annotation(5, SALMA, "u5")], [draft])]
    pseudonyms = assign_pseudonyms(tasks, [], {})
    stable = stable_export(tasks, pseudonyms, tmp_path)
    text = jsonl.dumps_document(stable)
    assert [t["id"] for t in stable] == [1, 2]
    assert [a["id"] for a in stable[0]["annotations"]] == [5, 6]
    assert stable[0]["annotations"][0]["completed_by"] == {"pseudonym": "annotator-1"}
    assert stable[0]["drafts"][0]["completed_by"] == {"pseudonym": "annotator-2"}
    for gone in ("@", "Salma", "Haddad", "created_ago", "created_username", "updated_by", "last_created_by", "comment_authors"):
        assert gone not in text
    assert '"updated_at"' not in text, "the task's updated_at moves without anyone's work changing"
    assert text.endswith("]\n") and text == json.dumps(json.loads(text), ensure_ascii=False, sort_keys=True, indent=2) + "\n"
    assert "قال" in text, "UTF-8, not \\u escapes"


def test_embedded_prediction_becomes_its_id(tmp_path):
    """Label Studio embeds the prediction an annotation started from, with its own created_ago."""
    annotation = raw_annotation(5, SALMA, "u5")
    annotation["prediction"] = {"id": 9, "created_ago": "3 minutes", "model_version": "m", "result": []}
    stable = stable_export([raw_task(1, [annotation])], assign_pseudonyms([raw_task(1, [annotation])], [], {}), tmp_path)
    assert stable[0]["annotations"][0]["prediction"] == 9
    assert "created_ago" not in jsonl.dumps_document(stable)


def test_atomic_write_leaves_the_old_file_when_interrupted(tmp_path, monkeypatch):
    target = tmp_path / "khabar.json"
    target.write_text("old\n", encoding="utf-8")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(KhabarError, match="disk full"):
        write_atomic(target, "new\n")
    assert target.read_text(encoding="utf-8") == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["khabar.json"], "no temp file left behind"


def test_pseudonym_book_is_read_and_bad_input_is_named(tmp_path):
    book = tmp_path / "pseudonyms.json"
    assert load_pseudonym_book(book) == {}
    book.write_text("{not json", encoding="utf-8")
    with pytest.raises(KhabarError, match="pseudonyms.json"):
        load_pseudonym_book(book)


def test_the_file_a_pull_reads_must_be_a_list_of_task_objects(tmp_path):
    """Whatever else the file is, one line naming it and what is wrong (pull and push read it a task at a time)."""
    path = tmp_path / "x.json"
    for text, problem in (('{"id": 1}', "the top level is a JSON dict"), ("[\n  1\n]\n", "list of task objects): item 0 is a JSON int"),
                          ('[{"id": 1, "data": {"doc_id": "d1"}}', "not a JSON export (not JSON"), ("", "empty file")):
        path.write_text(text, encoding="utf-8")
        with pytest.raises(KhabarError, match=re.escape(problem)) as refused:
            FileSide.read(path, tmp_path)
        assert str(path) in str(refused.value) and "\n" not in str(refused.value)


def test_gazetteer_learns_submitted_entities_with_majority_label(tmp_path):
    def entity(text: str, label: str) -> dict:
        return {"from_name": "entity", "type": "labels", "value": {"start": 0, "end": len(text), "text": text, "labels": [label]}}

    tasks = [
        {"annotations": [{"was_cancelled": False, "result": [entity("بغداد", "GPE"), entity("السفارة\\nالأميركية", "ORG")]}]},
        {"annotations": [{"was_cancelled": False, "result": [entity("بغداد", "GPE"), entity("بغداد", "LOC")]}]},
        {"annotations": [{"was_cancelled": True, "result": [entity("داعش", "ORG")]}]},
    ]
    assert dict(gazetteer_from_tasks(tasks).entries) == {"بغداد": "GPE"}
    (tmp_path / "gold.json").write_text(json.dumps(tasks), encoding="utf-8")
    assert dict(load_gazetteer(export_paths([tmp_path])).entries) == {"بغداد": "GPE"}
    with pytest.raises(KhabarError, match="no such export file or folder"):  # not an empty gazetteer: a wrong --exports
        export_paths([tmp_path / "none"])
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "x.json").write_text('{"id": 1}', encoding="utf-8")
    with pytest.raises(KhabarError, match="cannot build the gazetteer: not a JSON export .*the top level is a JSON dict") as refused:
        load_gazetteer(export_paths([tmp_path / "broken"]))
    assert str(tmp_path / "broken" / "x.json") in str(refused.value)


def test_private_json_is_owner_only(tmp_path):
    from khabar.studio.server import write_private_json

    path = tmp_path / "sub" / "credentials.json"
    write_private_json(path, {"token": "x"})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
