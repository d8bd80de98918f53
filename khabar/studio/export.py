"""Pull a project into ``annotation/exports/<project>.json``, merged into what the file holds.

What a pull writes and refuses is :mod:`khabar.studio.merge`'s; pushing is
:mod:`khabar.studio.push`'s. The pulled file is made for review in git:

- a snapshot export with full serialisation (annotations with their users,
  predictions and drafts in full);
- annotators become stable pseudonyms ``{"pseudonym": "annotator-N"}``; no email,
  name or Label Studio user id is written (``completed_by``, ``updated_by``,
  ``last_created_by``, ``created_username``, ``comment_authors`` go);
- fields that change without anyone's work changing (``created_ago``, the task's
  ``updated_at``, comment bookkeeping) are dropped;
- a first pull sorts tasks, annotations, drafts and predictions by id; later pulls
  keep the file's order and records and append what is new;
- keys sorted, indent 2, UTF-8, trailing newline, written atomically (temp file +
  ``os.replace``), and only when the content changed.

Pseudonyms are stable across pulls and machines without a mapping in the repo.
A user keeps, in order of preference: the pseudonym the local book gives them
(``.studio/pseudonyms.json``, keyed by a hash of the email, mode 0600); the
pseudonym of a placeholder user made by :func:`khabar.studio.push.push_export`
(``annotator-N@khabar.invalid``); the pseudonym the previous file gives to their
annotations' ``unique_id``; otherwise the next free ``annotator-N``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from khabar.annotation.pseudonyms import pseudonym_number
from khabar.foundation import jsonl
from khabar.foundation.errors import KhabarError
from khabar.foundation.files import stage_file, write_atomic
from khabar.studio.merge import PullMerge, merge_pull, refusals, refuse
from khabar.studio.server import write_private_json
from khabar.studio.spool import TaskSpool, doc_id_of
from khabar.studio.sync import Annotations, Change, Difference, Side, SyncState, compare, resolve
from khabar.validation.export_json import ExportFile
from khabar.validation.reader import OWNER_LISTS

if TYPE_CHECKING:
    from label_studio_sdk import LabelStudio

PLACEHOLDER_DOMAIN = "khabar.invalid"
TASK_LIST = "not a Label Studio JSON export (expected a list of task objects)"
SNAPSHOT_TIMEOUT = 3600.0

# Who did it (replaced by a pseudonym or dropped) and what changes on its own.
_DROP_TASK = {"updated_at", "updated_by", "comment_authors", "comment_count", "unresolved_comment_count", "last_comment_updated_at"}
_DROP_ANNOTATION = {"completed_by", "updated_by", "last_created_by", "created_username", "created_ago"}
_DROP_DRAFT = {"user", "created_username", "created_ago"}
_DROP_PREDICTION = {"created_ago"}


@dataclass(frozen=True)
class PullReport:
    path: Path
    tasks: int
    annotations: int
    predictions: int
    annotators: int
    changed: bool


def placeholder_email(pseudonym: str) -> str:
    return f"{pseudonym}@{PLACEHOLDER_DOMAIN}"


def _user_key(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest()


def _annotation_user(annotation: dict[str, Any]) -> str:
    """The identity of an annotation's user in a raw export: the email, lower-cased."""
    user = annotation.get("completed_by")
    if isinstance(user, dict) and user.get("email"):
        return str(user["email"]).strip().lower()
    if isinstance(user, dict) and user.get("id") is not None:
        return f"user-id:{user['id']}"
    return f"user-id:{user}"


def _draft_user(draft: dict[str, Any]) -> str:
    return str(draft.get("user") or "unknown").strip().lower()


def load_pseudonym_book(path: Path) -> dict[str, str]:
    try:
        book = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise KhabarError(f"unreadable pseudonym book ({exc}); delete it to rebuild it from the export", file=str(path)) from None
    return {key: value for key, value in book.items() if pseudonym_number(value) is not None}


def previous_pseudonyms(previous: Iterable[dict[str, Any]]) -> dict[str, str]:
    """unique_id → pseudonym of every annotation in a previously pulled file."""
    found: dict[str, str] = {}
    for task in previous:
        for annotation in task.get("annotations") or []:
            user = annotation.get("completed_by")
            if isinstance(user, dict) and annotation.get("unique_id") and pseudonym_number(user.get("pseudonym")):
                found[str(annotation["unique_id"])] = user["pseudonym"]
    return found


def user_appearances(task: dict[str, Any]) -> list[tuple[str, str | None]]:
    """Who worked on a raw task, in order: each annotation's user with its unique_id (by annotation id), then each draft's user."""
    annotations = sorted(task.get("annotations") or [], key=lambda a: a["id"])
    drafts = sorted(task.get("drafts") or [], key=lambda d: d["id"])
    return [(_annotation_user(a), str(a.get("unique_id"))) for a in annotations] + [(_draft_user(d), None) for d in drafts]


def assign_pseudonyms(
    tasks: list[dict[str, Any]], previous: list[dict[str, Any]], book: dict[str, str]
) -> dict[str, str]:
    """user identity → pseudonym for every user in a raw export (see the module doc)."""
    appearances = (who for task in sorted(tasks, key=lambda t: t["id"]) for who in user_appearances(task))
    return pseudonyms_for(appearances, previous_pseudonyms(previous), book)


def pseudonyms_for(appearances: Iterable[tuple[str, str | None]], by_unique_id: dict[str, str], book: dict[str, str]) -> dict[str, str]:
    """user identity → pseudonym, from :func:`user_appearances` of every task in id order and the pseudonyms of the
    previous file's annotations (see the module doc)."""
    users: list[str] = []
    earlier: dict[str, Counter[str]] = {}
    for user, uid in appearances:
        if user not in earlier:
            users.append(user)
            earlier[user] = Counter()
        if uid is not None and uid in by_unique_id:
            earlier[user][by_unique_id[uid]] += 1

    def candidate(user: str) -> str | None:
        if _user_key(user) in book:
            return book[_user_key(user)]
        local, _, domain = user.partition("@")
        if domain == PLACEHOLDER_DOMAIN and pseudonym_number(local):
            return local
        if earlier[user]:
            return sorted(earlier[user].items(), key=lambda item: (-item[1], item[0]))[0][0]
        return None

    assigned: dict[str, str] = {}
    for user in users:
        wanted = candidate(user)
        if wanted is not None and wanted not in assigned.values():
            assigned[user] = wanted
    numbers = [pseudonym_number(p) or 0 for p in [*assigned.values(), *book.values(), *by_unique_id.values()]]
    next_number = max(numbers, default=0) + 1
    for user in users:
        if user not in assigned:
            assigned[user] = f"annotator-{next_number}"
            next_number += 1
    return assigned


def _without(record: dict[str, Any], drop: set[str]) -> dict[str, Any]:
    return {key: value for key, value in record.items() if key not in drop}


def _stable_annotation(annotation: dict[str, Any], pseudonym: str) -> dict[str, Any]:
    out = {**_without(annotation, _DROP_ANNOTATION), "completed_by": {"pseudonym": pseudonym}}
    # Label Studio embeds the whole prediction an annotation started from, with its own
    # ``created_ago``; the task lists the prediction already, so keep only its id.
    if isinstance(out.get("prediction"), dict):
        out["prediction"] = out["prediction"].get("id")
    return out


def stable_task(task: dict[str, Any], pseudonyms: dict[str, str]) -> dict[str, Any]:
    """The reviewable form of a raw task of a full export (pseudonymised, volatile fields dropped, its lists sorted)."""
    out = _without(task, _DROP_TASK)
    out["annotations"] = [
        _stable_annotation(a, pseudonyms[_annotation_user(a)])
        for a in sorted(task.get("annotations") or [], key=lambda a: a["id"])
    ]
    out["drafts"] = [
        {**_without(d, _DROP_DRAFT), "completed_by": {"pseudonym": pseudonyms[_draft_user(d)]}}
        for d in sorted(task.get("drafts") or [], key=lambda d: d["id"])
    ]
    out["predictions"] = [
        _without(p, _DROP_PREDICTION) for p in sorted(task.get("predictions") or [], key=lambda p: p["id"])
    ]
    return out


def stable_export(tasks: list[dict[str, Any]], pseudonyms: dict[str, str]) -> list[dict[str, Any]]:
    """The reviewable form of a raw full export (:func:`stable_task` of each task, sorted by id)."""
    return [stable_task(task, pseudonyms) for task in sorted(tasks, key=lambda t: t["id"])]


def read_export(path: Path) -> list[dict[str, Any]]:
    try:
        tasks = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KhabarError("export not found", file=str(path)) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise KhabarError(f"not a JSON export ({exc})", file=str(path)) from None
    if not isinstance(tasks, list) or not all(isinstance(t, dict) for t in tasks):
        raise KhabarError(TASK_LIST, file=str(path))
    return tasks


def download_snapshot(client: LabelStudio, project_id: int, into: Path, *, timeout: float = SNAPSHOT_TIMEOUT) -> None:
    """Every task of the project, through a snapshot export with full serialisation, written to ``into`` as it comes."""
    from label_studio_sdk.types import SerializationOptionRequest, SerializationOptionsRequest

    full = SerializationOptionRequest(only_id=False)  # whole objects, not their ids
    options = SerializationOptionsRequest(annotations_completed_by=full, predictions=full, drafts=full)
    snapshot = client.projects.exports.create(project_id, title="khabar studio pull", serialization_options=options)
    if snapshot.id is None:
        raise KhabarError(f"Label Studio answered the export of project {project_id} without a snapshot id")
    try:
        deadline = time.monotonic() + timeout
        status = snapshot.status
        while status != "completed":
            if status == "failed":
                raise KhabarError(f"Label Studio failed to build the export snapshot {snapshot.id} of project {project_id}")
            if time.monotonic() > deadline:
                raise KhabarError(f"the export snapshot of project {project_id} was not ready after {timeout:.0f} s")
            time.sleep(1)
            status = client.projects.exports.get(project_id, snapshot.id).status
        with into.open("wb") as out:
            for chunk in client.projects.exports.download(project_id, snapshot.id, export_type="JSON"):
                out.write(chunk)
    finally:
        client.projects.exports.delete(project_id, snapshot.id)


def snapshot_export(client: LabelStudio, project_id: int, *, timeout: float = SNAPSHOT_TIMEOUT) -> list[dict[str, Any]]:
    """Every task of the project, read whole (:func:`download_snapshot`)."""
    with tempfile.TemporaryDirectory(prefix="khabar-snapshot-") as folder:
        path = Path(folder) / "snapshot.json"
        download_snapshot(client, project_id, path, timeout=timeout)
        tasks = json.loads(path.read_bytes())
    if not isinstance(tasks, list):
        raise KhabarError(f"the export of project {project_id} is not a list of tasks")
    return tasks


def khabar_tasks(tasks: list[dict[str, Any]], progress: Callable[[str], None]) -> list[dict[str, Any]]:
    """The tasks keyed by a doc_id; others (imported by hand in Label Studio) are not khabar's and are left out."""
    ours = [t for t in tasks if doc_id_of(t) is not None]
    _say_not_khabars(len(tasks) - len(ours), progress)
    return ours


def _say_not_khabars(count: int, progress: Callable[[str], None]) -> None:
    if count:
        progress(f"{count} task(s) without data.doc_id on the server are not khabar's: left out")


def server_view(
    client: LabelStudio, project_id: int, previous: list[dict[str, Any]], book: dict[str, str], progress: Callable[[str], None]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, str]]:
    """The raw snapshot, its stable pseudonymised form (khabar tasks only) and the pseudonyms used."""
    progress(f"asking Label Studio for an export snapshot of project {project_id} (the long step)")
    raw = khabar_tasks(snapshot_export(client, project_id), progress)
    progress(f"pseudonymising and merging {len(raw)} task(s)")
    pseudonyms = assign_pseudonyms(raw, previous, book)
    return raw, stable_export(raw, pseudonyms), pseudonyms


def _tasks_of(export: ExportFile, *, source: str, unreadable: str) -> Iterator[dict[str, Any]]:
    """The tasks of an export a task at a time (one task and one chunk of the file in memory). What the reader
    refuses becomes ``unreadable`` with its reason; an item that is not an object is named."""
    tasks = export.tasks()
    for position in itertools.count():
        try:
            task = next(tasks)
        except StopIteration:
            return
        except KhabarError as exc:
            raise KhabarError(f"{unreadable} ({exc.message})", file=source) from None
        if not isinstance(task.value, dict):
            raise KhabarError(f"{TASK_LIST}: item {position} is a JSON {type(task.value).__name__}", file=source)
        yield task.value


@dataclass
class FileSide:
    """The export file as a pull read it: its tasks set aside, its annotations indexed, its annotators' pseudonyms, its sha256."""

    spool: TaskSpool
    annotations: Annotations
    pseudonyms: dict[str, str]
    sha256: str | None

    @classmethod
    def read(cls, path: Path, folder: Path) -> FileSide:
        side = cls.empty(path, folder)
        export = ExportFile(path, streamed=True, owner_lists=OWNER_LISTS.values())
        try:
            for task in _tasks_of(export, source=str(path), unreadable="not a JSON export"):
                side.annotations.add(side.spool.add(task), task)
                side.pseudonyms.update(previous_pseudonyms([task]))
        finally:
            export.close()
        side.sha256 = export.sha256  # of the bytes read: the merge is put in place only over them
        return side

    @classmethod
    def empty(cls, path: Path, folder: Path) -> FileSide:
        spool = TaskSpool(folder / "file.spool")
        return cls(spool, Annotations("file", str(path), spool.task), {}, None)


class SnapshotTasks:
    """The project's khabar tasks, set aside raw as the snapshot is read and given back stable (:func:`stable_task`)
    one at a time, in id order (the order a first pull writes them in)."""

    def __init__(self, spool: TaskSpool, pseudonyms: dict[str, str]) -> None:
        self.spool = spool
        self.pseudonyms = pseudonyms
        self.order = sorted(range(len(spool)), key=lambda position: spool.ids[position])  # type: ignore[arg-type,return-value]
        self.by_doc_id = {spool.doc_ids[position]: rank for rank, position in enumerate(self.order)}

    def task(self, rank: int) -> dict[str, Any]:
        return stable_task(self.spool.task(self.order[rank]), self.pseudonyms)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for rank in range(len(self.order)):
            yield self.task(rank)

    def of_doc_id(self, doc_id: str) -> dict[str, Any] | None:
        rank = self.by_doc_id.get(doc_id)
        return None if rank is None else self.task(rank)


def read_snapshot(client: LabelStudio, project_id: int, folder: Path, file: FileSide, book: dict[str, str], progress: Callable[[str], None]) -> tuple[SnapshotTasks, Annotations, dict[str, str]]:
    """The project's khabar tasks (pseudonymised), their annotations indexed, and the pseudonyms used.

    The snapshot is written to ``folder`` as it downloads, read a task at a time into a
    spool, and read back from it: once to pseudonymise every annotator in the order of
    their first work (:func:`pseudonyms_for`), once to index the annotations.
    """
    progress(f"asking Label Studio for an export snapshot of project {project_id} (the long step)")
    snapshot = folder / "snapshot.json"
    download_snapshot(client, project_id, snapshot)
    spool = TaskSpool(folder / "server.spool")
    appearances: list[tuple[object, list[tuple[str, str | None]]]] = []
    others = 0
    export = ExportFile(snapshot, streamed=True, owner_lists=OWNER_LISTS.values())
    try:
        for task in _tasks_of(export, source=f"the export of project {project_id}", unreadable="Label Studio's export cannot be read"):
            if doc_id_of(task) is None:
                others += 1
                continue
            spool.add(task)
            appearances.append((task["id"], user_appearances(task)))
    finally:
        export.close()
    snapshot.unlink()
    _say_not_khabars(others, progress)
    progress(f"pseudonymising and merging {len(spool)} task(s)")
    appearances.sort(key=lambda item: item[0])  # type: ignore[arg-type,return-value]
    pseudonyms = pseudonyms_for((who for _, people in appearances for who in people), file.pseudonyms, book)
    tasks = SnapshotTasks(spool, pseudonyms)
    annotations = Annotations("server", "the server", tasks.task)
    for rank, task in enumerate(tasks):
        annotations.add(rank, task)
    return tasks, annotations, pseudonyms


def pull(
    client: LabelStudio,
    project_id: int,
    path: Path,
    book_file: Path,
    *,
    accept_deletions: bool = False,
    keep: Side | None = None,
    progress: Callable[[str], None] = print,
) -> PullReport:
    """Merge the project into ``path`` (see :mod:`khabar.studio.merge`); refuse what would lose work.

    Conflicts, and annotations deleted or shrunk on the server since the last
    sync, are printed and refused (exit 1, nothing written) unless ``keep`` or
    ``accept_deletions`` says what to do. Each side is set aside on disk as it is
    read (:mod:`khabar.studio.spool`), so memory holds their annotations' hashes and
    a task of each at a time, whatever the project's size; the merged file is
    written a task at a time and put in place only when whole, and only if the file
    is still the one read.
    """
    started = time.monotonic()
    if path.is_dir():
        raise KhabarError("is a directory; --out takes the export file to write (e.g. annotation/exports/khabar.json)", file=str(path))
    with tempfile.TemporaryDirectory(prefix="khabar-pull-") as temporary:
        folder = Path(temporary)
        existed = path.exists()
        file = FileSide.read(path, folder) if existed else FileSide.empty(path, folder)
        # Without the file its old sync state means nothing: everything on the server is new to it.
        state = SyncState.load(path) if existed else SyncState(SyncState.path_for(path))
        state_text = state.render() if state.path.exists() else None
        book = load_pseudonym_book(book_file)
        server_tasks, server_annotations, pseudonyms = read_snapshot(client, project_id, folder, file, book, progress)
        differences = resolve(compare(file.annotations, server_annotations, state), state, keep)
        refused = refusals(differences, accept_deletions=accept_deletions)
        if refused:
            refuse(refused, command="pull", file=str(path), progress=progress)
        merged = PullMerge()
        staged = stage_file(path, jsonl.dumps_document_items(merge_pull(file.spool, server_tasks, differences, state, merged)), expected_sha256=file.sha256)
        changed = not existed or merged.changed
        if changed:
            staged.commit()
        else:
            staged.discard()
        file.spool.close()
        server_tasks.spool.close()
    if state.render() != state_text:
        write_atomic(state.path, state.render())
    updated_book = {**book, **{_user_key(user): pseudonym for user, pseudonym in pseudonyms.items()}}
    if updated_book != book:
        write_private_json(book_file, updated_book)
    _say_what_the_server_lacks(differences, merged.kept_local, progress)
    report = PullReport(
        path=path, tasks=merged.tasks, annotations=merged.annotations, predictions=merged.predictions,
        annotators=len(merged.annotators), changed=changed,
    )  # fmt: skip
    progress(
        f"pulled {report.tasks} task(s), {report.annotations} annotation(s) by {report.annotators} annotator(s), "
        f"{report.predictions} prediction(s) in {time.monotonic() - started:.1f} s → {path}"
        + ("" if changed else " (unchanged)") + f"; {merged.summary()}"
    )
    return report


def _say_what_the_server_lacks(differences: list[Difference], kept_local: list[Difference], progress: Callable[[str], None]) -> None:
    """Tell the annotator which changes of the file a push would send (pull never sends them)."""
    pending = [d for d in differences if d.change in (Change.FILE_ONLY_NEW, Change.DELETED_IN_FILE)]
    if pending or kept_local:
        progress(
            f"{len(kept_local) + len(pending)} change(s) in the file the server lacks "
            f"({len(kept_local)} edited, {sum(d.change is Change.FILE_ONLY_NEW for d in pending)} added, "
            f"{sum(d.change is Change.DELETED_IN_FILE for d in pending)} deleted): send them with khabar studio push"
        )


def ensure_user(client: LabelStudio, email: str, *, username: str, known: dict[str, int] | None = None) -> int:
    """The id of the organisation member with ``email``, creating the user when missing.

    ``POST /api/users/`` (``client.users.create``) creates a user and adds it to
    the caller's organisation; it needs no password because nobody logs in as
    it: it only carries ``completed_by``.
    """
    users = known if known is not None else {u.email.lower(): u.id for u in client.users.list() if u.email}
    if email.lower() not in users:
        users[email.lower()] = client.users.create(username=username, email=email).id
    return users[email.lower()]
