"""The tasks a pull sets aside on disk come back exactly as they went in, by position and by doc_id."""

from __future__ import annotations

import json
import math

from khabar.studio.spool import TaskSpool, doc_id_of


def test_tasks_come_back_exactly_and_each_read_is_a_new_copy(tmp_path):
    lone = json.loads('"\\ud800 half a pair"')  # json lets a lone surrogate through; UTF-8 cannot hold it
    tasks = [
        {"id": 7, "data": {"doc_id": "a", "text": "نص"}, "annotations": [{"id": 70, "lead_time": float("nan"), "result": []}]},
        {"id": 3, "data": {"doc_id": "b", "text": lone}, "annotations": [{"id": 30}, {"id": "x"}], "meta": {"n": 10**30}},
        {"id": 9, "data": {"text": "not khabar's"}, "annotations": "not a list"},
        {"id": 4, "data": {"doc_id": "a", "text": "again"}, "annotations": []},
    ]
    spool = TaskSpool(tmp_path / "tasks.spool")
    assert [spool.add(task) for task in tasks] == [0, 1, 2, 3]
    back = list(spool)
    assert json.dumps(back) == json.dumps(tasks)  # NaN written the same: == would call NaN unequal to itself
    assert math.isnan(back[0]["annotations"][0]["lead_time"]) and back[1]["data"]["text"] == lone
    assert spool.ids == [7, 3, 9, 4] and spool.doc_ids == ["a", "b", None, "a"]
    assert spool.annotation_ids == {70, 30, "x"}
    assert spool.of_doc_id("a") == tasks[3], "the last task of a doc_id"
    assert spool.of_doc_id("missing") is None
    copy = spool.task(1)
    copy["annotations"].clear()
    assert spool.task(1) == tasks[1], "changing a task read back leaves the spool as it was"
    spool.close()


def test_doc_id_is_a_string_of_an_object_data():
    assert doc_id_of({"data": {"doc_id": "d1"}}) == "d1"
    for task in ({}, {"data": None}, {"data": "d1"}, {"data": {"doc_id": 5}}, {"data": []}):
        assert doc_id_of(task) is None
