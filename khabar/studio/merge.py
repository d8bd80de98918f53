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
from typing import Any

from khabar.foundation.errors import EXIT_FAILED_CHECKS, KhabarError
from khabar.studio.sync import (
    SERVER_FIELDS,
    Change,
    Difference,
    SyncState,
    content_hash,
    region_ids,
    unique_id,
)


@dataclass
class PullMerge:
    tasks: list[dict[str, Any]]
    taken: list[Difference] = field(default_factory=list)
    added: list[Difference] = field(default_factory=list)
    kept_local: list[Difference] = field(default_factory=list)
    dropped: list[Difference] = field(default_factory=list)
    tasks_added: int = 0

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
    next_id = max((i for i in used if isinstance(i, int)), default=0) + 1
    while True:
        yield next_id
        next_id += 1


def merge_pull(
    file_tasks: list[dict[str, Any]],
    server_tasks: list[dict[str, Any]],
    differences: list[Difference],
    state: SyncState,
    *,
    accept_deletions: bool,
) -> PullMerge:
    """The merged tasks; ``state`` is updated to what the merged file and the server now agree on.

    ``differences`` comes from :func:`khabar.studio.sync.compare` (after
    :func:`~khabar.studio.sync.resolve`) and must hold no refusal.
    """
    by_uid = {d.unique_id: d for d in differences}
    merged_tasks = json.loads(json.dumps(file_tasks))  # the file's records, copied so the caller's stay as read
    report = PullMerge(merged_tasks)
    server_by_doc = {t["data"]["doc_id"]: t for t in server_tasks}
    used_annotation_ids: set[object] = {a.get("id") for t in file_tasks for a in t.get("annotations") or []}
    annotation_ids = _free_ids(used_annotation_ids)
    task_ids = _free_ids({t.get("id") for t in file_tasks})

    def new_annotation(annotation: dict[str, Any], task: dict[str, Any], server_task: dict[str, Any]) -> dict[str, Any]:
        record = dict(annotation)
        for key, value in (("task", task.get("id")), ("project", task.get("project"))):
            if key in record:
                record[key] = value
        if "prediction" in record:
            record["prediction"] = _file_prediction_id(record["prediction"], server_task, task)
        if record.get("id") in used_annotation_ids:
            record["id"] = next(annotation_ids)
        used_annotation_ids.add(record.get("id"))
        return record

    for task in merged_tasks:
        doc_id = task["data"]["doc_id"]
        before = json.dumps(task, sort_keys=True)
        kept = []
        for annotation in task.get("annotations") or []:
            difference = by_uid[unique_id(doc_id, annotation)]  # type: ignore[index]
            if difference.change is Change.SERVER:
                assert difference.server is not None
                annotation.update({key: difference.server.get(key) for key in SERVER_FIELDS if key in difference.server})
                report.taken.append(difference)
            elif difference.change is Change.DELETED_ON_SERVER:
                report.dropped.append(difference)
                state.annotations.pop(difference.unique_id, None)
                continue
            elif difference.change is Change.FILE:
                report.kept_local.append(difference)
            if difference.change in (Change.SERVER, Change.UNCHANGED):
                state.annotations[difference.unique_id] = content_hash(annotation)
            kept.append(annotation)
        server_task = server_by_doc.get(doc_id)
        if server_task is not None:
            for annotation in server_task.get("annotations") or []:
                difference = by_uid[unique_id(doc_id, annotation)]  # type: ignore[index]
                if difference.change is Change.SERVER_ONLY_NEW and difference.doc_id == doc_id:
                    kept.append(new_annotation(annotation, task, server_task))
                    state.annotations[difference.unique_id] = content_hash(annotation)
                    report.added.append(difference)
            versions = {p.get("model_version") for p in task.get("predictions") or []}
            extra = [p for p in server_task.get("predictions") or [] if p.get("model_version") not in versions]
            if extra:
                task["predictions"] = [*(task.get("predictions") or []), *(_file_prediction(p, task) for p in extra)]
            if _draft_content(server_task.get("drafts")) != _draft_content(task.get("drafts")):
                task["drafts"] = server_task.get("drafts") or []
        task["annotations"] = kept
        if json.dumps(task, sort_keys=True) != before:
            _recount(task)

    known = {t["data"]["doc_id"] for t in merged_tasks}
    for server_task in server_tasks:
        if server_task["data"]["doc_id"] in known:
            continue
        task = json.loads(json.dumps(server_task))
        doc_id = task["data"]["doc_id"]
        if task.get("id") in {t.get("id") for t in merged_tasks}:
            task["id"] = next(task_ids)
        annotations = []
        for annotation in task.get("annotations") or []:
            difference = by_uid[unique_id(doc_id, annotation)]  # type: ignore[index]
            if difference.change is Change.SERVER_ONLY_NEW:
                annotations.append(new_annotation(annotation, task, server_task))
                state.annotations[difference.unique_id] = content_hash(annotation)
                report.added.append(difference)
        task["annotations"] = annotations
        task["predictions"] = [_file_prediction(p, task) for p in task.get("predictions") or []]
        _recount(task)
        merged_tasks.append(task)
        report.tasks_added += 1
    return report


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
