"""Push an export file into a project: all of it, or nothing.

1. Before the server is touched: every task has a doc_id, every annotation a
   pseudonym, every string encodes as UTF-8, and ``khabar validate``'s checks
   pass against the scheme (the caller checks that the project's config is that
   scheme, :mod:`khabar.studio.drift`).
2. The file is compared with a snapshot of the project and the sync state
   (:mod:`khabar.studio.sync`): an annotation edited in the file is
   updated on the server, one added is created, one deleted is deleted only with
   ``accept_deletions``; a conflict stops the push with both versions shown.
3. The writes are journalled. If one fails (the server refuses, the network
   drops, Ctrl-C), what was written is undone in reverse order, so the project
   holds the same tasks, annotations and predictions as before, and the error is
   reported.

Tasks are matched by ``data.doc_id`` (missing ones are imported from the file).
Predictions are one set per task and ``model_version``: a version the task
already has on the server is never sent again. Each pseudonym becomes a
placeholder user ``annotator-N@khabar.invalid`` (created when missing and kept:
users are not project content) so a pull gives the annotations their pseudonyms
back. Drafts are not pushed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from khabar.annotation.ingest import TASK_DATA_KEYS
from khabar.annotation.pseudonyms import pseudonym_number
from khabar.foundation import jsonl
from khabar.foundation.errors import KhabarError
from khabar.foundation.files import temporary_folder
from khabar.studio.connection import studio_answers, whole_number
from khabar.studio.export import (
    FileSide,
    SnapshotTasks,
    ensure_user,
    load_pseudonym_book,
    organisation_users,
    placeholder_email,
    read_snapshot,
)
from khabar.studio.merge import refuse
from khabar.studio.project import doc_id_tasks, import_task_data
from khabar.studio.spool import TaskSpool
from khabar.studio.sync import (
    CONTENT_FIELDS,
    Change,
    Difference,
    Side,
    SyncState,
    compare,
    pseudonym_of,
    resolve,
)

if TYPE_CHECKING:
    from label_studio_sdk import LabelStudio

PROGRESS_EVERY = 200


@dataclass(frozen=True)
class PushReport:
    tasks_imported: int
    annotations_created: int
    annotations_updated: int
    annotations_deleted: int
    annotations_present: int
    predictions_created: int
    server_newer: int


@dataclass
class Journal:
    """What a push wrote, to undo it if a later write fails."""

    tasks: list[int] = field(default_factory=list)
    predictions: list[int] = field(default_factory=list)
    created: list[int] = field(default_factory=list)
    updated: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # server id, fields before
    deleted: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # task id, fields to recreate

    def undo(self, client: LabelStudio) -> None:
        with studio_answers(client, "undoing the push's writes"):
            for task_id, fields in reversed(self.deleted):
                client.annotations.create(id=task_id, **fields)
            for annotation_id, fields in reversed(self.updated):
                client.annotations.update(id=annotation_id, **fields)
            for annotation_id in reversed(self.created):
                client.annotations.delete(id=annotation_id)
            for prediction_id in reversed(self.predictions):
                client.predictions.delete(id=prediction_id)
            for task_id in reversed(self.tasks):
                client.tasks.delete(id=str(task_id))


def precheck(task: dict[str, Any], *, file: str) -> None:
    """What a push needs of a task and its annotations, checked before anything is sent."""
    data = task.get("data")
    doc_id = data.get("doc_id") if isinstance(data, dict) else None
    if not isinstance(doc_id, str):
        raise KhabarError("task has no data.doc_id; push reads exports of khabar tasks", file=file, task=task.get("id"))
    for annotation in task.get("annotations") or []:
        if not isinstance(annotation, dict) or pseudonym_number(pseudonym_of(annotation)) is None:
            who = annotation.get("completed_by") if isinstance(annotation, dict) else annotation
            raise KhabarError(
                f"annotation {annotation.get('id') if isinstance(annotation, dict) else '?'} has completed_by {who!r}, "
                "not a pseudonym {\"pseudonym\": \"annotator-N\"}; push reads exports made by khabar studio pull",
                file=file, task=task.get("id"),
            )  # fmt: skip
    try:
        jsonl.dumps_document([task]).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise KhabarError(
            f"holds a string that is not valid Unicode ({exc.reason} at character {exc.start}: "
            f"{exc.object[max(0, exc.start - 20):exc.end + 20]!r}); Label Studio cannot store it",
            file=file, task=task.get("id"),
        ) from None  # fmt: skip


def validate_file(path: Path, documents_file: Path | None) -> None:
    """``khabar validate``'s checks on the whole file; any error refuses the push (exit 2)."""
    from khabar.kb.check import validate_with_knowledge_base
    from khabar.validation.checks import ERROR

    result = validate_with_knowledge_base([path], documents_file)
    if result.errors:
        first = result.failures.first(ERROR, 1)[0]
        raise KhabarError(
            f"{result.errors} error(s) against the scheme, nothing pushed; the first: {first.message}"
            f"{f' (region {first.region_id})' if first.region_id else ''}; see all with: khabar validate {path}",
            file=str(path), task=first.task_id,
        )  # fmt: skip


def _annotation_fields(annotation: dict[str, Any]) -> dict[str, Any]:
    return {key: annotation[key] for key in CONTENT_FIELDS if annotation.get(key) is not None}


def push_file(
    client: LabelStudio,
    project_id: int,
    path: Path,
    book_file: Path,
    *,
    documents_file: Path | None = None,
    accept_deletions: bool = False,
    keep: Side | None = None,
    progress: Callable[[str], None] = print,
) -> PushReport:
    """Check ``path`` (each task as it is read, then ``khabar validate``'s checks), push it and record the new sync
    state beside it. The file and the server's snapshot are set aside on disk as they are read
    (:mod:`khabar.studio.spool`): memory holds their annotations' hashes and a task at a time."""
    with temporary_folder("push") as folder:
        side = FileSide.read(path, Path(folder), partial(precheck, file=str(path)), surrogates="keep")  # precheck names them
        validate_file(path, documents_file)
        state = SyncState.load(path)
        before = state.render() if state.sha256 is not None else None
        report = _push(
            client, project_id, side, Path(folder), state=state, book=load_pseudonym_book(book_file), accept_deletions=accept_deletions,
            keep=keep, file=str(path), progress=progress,
        )  # fmt: skip
        side.spool.close()
    if state.render() != before:
        state.stage().commit()  # over the state as read: one another pull or push recorded meanwhile is kept
    return report


def push_export(
    client: LabelStudio,
    project_id: int,
    tasks: list[dict[str, Any]],
    *,
    state: SyncState | None = None,
    book: dict[str, str] | None = None,
    accept_deletions: bool = False,
    keep: Side | None = None,
    file: str = "the export",
    progress: Callable[[str], None] = print,
) -> PushReport:
    """Make the project hold the work of ``tasks`` (see the module doc); ``state`` is updated in place."""
    state = state if state is not None else SyncState(Path(file).with_suffix(".sync"))
    with temporary_folder("push") as folder:
        side = FileSide.of(tasks, file, Path(folder), partial(precheck, file=file))
        report = _push(client, project_id, side, Path(folder), state=state, book=book or {}, accept_deletions=accept_deletions, keep=keep, file=file, progress=progress)
        side.spool.close()
    return report


def _push(
    client: LabelStudio,
    project_id: int,
    side: FileSide,
    folder: Path,
    *,
    state: SyncState,
    book: dict[str, str],
    accept_deletions: bool,
    keep: Side | None,
    file: str,
    progress: Callable[[str], None],
) -> PushReport:
    server, theirs, _pseudonyms = read_snapshot(client, project_id, folder, side, book, progress)
    differences = resolve(compare(side.annotations, theirs, state), state, keep)
    refused = [d for d in differences if d.change is Change.CONFLICT or (d.change is Change.DELETED_IN_FILE and not accept_deletions)]
    if refused:
        refuse(refused, command="push", file=file, progress=progress)
    users = _placeholder_users(client, differences)

    def user_id(annotation: dict[str, Any]) -> int:
        return users[placeholder_email(str(pseudonym_of(annotation))).lower()]

    def on_server(uid: str) -> tuple[int, dict[str, Any]]:
        """The server's task id and its annotation ``uid`` as Label Studio holds it (its annotator a user with an id)."""
        stable = theirs.annotation(uid)
        assert stable is not None
        raw = server.raw(theirs.entries[uid].task)
        return raw["id"], next(a for a in raw["annotations"] if a.get("id") == stable.get("id"))

    journal = Journal()
    counts = dict.fromkeys(("created", "updated", "deleted", "present", "newer"), 0)
    try:
        present = _import_missing_tasks(client, project_id, side.spool, journal, progress)
        _create_predictions(client, server, side.spool, present, journal)
        for difference in differences:
            _apply(client, difference, present, on_server, user_id, journal, counts)
            if (counts["created"] + counts["updated"]) and (counts["created"] + counts["updated"]) % PROGRESS_EVERY == 0:
                progress(f"  {counts['created'] + counts['updated']} annotation(s) sent")
    except BaseException as exc:
        _roll_back(client, journal, exc, progress)
        raise
    server.spool.close()
    _record_pushed(differences, state)
    newer = [d for d in differences if d.change in (Change.SERVER, Change.SERVER_ONLY_NEW)]
    if newer:
        progress(f"{len(newer)} annotation(s) changed or added on the server are not in the file: get them with khabar studio pull")
    progress(
        f"pushed: {len(journal.tasks)} task(s) imported, {counts['created']} annotation(s) created, {counts['updated']} updated, "
        f"{counts['deleted']} deleted, {counts['present']} already the same, {len(journal.predictions)} prediction(s) created"
    )
    return PushReport(
        tasks_imported=len(journal.tasks),
        annotations_created=counts["created"],
        annotations_updated=counts["updated"],
        annotations_deleted=counts["deleted"],
        annotations_present=counts["present"],
        predictions_created=len(journal.predictions),
        server_newer=len(newer),
    )


def _placeholder_users(client: LabelStudio, differences: list[Difference]) -> dict[str, int]:
    """email → user id on the server, after creating the placeholder user of every pseudonym the push writes as."""
    users = organisation_users(client)
    writes = (Change.FILE_ONLY_NEW, Change.DELETED_ON_SERVER, Change.FILE)
    for pseudonym in sorted({str(pseudonym_of(d.file)) for d in differences if d.change in writes and d.file is not None}):
        ensure_user(client, placeholder_email(pseudonym), username=pseudonym, known=users)
    return users


def _import_missing_tasks(client: LabelStudio, project_id: int, tasks: TaskSpool, journal: Journal, progress: Callable[[str], None]) -> dict[str, int]:
    """Import the tasks of the file the project lacks (journaled); doc_id → task id of the project after."""
    present = doc_id_tasks(client, project_id)
    missing: dict[str, int] = {}  # doc_id → the position of its first task, in file order
    for position, doc_id in enumerate(tasks.doc_ids):
        if doc_id is not None and doc_id not in present and doc_id not in missing:
            missing[doc_id] = position
    if not missing:
        return present
    progress(f"importing {len(missing)} task(s) the project lacks")
    data = (tasks.task(position)["data"] for position in missing.values())  # read back one at a time: texts are the bulk of a file
    import_task_data(client, project_id, ({key: item[key] for key in TASK_DATA_KEYS if key in item} for item in data))
    after = doc_id_tasks(client, project_id)
    journal.tasks.extend(after[doc_id] for doc_id in missing)
    return after


def _create_predictions(client: LabelStudio, server: SnapshotTasks, tasks: TaskSpool, present: dict[str, int], journal: Journal) -> None:
    """Create the file's predictions whose (document, model version) the server does not hold (journaled)."""
    versions = {(t["data"]["doc_id"], p.get("model_version")) for t in server.raws() for p in t.get("predictions") or [] if isinstance(p, dict)}
    for task in tasks:
        for prediction in task.get("predictions") or []:
            if (task["data"]["doc_id"], prediction.get("model_version")) in versions:
                continue
            task_id = present[task["data"]["doc_id"]]
            with studio_answers(client, f"creating a prediction of task {task_id}"):
                made = client.predictions.create(
                    task=task_id, result=prediction.get("result") or [],
                    model_version=prediction.get("model_version") or "", score=prediction.get("score") or 0.0,
                )  # fmt: skip
                journal.predictions.append(whole_number(made.id, "the new prediction's id"))
        versions |= {(task["data"]["doc_id"], p.get("model_version")) for p in task.get("predictions") or []}


def _record_pushed(differences: list[Difference], state: SyncState) -> None:
    """The sync state after a push: the server now holds the file's version of every annotation."""
    for difference in differences:
        if difference.change is Change.DELETED_IN_FILE:
            state.annotations.pop(difference.unique_id, None)
        elif difference.file_hash is not None:
            state.annotations[difference.unique_id] = difference.file_hash


def _apply(
    client: LabelStudio,
    difference: Difference,
    tasks: dict[str, int],
    on_server: Callable[[str], tuple[int, dict[str, Any]]],
    user_id: Callable[[dict[str, Any]], int],
    journal: Journal,
    counts: dict[str, int],
) -> None:
    """One annotation's write, journalled."""
    from label_studio_sdk.core.api_error import ApiError

    change, mine = difference.change, difference.file
    if change is Change.UNCHANGED:
        counts["present"] += 1
    elif change is Change.FILE_ONLY_NEW or change is Change.DELETED_ON_SERVER:
        assert mine is not None
        task_id, user = tasks[difference.doc_id], user_id(mine)
        with studio_answers(client, f"creating annotation {difference.unique_id} of task {difference.doc_id}"):
            try:
                made = client.annotations.create(id=task_id, completed_by=user, unique_id=difference.unique_id, **_annotation_fields(mine))
            except ApiError as exc:
                if exc.status_code == 409:
                    raise KhabarError(
                        f"annotation {difference.unique_id} of task {difference.doc_id} is already held by another project of "
                        "this server (unique_id is unique per server); push into that project, or into a project of another server",
                    ) from None
                raise
            journal.created.append(whole_number(made.id, "the new annotation's id"))
        counts["created"] += 1
    elif change is Change.FILE:
        assert mine is not None
        theirs = on_server(difference.unique_id)[1]
        server_id = theirs["id"]
        previous = {key: theirs.get(key) for key in CONTENT_FIELDS}
        fields = _annotation_fields(mine)
        if pseudonym_of(mine) != pseudonym_of(difference.server or {}):
            previous["completed_by"] = _user_id(theirs)
            fields["completed_by"] = user_id(mine)
        with studio_answers(client, f"updating annotation {difference.unique_id} of task {difference.doc_id}"):
            client.annotations.update(id=server_id, **fields)
        journal.updated.append((server_id, {k: v for k, v in previous.items() if v is not None}))
        counts["updated"] += 1
    elif change is Change.DELETED_IN_FILE:
        task_id, theirs = on_server(difference.unique_id)
        with studio_answers(client, f"deleting annotation {difference.unique_id} of task {difference.doc_id}"):
            client.annotations.delete(id=theirs["id"])
        recreate = {key: theirs[key] for key in CONTENT_FIELDS if theirs.get(key) is not None}
        journal.deleted.append((task_id, {**recreate, "unique_id": difference.unique_id, "completed_by": _user_id(theirs)}))
        counts["deleted"] += 1


def _user_id(annotation: dict[str, Any]) -> object:
    """The server's id of an annotation's user: its ``completed_by`` is the user, or the user's id."""
    user = annotation.get("completed_by")
    return user.get("id") if isinstance(user, dict) else user


def _roll_back(client: LabelStudio, journal: Journal, cause: BaseException, progress: Callable[[str], None]) -> None:
    written = len(journal.tasks) + len(journal.predictions) + len(journal.created) + len(journal.updated) + len(journal.deleted)
    if not written:
        return
    progress(f"push failed ({cause.__class__.__name__}: {cause}); undoing its {written} write(s)")
    try:
        journal.undo(client)
    except Exception as exc:  # the server went away: say exactly what is left to clean up
        left = json.dumps({"tasks": journal.tasks, "predictions": journal.predictions, "annotations": journal.created})
        raise KhabarError(f"push failed and undoing it failed too ({exc}); the project still holds these new ids: {left}") from cause
    progress("the project is as it was before the push")
