"""Checking a batch of tasks at a time gives what checking the whole read at once gives.

Every report is the same too when each batch's failures are set aside as a run of their own
and merged at the end, as an export with more failures than a run holds has them.

The only rules that look across tasks are the duplicate ids: a task id repeated in
a file and an annotation id repeated anywhere, here with the copies in different
batches (one task per batch), next to every other kind of failure the committed
export and a few broken tasks give.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from unittest.mock import patch

from khabar.annotation.scheme import load_scheme
from khabar.foundation.paths import repo
from khabar.validation import failures, reader
from khabar.validation.api import ValidationResult, validate_exports
from khabar.validation.report import REPORTS, render
from tests.validation.validation_exports import annotation, span, task, valid_result, write_export


def _validated(paths: list[Path], batch_tasks: int, run_failures: int = failures.RUN_FAILURES) -> ValidationResult:
    with patch.object(reader, "BATCH_TASKS", batch_tasks), patch.object(failures, "RUN_FAILURES", run_failures):
        return validate_exports(paths)


def _same(paths: list[Path]) -> ValidationResult:
    whole = _validated(paths, 10**9)
    for batch_tasks, run_failures in ((1, failures.RUN_FAILURES), (2, failures.RUN_FAILURES), (1, 1)):
        batched = _validated(paths, batch_tasks, run_failures)
        for fmt in REPORTS:
            assert render(batched, fmt) == render(whole, fmt), (fmt, batch_tasks, run_failures)
        for name in vars(whole.tables):
            assert getattr(batched.tables, name).equals(getattr(whole.tables, name)), name
    return whole


def _broken_tasks() -> list[dict]:
    clean = annotation(valid_result(), annotation_id=11)
    loose = annotation([span("بغداد", "GPE", region_id="g1"), span("بغداد", "GPE", region_id="g1")], annotation_id=12, pseudonym="annotator-2")
    return [
        task([clean], task_id=1),
        task([copy.deepcopy(clean) | {"id": 21}], task_id=2),
        task([loose], task_id=3),
        task([copy.deepcopy(clean)], task_id=1),  # task 1 again, and annotation 11 again, three batches later
        task([annotation(valid_result(), annotation_id=21, pseudonym="annotator-3")], task_id=5),  # annotation 21 again
        task([annotation(valid_result(), annotation_id=31) | {"completed_by": 7}], task_id=6),
    ]


def test_duplicate_ids_across_batches_are_found_as_in_one_read(tmp_path: Path) -> None:
    path = write_export(tmp_path, _broken_tasks())
    result = _same([path])
    duplicates = [f for f in result.failures if f.check == "unique_ids"]
    assert sorted((f.task_id, f.annotation_id, f.region_id) for f in duplicates) == [
        (1, 11, None), (1, 11, None), (2, 21, None), (3, 12, "g1"), (3, 12, "g1"), (5, 21, None)
    ]
    assert result.accounting.reconciles


def test_a_task_id_repeated_in_another_batch_is_a_duplicate(tmp_path: Path) -> None:
    tasks = [task([annotation(valid_result(), annotation_id=11)], task_id=1), task([annotation(valid_result(), annotation_id=12)], task_id=1)]
    result = _same([write_export(tmp_path, tasks)])
    assert [f.message for f in result.failures if f.check == "unique_ids"] == [
        f"task 1 appears more than once in {tmp_path / 'project.json'}"
    ] * 2


def test_the_committed_export_and_a_second_file_in_batches(tmp_path: Path) -> None:
    committed = repo().exports_dir / "khabar.json"
    tasks = json.loads(committed.read_text(encoding="utf-8"))
    minified = tmp_path / "minified.json"  # read whole, not streamed: the same results
    minified.write_text(json.dumps(_broken_tasks(), ensure_ascii=False), encoding="utf-8")
    result = _same([committed, minified])
    assert result.accounting.tasks == len(tasks) + len(_broken_tasks())
    assert result.errors > 0 and result.accounting.reconciles


def _batch_sizes(path: Path) -> list[tuple[int, int]]:
    """(tasks, results) of each batch the reader cuts ``path`` into."""
    documents = reader.read_documents(repo().documents_file)
    read = reader.Reader(load_scheme(), documents, reader.CorpusTexts(documents))
    return [(raw.tasks.height, raw.regions.height + raw.choices.height + raw.relations.height) for raw in read.batches([path])]


def test_a_batch_holds_as_many_results_whatever_the_exports_layout(tmp_path: Path) -> None:
    """A one-line export (Label Studio's UI layout, half the bytes of the same tasks indented) is cut where the
    indented one is: a batch's memory grows with its results, so the results bound it, not the bytes."""
    tasks = [task([annotation(valid_result(), annotation_id=10 + n)], task_id=n) for n in range(1, 9)]
    indented = write_export(tmp_path, tasks)
    minified = tmp_path / "minified.json"
    minified.write_text(json.dumps(tasks, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    per_task = _batch_sizes(indented)[0][1] // 8
    with patch.object(reader, "BATCH_RESULTS", 3 * per_task), patch.object(reader, "BATCH_BYTES", 10**12):
        sizes = _batch_sizes(indented)
        assert _batch_sizes(minified) == sizes
    assert sizes == [(3, 3 * per_task), (3, 3 * per_task), (2, 2 * per_task)]
