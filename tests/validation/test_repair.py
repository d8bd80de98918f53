"""``khabar validate --repair``: mechanical fixes only, each one printed, never a guess."""

from __future__ import annotations

import json
import re
from unittest.mock import patch

import pytest

from khabar.validation import reader, repair
from khabar.validation.api import validate_exports
from tests.validation.validation_exports import TEXT, annotation, locate, span, task, valid_result, write_export


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


def _drifted(region_id: str, by: int) -> list[dict]:
    """The clean annotation with region ``region_id`` (and its quote_type) moved ``by`` characters, as after a text edit."""
    results = valid_result()
    for item in results:
        if item.get("id") == region_id:
            item["value"]["start"] += by
            item["value"]["end"] += by
    return results


def _trailing_space_region(label: str, region_id: str) -> dict:
    """«بغداد» drawn with the white space after it (gpe1 is «بغداد» there, labelled GPE)."""
    padded = span("بغداد ", label, region_id=region_id)
    assert padded["value"]["start"] == next(r for r in valid_result() if r["id"] == "gpe1")["value"]["start"]
    return padded


def _crossing_when_moved() -> dict:
    """«بغداد ألينا», 100 characters off: moved back, it crosses per1 «ألينا رومانوفسكي»."""
    moved = span("بغداد ألينا", "ORG", region_id="moved")
    moved["value"]["start"] += 100
    moved["value"]["end"] += 100
    return moved


#: a repair each, and the rule the repaired annotation fails where the annotation as read passed it
BREAKING_REPAIRS = {
    "trimmed into a copy of another region": (lambda: _trailing_space_region("GPE", "pad"), "pad", "no_duplicate_region"),
    "moved across another entity": (_crossing_when_moved, "moved", "entity_no_crossing"),
    "trimmed into a text another label has (a warning)": (lambda: _trailing_space_region("LOC", "loc"), "loc", "consistent_label"),
}


@pytest.mark.parametrize("case", list(BREAKING_REPAIRS))
def test_a_repair_that_makes_a_rule_fail_is_refused_and_no_file_is_written(tmp_path, khabar, case):
    """Whatever the rule, a repair whose result fails a rule its input passed is refused: one line naming file,
    task, region, repair and rule, exit 2, and no file written, not even another export's ordinary repair."""
    make, region_id, rule = BREAKING_REPAIRS[case]
    broken = write_export(tmp_path, [task([annotation([*valid_result(), make()])])], "broken.json")
    ordinary = write_export(tmp_path, [task([annotation(_drifted("cnt1", 3))])], "ordinary.json")
    before = {path: path.read_bytes() for path in (broken, ordinary)}
    assert rule not in {f.check for f in validate_exports([broken]).failures}

    run = khabar("validate", "--repair", ordinary, broken)
    assert run.status == 2 and run.out == ""
    error = [line for line in run.err.splitlines() if "error" in line]
    assert len(error) == 1 and error[0].startswith(f"khabar validate: error: {broken}: task 1: region {region_id}: not repaired: ")
    assert f" fail {rule} (" in error[0] and "no file written" in error[0]
    assert {path: path.read_bytes() for path in before} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.json", "ordinary.json"]


#: values json reads its own way, beside the repaired region: kept as written
ODD_VALUES = b'"meta": {"big": 1e400, "e": 1E2, "esc": "\\u0041/", "k": 1, "k": 2, "nan": NaN, "neg": -0.0, "f": 1.50},'


def _layouts(tasks) -> dict[str, bytes]:
    """The export laid out as each writer lays it out, with :data:`ODD_VALUES` in its task."""
    plain = json.dumps(tasks, ensure_ascii=False, separators=(",", ":"))
    return {
        "khabar studio pull": stable(tasks).encode(),
        "one line, as Label Studio's snapshot": json.dumps(tasks, ensure_ascii=False).encode(),
        "one line, as Label Studio's UI (ujson)": plain.replace("/", "\\/").encode(),
        "indent 4, CRLF": json.dumps(tasks, ensure_ascii=False, indent=4).replace("\n", "\r\n").encode(),
        "ASCII only": json.dumps(tasks, indent=1).encode(),
    }


@pytest.mark.parametrize("layout", list(_layouts([])))
def test_a_repair_changes_only_the_bytes_of_the_values_it_repairs(tmp_path, khabar, layout):
    """A drifted CONTENT and its quote_type move back: their four offsets are the only bytes that change, whatever
    the layout (one line stays one line) and whatever json reads its own way elsewhere (1e400, 1E2, an escape, a
    key given twice, NaN, -0.0, 1.50), and json reads the file as the export with those offsets."""
    data = _layouts([task([annotation(_drifted("cnt1", 3))])])[layout]
    data = re.sub(rb'("data" ?: ?\{)', lambda found: ODD_VALUES.replace(b": ", b":" if b'":{' in data else b": ") + found.group(1), data, count=1)
    assert b"1e400" in data
    path = tmp_path / "export.json"
    path.write_bytes(data)
    start, end = locate("يقدر كلانا أن تنظيم داعش لا يزال يمثل تهديدا هنا")
    expected = data
    for old, new in ((start + 3, start), (end + 3, end)):  # each in the region and its quote_type, and nowhere else
        token = re.compile(rb"(?<=[:\s])%d(?=[,\s}])" % old)
        assert len(token.findall(data)) == 2
        expected = token.sub(b"%d" % new, expected)

    run = khabar("validate", "--repair", path)
    assert run.status == 0 and "1 repair(s) applied" in run.err, run.err
    assert path.read_bytes() == expected
    wanted = json.loads(data)
    wanted[0]["annotations"][0]["result"] = [*valid_result()]  # the offsets as they were before the drift
    assert json.dumps(json.loads(path.read_bytes()), sort_keys=True) == json.dumps(wanted, sort_keys=True)  # NaN equals itself there


def test_a_text_repair_writes_the_new_text_over_the_old_and_nothing_else(tmp_path, khabar):
    """Editor newlines and a trimmed span on Label Studio's one line: the old text and end give way to the new ones."""
    surface = "بشكل كامل لم ينته بعد.\n\nإقرأ المزيد"
    zone = span(surface, "META", "zone", region_id="nl")
    zone["value"]["text"] = surface.replace("\n", "\\n")
    padded = span("واشنطن ", "GPE", region_id="pad")
    data = json.dumps([task([annotation([zone, padded])])], ensure_ascii=False).encode()
    path = tmp_path / "export.json"
    path.write_bytes(data)
    expected = data.replace(json.dumps(zone["value"]["text"], ensure_ascii=False).encode(), json.dumps(surface, ensure_ascii=False).encode(), 1)
    end = padded["value"]["end"]
    assert expected.count(b'"end": %d' % end) == 1
    expected = expected.replace(b'"text": "\xd9\x88\xd8\xa7\xd8\xb4\xd9\x86\xd8\xb7\xd9\x86 "', '"text": "واشنطن"'.encode()).replace(b'"end": %d' % end, b'"end": %d' % (end - 1))

    run = khabar("validate", "--repair", path)
    assert "editor newlines" in run.err and "white space trimmed" in run.err
    assert path.read_bytes() == expected and b"\n" not in expected


def test_a_warning_the_repaired_error_hid_is_reported_not_refused(tmp_path, khabar):
    """A drifted «وقالت» fails span_text_matches, which hides its proclitic: moved back onto its text, it is repaired
    and its entity_proclitic warning reported, as it is for the span drawn there (found by the repair, not made)."""
    drawn = span("وقالت", "PERS", region_id="x")
    clean = write_export(tmp_path, [task([annotation([*valid_result(), drawn])])], "drawn.json")
    assert [(f.check, f.region_id) for f in validate_exports([clean]).failures] == [("entity_proclitic", "x")]
    drifted = json.loads(json.dumps(drawn))
    drifted["value"]["start"] += 7
    drifted["value"]["end"] += 7
    path = write_export(tmp_path, [task([annotation([*valid_result(), drifted])])])
    assert [(f.check, f.region_id) for f in validate_exports([path]).failures] == [("span_text_matches", "x")]

    run = khabar("validate", "--repair", path)
    assert run.status == 0 and "1 repair(s) applied" in run.err, run.err
    assert path.read_bytes() == clean.read_bytes()
    assert len(run.lines_of("entity_proclitic")) == 1 and " region x " in run.lines_of("entity_proclitic")[0]
