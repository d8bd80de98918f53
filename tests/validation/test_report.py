"""The four report formats carry every field a person (or a tool) needs."""

from __future__ import annotations

import json

import polars as pl

from khabar.foundation.tables import CORPUS
from khabar.validation.accounting import Accounting
from khabar.validation.api import ValidationResult
from khabar.validation.checks import Severity
from khabar.validation.failures import CHUNK, Failure, FailureRuns, batch_frame
from khabar.validation.report import _failure_json, _failures_json, render
from khabar.validation.table_spool import TableSpool
from tests.validation.validation_exports import DOC, TEXT, annotation, span, task, valid_result, write_export

FIELDS = ("check", "severity", "message", "hint", "file", "task_id", "doc_id", "kind", "annotation_id", "annotator",
          "region_id", "label", "start", "end", "found", "expected")


def broken_export(tmp_path):
    moved = span("بغداد", "GPE", region_id="moved")
    moved["value"]["text"] = "بغدا|د"
    cue = span("قالت", "CUE", "attribution", region_id="cue-alone", context="وقالت رومانوفسكي")
    return write_export(tmp_path, [task([annotation([moved, cue], pseudonym="annotator-3")])])


def test_text_is_grouped_by_document_with_one_line_per_failure(tmp_path, khabar):
    run = khabar("validate", broken_export(tmp_path))
    assert run.status == 1
    lines = run.out.splitlines()
    assert lines[0].endswith("1 error(s), 1 warning(s)")
    assert f"document {DOC['doc_id']}: 1 error(s), 1 warning(s)" in lines
    line = run.lines_of("span_text_matches")[0]
    for part in ("error", "project.json task 1", "annotation 11 by annotator-3", "region moved GPE [27:32]",
                 "found «بغدا|د» expected «بغداد»", "hint:"):
        assert part in line
    assert run.lines_of("cue_linked")[0].lstrip().startswith("warning")
    assert "regions                read 2 = used 1 + excluded 1 (failed check 1)" in run.out


def test_a_long_span_of_many_lines_is_one_line_of_the_report_showing_both_its_edges(tmp_path, khabar):
    zone = span("بعد.\n\nإقرأ المزيد بغداد: نحتاج إلى تعاون لمواجهة الإرهاب\n", "RELATED", "zone", region_id="long")
    end = zone["value"]["end"]
    zone["value"] |= {"start": 0, "text": TEXT[:end]}  # the page's first 231 characters, 3 line breaks, one at its end
    run = khabar("validate", write_export(tmp_path, [task([annotation([zone])])]))
    [line] = run.lines_of("span_boundary_clean")  # a report line is a line: the span's line breaks are escaped
    shown = TEXT[:end]
    head, tail = shown[:29].replace("\n", "\\n"), shown[-30:].replace("\n", "\\n")
    assert f"text «{head}…{tail}»" in line
    assert len(line) < 500


def test_json_has_every_field_and_the_reconciliation(tmp_path, khabar):
    report = khabar("validate", broken_export(tmp_path), "--format", "json").json()
    assert report["errors"] == 1 and report["warnings"] == 1 and report["exit_status"] == 1
    failure = next(f for f in report["failures"] if f["check"] == "span_text_matches")
    assert set(failure) == set(FIELDS)
    assert (failure["region_id"], failure["start"], failure["end"], failure["expected"]) == ("moved", 27, 32, "بغداد")
    regions = next(c for c in report["accounting"]["counts"] if c["unit"] == "regions")
    assert regions == {"unit": "regions", "read": 2, "used": 1, "excluded": {"failed check": 1}}
    assert report["accounting"]["reconciles"] is True


def test_markdown_is_a_table_with_escaped_cells(tmp_path, khabar):
    run = khabar("validate", broken_export(tmp_path), "--format", "markdown")
    assert run.out.startswith("## Khabar validation\n")
    row = next(line for line in run.out.splitlines() if "`span_text_matches`" in line)
    assert row.startswith("| error |") and "«بغدا\\|د»" in row and "annotator-3" in row
    assert "| regions | 2 | 1 | 1 | failed check: 1 |" in run.out


def test_github_annotations(tmp_path, khabar):
    path = broken_export(tmp_path)
    run = khabar("validate", path, "--format", "github")
    lines = run.out.splitlines()
    error = next(line for line in lines if line.startswith("::error "))
    line = next(n for n, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if '"id": "moved"' in text)
    assert error.startswith(f"::error file={str(path).replace(':', '%3A')},line={line},title=khabar span_text_matches::")
    assert "region moved" in error
    assert any(line.startswith("::warning ") and "cue_linked" in line for line in lines)
    assert lines[-1].startswith("::notice title=khabar validate::")


def test_github_escapes_newlines(tmp_path, khabar):
    zone = span("بشكل كامل لم ينته بعد.\n\nإقرأ المزيد", "META", "zone", region_id="nl")
    zone["value"]["end"] -= 1
    run = khabar("validate", write_export(tmp_path, [task([annotation([zone])])]), "--format", "github")
    assert all(line.startswith("::") for line in run.out.splitlines())


def test_clean_markdown(tmp_path, khabar):
    run = khabar("validate", write_export(tmp_path, [task([annotation(valid_result())])]), "--format", "markdown")
    assert run.status == 0 and "✅ 1 export file(s): 0 error(s), 0 warning(s)" in run.out


def test_github_without_the_stable_layout_points_at_the_file(tmp_path, khabar):
    path = tmp_path / "ui.json"
    moved = span("بغداد", "GPE", region_id="moved")
    moved["value"]["start"] = 500
    path.write_text(json.dumps([task([annotation([moved])])], ensure_ascii=False), encoding="utf-8")
    error = next(line for line in khabar("validate", path, "--format", "github").out.splitlines() if line.startswith("::error"))
    assert ",line=" not in error and "region moved" in error


def test_json_is_what_json_dumps_writes_with_an_indent_of_two(tmp_path, khabar):
    run = khabar("validate", broken_export(tmp_path), "--format", "json")
    assert run.out == json.dumps(json.loads(run.out), ensure_ascii=False, indent=2) + "\n"
    # the values a failure can hold that JSON escapes or writes its own way
    awkward = Failure(
        check="span_text_matches", severity=Severity.ERROR, message='a "quote", a \\ and a\nnewline', hint="\u200fعربي\t\x01",
        file=None, task_id=2**70, doc_id="d", kind="annotation", annotation_id=-3, annotator=None, region_id="r1",
        label="GPE", start=0, end=5, found="«بغداد»", expected=None,
    )
    expected = json.dumps(awkward.to_dict(), ensure_ascii=False, indent=2).replace("\n", "\n    ")
    assert _failure_json(awkward) == expected
    # every character below U+0100 and some that JSON could escape, written by msgspec as by json
    every = Failure(**{**awkward.to_dict(), "found": "".join(map(chr, range(0x100))) + "\u2028\u2029\ufeff\U0001f600"})
    as_json = json.dumps(every.to_dict(), ensure_ascii=False, indent=2).replace("\n", "\n    ")
    assert _failures_json([awkward, every]) == "\n    " + expected + ",\n    " + as_json
    # a lone surrogate (json.loads reads one from a \\ud800 escape) cannot be UTF-8 for msgspec: the failures go one at a time
    lone = Failure(**{**awkward.to_dict(), "found": "\ud800"})
    assert _failures_json([awkward, lone]) == "\n    " + expected + ",\n    " + json.dumps(lone.to_dict(), ensure_ascii=False, indent=2).replace("\n", "\n    ")


def test_json_of_many_failures_is_json_dumps_across_its_chunks(tmp_path):
    failures = [
        Failure(
            check="consistent_label", severity=Severity.WARNING, message=f"«بغداد» {n}", hint="h", file="e.json", task_id=n,
            doc_id="d", kind="annotation", annotation_id=n, annotator="annotator-1", region_id=f"r{n}", label="GPE",
            start=n, end=n + 5, found="بغداد", expected="بغداد",
        )
        for n in range(2 * CHUNK + 1)
    ]
    runs = FailureRuns(tmp_path)
    runs.add(batch_frame(failures, [(0, 0, n) for n in range(len(failures))], 0))
    result = ValidationResult(
        spool=TableSpool(pl.DataFrame(schema=CORPUS)), failures=runs.merged(),
        accounting=Accounting(files=1, tasks=1, counts=()),
        files=[tmp_path / "e.json"], sha256s=["0" * 64],
    )
    text = render(result, "json")
    assert text == json.dumps(json.loads(text), ensure_ascii=False, indent=2) + "\n"
    assert [f["task_id"] for f in json.loads(text)["failures"]] == list(range(2 * CHUNK + 1))


def test_github_lines_skip_an_id_json_refuses_in_a_file_changed_since_it_was_checked(tmp_path):
    """The github report reads the export again for its lines: an id there that json refuses (the file changed since
    it was checked) is no line to point at, never a traceback."""
    from khabar.validation.report import export_lines

    path = tmp_path / "export.json"
    long = "9" * 5000
    path.write_text(
        f'[\n  {{\n    "annotations": [\n      {{\n        "id": {long},\n        "result": [\n          {{\n            "id": {long}\n'
        '          },\n          {\n            "id": "\\q"\n          }\n        ]\n      },\n      {\n        "id": 12,\n'
        '        "result": [\n          {\n            "id": "moved"\n          }\n        ]\n      }\n    ]\n  }\n]\n',
        encoding="utf-8",
    )
    json.loads(path.read_text(encoding="utf-8").replace(long, "1").replace("\\q", "q"))  # the layout of a pull, but for those ids
    assert export_lines(str(path)) == {("annotations", 12, None): 16, ("annotations", 12, "moved"): 19}
