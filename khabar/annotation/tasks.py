"""What a Label Studio task of Khabar's carries, and how its annotators are named.

A task's ``data`` is four fields of a corpus record; an annotator is only ever a
pseudonym ``annotator-N`` (N from 1), never a name or an address. The studio,
the model and the validation reader all use these, so they live below all three.
"""

from __future__ import annotations

import re

from khabar.annotation.ingest import DocumentRecord

TASK_DATA_KEYS = ("text", "doc_id", "source", "title")
PSEUDONYM_PATTERN = re.compile(r"annotator-([1-9][0-9]*)")


def task_data(record: DocumentRecord) -> dict[str, str]:
    """The ``data`` of the Label Studio task that shows ``record``."""
    return {"text": record.text, "doc_id": record.doc_id, "source": record.source, "title": record.title}


def pseudonym_number(pseudonym: object) -> int | None:
    """N of a pseudonym ``annotator-N``, or None for anything else."""
    match = PSEUDONYM_PATTERN.fullmatch(pseudonym) if isinstance(pseudonym, str) else None
    return int(match.group(1)) if match else None
