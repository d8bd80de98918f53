"""What a pull writes: the server's changes merged into the export file, never a blind overwrite.

The file is the record. A pull keeps every task and annotation record of the file
as it is (ids, timestamps, key order) unless the server changed the annotation's
content since the last sync; then only the content fields and ``updated_at`` are
taken from the server, so one span drawn in the editor is a handful of lines in
``git diff``. Annotations and tasks new on the server are appended (with ids
that do not collide with the file's). Predictions are one set per task and
``model_version``: the file's set is kept, a version the file lacks is added.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from khabar.foundation.errors import EXIT_FAILED_CHECKS, KhabarError
from khabar.studio.spool import TaskSpool
from khabar.studio.sync import (
    SERVER_FIELDS,
    Change,
    Difference,
    SyncState,
    content_hash,
    pseudonym_of,
    region_ids,
    unique_id,
)


@dataclass
class PullMerge:
    """What a pull's merge did, and what the merged file holds (counted as its tasks are written)."""

    taken: list[Difference] = field(default_factory=list)
    added: list[Difference] = field(default_factory=list)
    kept_local: list[Difference] = field(default_factory=list)
    dropped: list[Difference] = field(default_factory=list)
    tasks_added: int = 0
    tasks: int = 0
    annotations: int = 0
    predictions: int = 0
    annotators: set[str] = field(default_factory=set)
    #: whether a task differs from the file's (or is new to it)
    changed: bool = False

    def count(self, task: dict[str, Any], *, changed: bool) -> None:
        self.tasks += 1
        self.annotations += len(task["annotations"])
        self.predictions += len(task.get("predictions") or [])
        self.annotators.update(pseudonym for a in task["annotations"] if (pseudonym := pseudonym_of(a)) is not None)
        self.changed = self.changed or changed

    def summary(self) -> str:
        parts = [
            f"{len(self.taken)} annotation(s) updated from the server",
            f"{len(self.added)} new",
            f"{len(self.kept_local)} local change(s) kept for push",
        ]
        if self.dropped:
            parts.append(f"{len(self.dropped)} dropped as deleted on the server (--accept-deletions)")
        if self.tasks_added:
            parts.append(f"{self.tasks_added} new task(s)")
        return ", ".join(parts)


def _shrinks(difference: Difference) -> bool:
    """The server's version lacks a region (or relation) the file's holds."""
    assert difference.file is not None and difference.server is not None
    return bool(region_ids(difference.file) - region_ids(difference.server))


def refusals(differences: list[Difference], *, accept_deletions: bool) -> list[Difference]:
    """What a pull must not do on its own: conflicts always; drops and shrinks unless accepted."""
    refused = []
    for difference in differences:
        if difference.change is Change.CONFLICT:
            refused.append(difference)
        elif not accept_deletions and (
            difference.change is Change.DELETED_ON_SERVER or (difference.change is Change.SERVER and _shrinks(difference))
        ):
            refused.append(difference)
    return refused


def refuse(refused: list[Difference], *, command: str, file: str, progress: Callable[[str], None]) -> None:
    """Print each refused annotation with both versions, then stop with exit 1."""
    conflicts = sum(1 for d in refused if d.change is Change.CONFLICT)
    for difference in refused:
        shrink = difference.change is Change.SERVER
        progress(("SHRUNK on the server: " if shrink else "") + difference.describe())
    hints = []
    if conflicts:
        hints.append(f"{conflicts} conflict(s): keep one side with --keep file or --keep server")
    if len(refused) > conflicts:
        side = "server" if command == "pull" else "file"
        hints.append(f"{len(refused) - conflicts} deletion(s) on the {side}: apply them with --accept-deletions")
    raise KhabarError(
        f"{command} refused, nothing written: " + "; ".join(hints), file=file, exit_status=EXIT_FAILED_CHECKS
    )


def _free_ids(used: set[object]) -> Iterator[int]:
    """Ids above every integer id in ``used``, each one not in ``used`` when it is given (``used`` grows as they are)."""
    next_id = max((i for i in used if isinstance(i, int)), default=0) + 1
    while True:
        if next_id not in used:
            yield next_id
        next_id += 1


class ServerTasks(Protocol):
    """The server's tasks in the order a pull appends them, and by doc_id."""

    def __iter__(self) -> Iterator[dict[str, Any]]: ...

    def of_doc_id(self, doc_id: str) -> dict[str, Any] | None: ...


def merge_pull(file_tasks: TaskSpool, server_tasks: ServerTasks, differences: list[Difference], state: SyncState, report: PullMerge) -> Iterator[dict[str, Any]]:
    """The merged tasks, a task at a time: the file's, then the server's new ones; ``report`` counts them as they go.
    ``state`` is updated to what the merged file and the server now agree on.

    ``differences`` comes from :func:`khabar.studio.sync.compare` (after
    :func:`~khabar.studio.sync.resolve`) and must hold no refusal.
    """
    merge = _Merge(file_tasks, differences, state, report)
    known = set()
    for task in file_tasks:
        before = json.dumps(task, sort_keys=True)
        doc_id = task["data"]["doc_id"]
        known.add(doc_id)
        server_task = server_tasks.of_doc_id(doc_id)
        task["annotations"] = merge.file_annotations(task) + ([] if server_task is None else merge.server_additions(task, server_task))
        if server_task is not None:
            _take_server_extras(task, server_task)
        changed = json.dumps(task, sort_keys=True) != before
        if changed:
            _recount(task)
        report.count(task, changed=changed)
        yield task
    for server_task in server_tasks:
        if server_task["data"]["doc_id"] not in known:
            task = merge.add_server_task(server_task)
            report.count(task, changed=True)
            yield task


class _Merge:
    """One pull's merge: the sync state, the report, and the task and annotation ids already used in the file."""

    def __init__(self, file_tasks: TaskSpool, differences: list[Difference], state: SyncState, report: PullMerge) -> None:
        self.by_uid = {d.unique_id: d for d in differences}
        self.state = state
        self.report = report
        self.used_annotation_ids = set(file_tasks.annotation_ids)
        self.annotation_ids = _free_ids(self.used_annotation_ids)
        self.used_task_ids = set(file_tasks.ids)
        self.task_ids = _free_ids(self.used_task_ids)

    def difference(self, doc_id: str, annotation: dict[str, Any]) -> Difference:
        return self.by_uid[unique_id(doc_id, annotation)]  # type: ignore[index]

    def file_annotations(self, task: dict[str, Any]) -> list[dict[str, Any]]:
        """The file's annotations of ``task`` after the pull: the server's edits taken, its deletions applied."""
        kept = []
        for annotation in task.get("annotations") or []:
            difference = self.difference(task["data"]["doc_id"], annotation)
            if difference.change is Change.SERVER:
                server = difference.server
                assert server is not None
                annotation.update({key: server.get(key) for key in SERVER_FIELDS if key in server})
                self.report.taken.append(difference)
            elif difference.change is Change.DELETED_ON_SERVER:
                self.report.dropped.append(difference)
                self.state.annotations.pop(difference.unique_id, None)
                continue
            elif difference.change is Change.FILE:
                self.report.kept_local.append(difference)
            if difference.change in (Change.SERVER, Change.UNCHANGED):
                self.state.annotations[difference.unique_id] = content_hash(annotation)
            kept.append(annotation)
        return kept

    def server_additions(self, task: dict[str, Any], server_task: dict[str, Any]) -> list[dict[str, Any]]:
        """The annotations made on the server that the file lacks, as records of the file's ``task``."""
        doc_id = task["data"]["doc_id"]
        added = []
        for annotation in server_task.get("annotations") or []:
            difference = self.difference(doc_id, annotation)
            if difference.change is Change.SERVER_ONLY_NEW and difference.doc_id == doc_id:
                added.append(self.new_annotation(annotation, task, server_task))
                self.state.annotations[difference.unique_id] = content_hash(annotation)
                self.report.added.append(difference)
        return added

    def new_annotation(self, annotation: dict[str, Any], task: dict[str, Any], server_task: dict[str, Any]) -> dict[str, Any]:
        """A server annotation re-homed in the file's task, with an annotation id the file does not use yet."""
        record = dict(annotation)
        for key, value in (("task", task.get("id")), ("project", task.get("project"))):
            if key in record:
                record[key] = value
        if "prediction" in record:
            record["prediction"] = _file_prediction_id(record["prediction"], server_task, task)
        if record.get("id") in self.used_annotation_ids:
            record["id"] = next(self.annotation_ids)
        self.used_annotation_ids.add(record.get("id"))
        return record

    def add_server_task(self, server_task: dict[str, Any]) -> dict[str, Any]:
        """A task only the server has, with its new annotations and predictions, to append."""
        task = json.loads(json.dumps(server_task))
        if task.get("id") in self.used_task_ids:
            task["id"] = next(self.task_ids)
        self.used_task_ids.add(task.get("id"))
        task["annotations"] = self.server_additions(task, server_task)
        task["predictions"] = [_file_prediction(p, task) for p in task.get("predictions") or []]
        _recount(task)
        self.report.tasks_added += 1
        return task


def _take_server_extras(task: dict[str, Any], server_task: dict[str, Any]) -> None:
    """Predictions of model versions the file lacks, and the server's drafts when they differ."""
    versions = {p.get("model_version") for p in task.get("predictions") or []}
    extra = [p for p in server_task.get("predictions") or [] if p.get("model_version") not in versions]
    if extra:
        task["predictions"] = [*(task.get("predictions") or []), *(_file_prediction(p, task) for p in extra)]
    if _draft_content(server_task.get("drafts")) != _draft_content(task.get("drafts")):
        task["drafts"] = server_task.get("drafts") or []


def _file_prediction(prediction: dict[str, Any], task: dict[str, Any]) -> dict[str, Any]:
    return {**prediction, "task": task.get("id")} if "task" in prediction else dict(prediction)


def _file_prediction_id(server_prediction_id: object, server_task: dict[str, Any], task: dict[str, Any]) -> object:
    """The file's id of the prediction (same task, same model_version) an annotation started from."""
    version = next((p.get("model_version") for p in server_task.get("predictions") or [] if p.get("id") == server_prediction_id), None)
    if version is None:
        return server_prediction_id
    return next((p.get("id") for p in task.get("predictions") or [] if p.get("model_version") == version), server_prediction_id)


_DRAFT_BOOKKEEPING = {"id", "created_at", "updated_at", "task", "annotation", "project"}


def _draft_content(drafts: object) -> str:
    items = drafts if isinstance(drafts, list) else []
    return json.dumps([{k: v for k, v in d.items() if k not in _DRAFT_BOOKKEEPING} for d in items if isinstance(d, dict)], sort_keys=True)


def _recount(task: dict[str, Any]) -> None:
    """Label Studio's counters of a task whose lists the merge changed."""
    annotations = task.get("annotations") or []
    task["total_annotations"] = sum(1 for a in annotations if not a.get("was_cancelled"))
    task["cancelled_annotations"] = sum(1 for a in annotations if a.get("was_cancelled"))
    task["total_predictions"] = len(task.get("predictions") or [])
