"""``khabar validate --repair``: mechanical fixes only, each one printed, never a guess."""

from __future__ import annotations

import json
from unittest.mock import patch

from khabar.validation import reader, repair
from khabar.validation.api import validate_exports
from tests.validation.validation_exports import TEXT, annotation, span, task, valid_result, write_export


def stable(tasks) -> str:
    return json.dumps(tasks, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def test_drifted_offsets_move_to_the_single_nearby_occurrence(tmp_path, khabar):
    results = valid_result()
    content = next(r for r in results if r["id"] == "cnt1")
    for item in results:
        if item.get("id") == "cnt1":  # the region and its quote_type drift together, as after a text edit
            item["value"]["start"] += 3
            item["value"]["end"] += 3
    path = write_export(tmp_path, [task([annotation(results)])])
    assert khabar("validate", path).status == 1

    run = khabar("validate", "--repair", path)
    assert run.status == 0, run.out
    assert "repaired:" in run.err and "region cnt1" in run.err and "(the text occurs once nearby)" in run.err
    repaired = json.loads(path.read_text(encoding="utf-8"))
    fixed = [r for r in repaired[0]["annotations"][0]["result"] if r.get("id") == "cnt1"]
    start = TEXT.index(content["value"]["text"])
    assert [(r["value"]["start"], r["value"]["end"]) for r in fixed] == [(start, start + len(content["value"]["text"]))] * 2
    assert path.read_text(encoding="utf-8") == stable(repaired)


def test_two_candidates_are_never_guessed(tmp_path, khabar):
    # «داعش» occurs twice within reach of these offsets
    first = TEXT.index("داعش")
    second = TEXT.index("داعش", first + 1)
    ambiguous = span("داعش", "ORG", region_id="amb")
    ambiguous["value"].update(start=(first + second) // 2, end=(first + second) // 2 + 4)
    path = write_export(tmp_path, [task([annotation([ambiguous])])])
    before = path.read_bytes()
    run = khabar("validate", "--repair", path)
    assert run.status == 1
    assert "not repaired:" in run.err and "region amb" in run.err
    assert "occurs 2 time(s) within 200 characters" in run.err and f"(at {first}, {second})" in run.err
    assert path.read_bytes() == before


def test_editor_newlines_and_white_space(tmp_path, khabar):
    surface = "بشكل كامل لم ينته بعد.\n\nإقرأ المزيد"
    zone = span(surface, "META", "zone", region_id="nl")
    zone["value"]["text"] = surface.replace("\n", "\\n")
    padded = span("بغداد ", "GPE", region_id="pad")
    path = write_export(tmp_path, [task([annotation([zone, padded])])])
    run = khabar("validate", "--repair", "--strict", path)
    assert "editor newlines" in run.err and "white space trimmed" in run.err
    repaired = {r["id"]: r["value"] for r in json.loads(path.read_text(encoding="utf-8"))[0]["annotations"][0]["result"]}
    assert repaired["nl"]["text"] == surface
    start = TEXT.index("بغداد")
    assert (repaired["pad"]["start"], repaired["pad"]["end"], repaired["pad"]["text"]) == (start, start + 5, "بغداد")
    result = validate_exports([path], strict=True)
    assert "pad" not in {f.region_id for f in result.failures if f.check == "span_boundary_clean"}


def test_clean_export_is_left_byte_for_byte(tmp_path, khabar):
    results = valid_result()
    path = tmp_path / "ui.json"
    path.write_text(json.dumps([task([annotation(results)])], ensure_ascii=False), encoding="utf-8")  # not the stable layout
    before = path.read_bytes()
    run = khabar("validate", "--repair", path)
    assert run.status == 0 and "0 repair(s) applied" in run.err
    assert path.read_bytes() == before


def test_unrelated_results_are_untouched(tmp_path, khabar):
    results = valid_result()
    moved = next(r for r in results if r["id"] == "gpe1")
    moved["value"]["start"] += 1
    moved["value"]["end"] += 1
    path = write_export(tmp_path, [task([annotation(results)])])
    khabar("validate", "--repair", path)
    after = json.loads(path.read_text(encoding="utf-8"))[0]["annotations"][0]["result"]
    original = valid_result()
    assert [r for r in after if r.get("id") != "gpe1"] == [r for r in original if r.get("id") != "gpe1"]


def test_a_repair_across_batches_rewrites_the_file_a_task_at_a_time_as_a_whole_read_would(tmp_path, khabar):
    """Many tasks, read one per batch: each drifted region is moved in its own task, the rest left, the file in
    the stable layout of the tasks it holds."""
    tasks, expected = [], []
    for number in range(1, 8):
        results = valid_result()
        if number % 2:  # every other task's content drifts by its number of characters
            for item in results:
                if item.get("id") == "cnt1":
                    item["value"]["start"] += number
                    item["value"]["end"] += number
        tasks.append(task([annotation(results, annotation_id=10 + number)], task_id=number))
        expected.append(task([annotation(valid_result(), annotation_id=10 + number)], task_id=number))
    path = write_export(tmp_path, tasks)
    with patch.object(reader, "BATCH_TASKS", 1):
        run = khabar("validate", "--repair", path)
    assert run.status == 0 and "4 repair(s) applied, 0 left for a person" in run.err
    assert json.loads(path.read_text(encoding="utf-8")) == expected
    assert path.read_text(encoding="utf-8") == stable(expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["project.json"]


def test_a_file_that_became_another_while_it_was_checked_is_refused_and_left(tmp_path, khabar, monkeypatch):
    """Fixes go by position: a file whose task lost the annotation a fix was for is not the file that was checked."""
    results = valid_result()
    for item in results:
        if item.get("id") == "cnt1":
            item["value"]["start"] += 3
            item["value"]["end"] += 3
    path = write_export(tmp_path, [task([annotation(results)])])
    shorter = json.dumps([task([])], ensure_ascii=False)
    real_candidates = repair._candidates

    def emptied_meanwhile(*args):
        found = real_candidates(*args)
        path.write_text(shorter, encoding="utf-8")
        return found

    monkeypatch.setattr(repair, "_candidates", emptied_meanwhile)
    run = khabar("validate", "--repair", path)
    assert run.status == 2 and "changed on disk while it was being checked; not repaired" in run.err
    assert path.read_text(encoding="utf-8") == shorter and sorted(p.name for p in tmp_path.iterdir()) == ["project.json"]
