"""The tasks a pull sets aside on disk come back exactly as they went in; a merge reads them back a task at a time."""

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
    copy = spool.task(1)
    copy["annotations"].clear()
    assert spool.task(1) == tasks[1], "changing a task read back leaves the spool as it was"
    spool.close()


def test_doc_id_is_a_string_of_an_object_data():
    assert doc_id_of({"data": {"doc_id": "d1"}}) == "d1"
    for task in ({}, {"data": None}, {"data": "d1"}, {"data": {"doc_id": 5}}, {"data": []}):
        assert doc_id_of(task) is None


def test_a_merge_reads_a_task_of_each_side_at_a_time_and_counts_what_it_writes(tmp_path):
    """The merge over spools, without a server: the server's new annotation lands in the file's task, its new task is
    appended with an id the file does not use, and an annotation the file holds without an annotator is kept."""
    from khabar.studio.export import FileSide, SnapshotTasks, stable_task
    from khabar.studio.merge import PullMerge, merge_pull
    from khabar.studio.sync import Annotations, SyncState, compare

    salma = {"id": 3, "email": "salma@example.org"}
    file_tasks = [{"id": 8, "data": {"doc_id": "a"}, "annotations": [{"id": 1, "unique_id": "u1", "result": []}], "predictions": []}]
    server_raw = [
        {"id": 8, "data": {"doc_id": "b"}, "annotations": [{"id": 5, "unique_id": "u3", "completed_by": salma, "result": []}]},
        {"id": 1, "data": {"doc_id": "a"}, "annotations": [{"id": 4, "unique_id": "u2", "completed_by": salma, "result": []}]},
    ]
    side = FileSide.of(file_tasks, "x.json", tmp_path)
    spool = TaskSpool(tmp_path / "server.spool")
    for task in server_raw:
        spool.add(task)
    server = SnapshotTasks(spool, {"salma@example.org": "annotator-1"})
    assert [t["id"] for t in server] == [1, 8] and server.of_doc_id("b") == stable_task(server_raw[0], server.pseudonyms)
    assert server.of_doc_id("missing") is None
    theirs = Annotations("server", "the server", server.task)
    for rank, task in enumerate(server):
        theirs.add(rank, task)
    state = SyncState(tmp_path / "x.sync")
    differences = compare(side.annotations, theirs, state)
    report = PullMerge()
    merged = list(merge_pull(side.spool, server, differences, state, report))
    assert [t["data"]["doc_id"] for t in merged] == ["a", "b"]
    assert [a["unique_id"] for a in merged[0]["annotations"]] == ["u1", "u2"]
    assert merged[1]["id"] == 9 and merged[1]["annotations"][0]["id"] == 5, "a task id the file uses is replaced, an unused annotation id kept"
    assert (report.tasks, report.annotations, report.annotators, report.changed, report.tasks_added) == (2, 3, {"annotator-1"}, True, 1)
    assert set(state.annotations) == {"u2", "u3"}, "what both now hold; u1 is the file's alone until a push"
