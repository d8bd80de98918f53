"""A validation's failures as a frame: the report's order and a list's behaviour, without a Python object each."""

from __future__ import annotations

import random

import pytest

from khabar.validation.failures import CHUNK, Failure, Failures, batch_frame, in_report_order

TEXTS = ["", "بغداد", "قال الرئيس", "Reuters", "e.json", "a/b.json", "٢٠٢٤"]


def failure(rng: random.Random, n: int) -> Failure:
    def text() -> str | None:
        return None if rng.random() < 0.3 else rng.choice(TEXTS)

    def number() -> int | None:
        return None if rng.random() < 0.3 else rng.choice([0, 1, 2, 7, 2**40])

    return Failure(
        check=rng.choice(["span_offsets", "consistent_label"]), severity=rng.choice(["error", "warning"]), message=f"«{rng.choice(TEXTS)}» {n}",
        hint="h", file=text(), task_id=number(), doc_id=text(), kind=rng.choice(["annotation", "prediction"]), annotation_id=number(),
        annotator=text(), region_id=text(), label=text(), start=number(), end=number(), found=text(), expected=text(),
    )


def test_the_report_order_is_the_sort_of_each_failures_key_tuple():
    rng = random.Random(5)
    batches, keyed = [], []
    for batch in range(4):
        failures = [failure(rng, n) for n in range(300)]
        origins = [(rng.randrange(3), rng.randrange(2), row) for row in range(len(failures))]
        batches.append(batch_frame(failures, origins, batch))
        for f, (check_order, frame_order, row) in zip(failures, origins):
            key = (f.file or "", f.doc_id or "", f.task_id or 0, f.annotation_id or 0, f.start or 0, check_order, f.region_id or "", frame_order, batch, row)
            keyed.append((key, f))
    expected = [f for _, f in sorted(keyed, key=lambda pair: pair[0])]
    assert list(in_report_order(batches)) == expected
    assert list(in_report_order([])) == []


def test_failures_read_back_as_a_list_of_them_reads():
    rng = random.Random(9)
    framed = [failure(rng, n) for n in range(CHUNK + 7)]
    added = [failure(rng, n) for n in range(3)]
    failures = Failures(batch_frame(framed, [(0, 0, row) for row in range(len(framed))], 0).drop("check_order", "frame_order", "batch", "row"), added)
    whole = framed + added
    assert len(failures) == len(whole) and list(failures) == whole and failures == whole
    assert failures[0] == whole[0] and failures[-1] == whole[-1] and failures[CHUNK + 7] == added[0]
    assert failures[CHUNK - 2 : CHUNK + 9] == whole[CHUNK - 2 : CHUNK + 9] and failures[::500] == whole[::500] and failures[5:2] == []
    with pytest.raises(IndexError):
        failures[len(whole)]
    assert failures.of_severity("error") == sum(1 for f in whole if f.severity == "error")
    more = failures + [framed[0]]
    assert list(more) == [*whole, framed[0]] and list(failures) == whole, "adding makes a new sequence"
    assert Failures() == [] and Failures() != "" and failures != whole[:-1] and failures == Failures(failures.frame, added)
