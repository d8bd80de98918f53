"""Tasks set aside on disk as they are read, and found again one at a time: what lets a pull hold a task, not a project.

A pull compares the export file with a snapshot of the project and merges the two.
Each side is as big as the project: 574 MB of JSON at a million span results, about
2.6 GB as Python objects, and a pull held both, their merge and its text (it took
more memory than the machine's 24 GB can give by 3M span results). Each side's tasks
are written here as they are read, and the comparison keeps only their annotations'
hashes (:class:`khabar.studio.sync.Annotations`); the merge reads back one task of
each side at a time.

A task is kept as a pickle: the spool is the command's own temporary file, read
back by the same process alone, and pickle gives back exactly the value it was
given (``NaN``, a lone surrogate), with no JSON parse to pay again.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def doc_id_of(task: dict[str, Any]) -> str | None:
    """A task's ``data.doc_id``: what khabar keys its tasks by (None for a task that has none: not khabar's)."""
    data = task.get("data")
    doc_id = data.get("doc_id") if isinstance(data, dict) else None
    return doc_id if isinstance(doc_id, str) else None


class TaskSpool:
    """Tasks in the order they were added, each found again by its position."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.handle = path.open("w+b")
        #: where each task's bytes are: (offset, length)
        self.places: list[tuple[int, int]] = []
        #: each task's ``id`` and ``data.doc_id``, and its annotations' ids (a merge gives what it adds ids the file does not use)
        self.ids: list[object] = []
        self.doc_ids: list[str | None] = []
        self.annotation_ids: set[object] = set()
        self.end = 0

    def close(self) -> None:
        self.handle.close()

    def add(self, task: dict[str, Any]) -> int:
        """Set ``task`` aside; its position."""
        data = pickle.dumps(task, protocol=pickle.HIGHEST_PROTOCOL)
        self.handle.seek(self.end)
        self.handle.write(data)
        self.places.append((self.end, len(data)))
        self.end += len(data)
        self.ids.append(task.get("id"))
        self.annotation_ids.update(a.get("id") for a in task.get("annotations") or [] if isinstance(a, dict))
        self.doc_ids.append(doc_id_of(task))
        return len(self.places) - 1

    def __len__(self) -> int:
        return len(self.places)

    def task(self, position: int) -> dict[str, Any]:
        """A new copy of the task at ``position`` (the caller may change it)."""
        offset, length = self.places[position]
        self.handle.seek(offset)
        task: dict[str, Any] = pickle.loads(self.handle.read(length))
        return task

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for position in range(len(self.places)):
            yield self.task(position)
