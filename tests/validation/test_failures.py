"""A validation's failures set aside on disk: the report's order, the text report's, and a list's behaviour, without a Python object each."""

from __future__ import annotations

import random
from pathlib import Path

import polars as pl
import pytest

from khabar.validation import failures as failures_module
from khabar.validation.failures import CHUNK, COLUMNS, REPORT_ORDER, Failure, FailureRuns, Failures, batch_frame

TEXTS = ["", "بغداد", "قال الرئيس", "Reuters", "e.json", "a/b.json", "٢٠٢٤", "a", "a\x00", "a\x00b", "a\x01", "\x00"]


def failure(rng: random.Random, n: int) -> Failure:
    def text() -> str | None:
        return None if rng.random() < 0.3 else rng.choice(TEXTS)

    def number() -> int | None:
        return None if rng.random() < 0.3 else rng.choice([0, 1, 2, 7, 2**40, -1, -(2**63), 2**63 - 1])

    return Failure(
        check=rng.choice(["span_offsets", "consistent_label"]), severity=rng.choice(["error", "warning"]), message=f"«{rng.choice(TEXTS)}» {n}",
        hint="h", file=text(), task_id=number(), doc_id=text(), kind=rng.choice(["annotation", "prediction"]), annotation_id=number(),
        annotator=text(), region_id=text(), label=text(), start=number(), end=number(), found=text(), expected=text(),
    )


def merged(folder: Path, batches: list[pl.DataFrame]) -> Failures:
    runs = FailureRuns(folder)
    for batch in batches:
        runs.add(batch)
    return runs.merged()


@pytest.mark.parametrize(("run_failures", "batch_failures"), [(failures_module.RUN_FAILURES, CHUNK + 300), (700, CHUNK + 300), (700, CHUNK)],
                         ids=["one run", "a run a batch", "whole chunks"])
def test_the_report_order_is_the_sort_of_each_failures_key_tuple(tmp_path, monkeypatch, run_failures, batch_failures):
    monkeypatch.setattr(failures_module, "RUN_FAILURES", run_failures)
    rng = random.Random(5)
    batches, keyed = [], []
    for batch in range(4):
        failures = [failure(rng, n) for n in range(batch_failures)]  # a run read back in one or two record batches
        origins = [(rng.randrange(3), rng.randrange(2), row) for row in range(len(failures))]
        batches.append(batch_frame(failures, origins, batch))
        for f, (check_order, frame_order, row) in zip(failures, origins):
            key = (f.file or "", f.doc_id or "", f.task_id or 0, f.annotation_id or 0, f.start or 0, check_order, f.region_id or "", frame_order, batch, row)
            keyed.append((key, f))
    expected = [f for _, f in sorted(keyed, key=lambda pair: pair[0])]
    failures = merged(tmp_path, batches)
    assert list(failures) == expected
    assert failures.of_severity("error") == sum(1 for f in expected if f.severity == "error")
    assert [path.name for path in tmp_path.iterdir()] == ["failures.arrow"], "the runs are removed once merged"
    assert len(failures[:]) == len(expected) and failures[CHUNK : CHUNK + 3] == expected[CHUNK : CHUNK + 3]
    by_polars = pl.concat(batches).sort(REPORT_ORDER, maintain_order=True).select(list(COLUMNS))
    assert [Failure(*row) for row in by_polars.iter_rows()] == expected, "each run is sorted by polars, then merged by Python"
    (tmp_path / "none").mkdir()
    assert list(merged(tmp_path / "none", [])) == [] and list((tmp_path / "none").iterdir()) == []


def test_the_text_reports_order_is_a_stable_sort_of_the_report_by_document(tmp_path, monkeypatch):
    monkeypatch.setattr(failures_module, "RUN_FAILURES", 400)
    rng = random.Random(11)
    batches = []
    for batch in range(3):
        failures = [failure(rng, n) for n in range(CHUNK // 2)]
        batches.append(batch_frame(failures, [(0, 0, row) for row in range(len(failures))], batch))
    added = [failure(rng, n) for n in range(40)]
    failures = merged(tmp_path, batches) + added
    assert len({f.file or "" for f in failures}) > 3, "several files' stretches to merge"
    assert list(failures.by_document()) == sorted(failures, key=lambda f: f.doc_id or "")


def test_failures_read_back_as_a_list_of_them_reads(tmp_path):
    rng = random.Random(9)
    framed = [failure(rng, n) for n in range(CHUNK + 7)]
    added = [failure(rng, n) for n in range(3)]
    stored = merged(tmp_path, [batch_frame(framed, [(0, 0, row) for row in range(len(framed))], 0)])
    framed = list(stored)
    failures = stored + added
    whole = framed + added
    assert len(failures) == len(whole) and list(failures) == whole and failures == whole
    assert failures[0] == whole[0] and failures[-1] == whole[-1] and failures[CHUNK + 7] == added[0]
    assert failures[CHUNK - 2 : CHUNK + 9] == whole[CHUNK - 2 : CHUNK + 9] and failures[::500] == whole[::500] and failures[5:2] == []
    with pytest.raises(IndexError):
        failures[len(whole)]
    assert failures.of_severity("error") == sum(1 for f in whole if f.severity == "error")
    assert failures.first("error", 3) == [f for f in whole if f.severity == "error"][:3]
    more = failures + [framed[0]]
    assert list(more) == [*whole, framed[0]] and list(failures) == whole, "adding makes a new sequence"
    assert Failures() == [] and Failures() != "" and failures != whole[:-1] and failures == stored + added
