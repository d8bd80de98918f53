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
  ``os.replace``), only when the content changed, and only over the bytes the pull read
  (a file saved meanwhile is kept and the pull refused).

A project can be as big as the export it makes: the snapshot is written to a temporary
folder as it downloads, and each side's tasks are set aside there as they are read
(:mod:`khabar.studio.spool`), so a pull (and a push, which reads both sides the same way)
holds their annotations' hashes and a task of each at a time.

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
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from khabar.annotation.gazetteer import Gazetteer, gazetteer_from_tasks
from khabar.annotation.pseudonyms import pseudonym_number
from khabar.foundation import jsonl
from khabar.foundation.errors import KhabarError
from khabar.foundation.files import commit_together, sha256_bytes, stage_file, temporary_folder
from khabar.studio.connection import UnusableAnswer, address, shown, studio_answers, whole_number
from khabar.studio.merge import PullMerge, merge_pull, refusals, refuse
from khabar.studio.server import stage_private_json
from khabar.studio.spool import TaskSpool, doc_id_of
from khabar.studio.sync import Annotations, Change, Difference, Side, SyncState, compare, resolve
from khabar.validation.export_json import ExportFile
from khabar.validation.reader import OWNER_LISTS

if TYPE_CHECKING:
    from label_studio_sdk import LabelStudio

PLACEHOLDER_DOMAIN = "khabar.invalid"
TASK_LIST = "not a Label Studio JSON export (expected a list of task objects)"
SNAPSHOT_TIMEOUT = 3600.0
#: what Label Studio says of an export snapshot as it builds it
SNAPSHOT_STATUSES = ("created", "in_progress", "failed", "completed")

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
    return read_pseudonym_book(path)[0]


def read_pseudonym_book(path: Path) -> tuple[dict[str, str], str | None]:
    """The book's pseudonyms, and the sha256 of the bytes they were read from (None: no book), over which alone a
    pull writes the book anew."""
    try:
        data = path.read_bytes()
        book = json.loads(data)
    except FileNotFoundError:
        return {}, None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise KhabarError(f"unreadable pseudonym book ({exc}); delete it to rebuild it from the export", file=str(path)) from None
    return {key: value for key, value in book.items() if pseudonym_number(value) is not None}, sha256_bytes(data)


def annotation_pseudonyms(task: dict[str, Any]) -> dict[str, str]:
    """unique_id → pseudonym of each annotation of a task of a previously pulled file."""
    found: dict[str, str] = {}
    for annotation in task.get("annotations") or []:
        user = annotation.get("completed_by")
        if isinstance(user, dict) and annotation.get("unique_id") and pseudonym_number(user.get("pseudonym")):
            found[str(annotation["unique_id"])] = user["pseudonym"]
    return found


class Annotators:
    """Who worked on a snapshot's tasks, added a raw task at a time, and the pseudonym each gets (see the module doc)."""

    def __init__(self) -> None:
        #: each task's id and its users in order: each annotation's user with its unique_id (by annotation id), then each draft's user
        self.by_task: list[tuple[Any, list[tuple[str, str | None]]]] = []

    def add(self, task: dict[str, Any]) -> None:
        annotations = sorted(task.get("annotations") or [], key=lambda a: a["id"])
        drafts = sorted(task.get("drafts") or [], key=lambda d: d["id"])
        self.by_task.append((task["id"], [(_annotation_user(a), str(a.get("unique_id"))) for a in annotations] + [(_draft_user(d), None) for d in drafts]))

    def pseudonyms(self, by_unique_id: dict[str, str], book: dict[str, str]) -> dict[str, str]:
        """user identity → pseudonym, users taken in the order of their first work (tasks by id); ``by_unique_id``: the
        pseudonyms of the previous file's annotations (:func:`annotation_pseudonyms`); ``book``: the local book."""
        return _pseudonyms(
            (who for _, people in sorted(self.by_task, key=lambda item: item[0]) for who in people), by_unique_id, book
        )


def _pseudonyms(appearances: Iterable[tuple[str, str | None]], by_unique_id: dict[str, str], book: dict[str, str]) -> dict[str, str]:
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


def download_snapshot(client: LabelStudio, project_id: int, into: Path, *, timeout: float = SNAPSHOT_TIMEOUT) -> None:
    """Every task of the project, through a snapshot export with full serialisation, written to ``into`` as it comes."""
    from label_studio_sdk.types import SerializationOptionRequest, SerializationOptionsRequest

    full = SerializationOptionRequest(only_id=False)  # whole objects, not their ids
    options = SerializationOptionsRequest(annotations_completed_by=full, predictions=full, drafts=full)
    with studio_answers(client, f"making an export snapshot of project {project_id}"):
        snapshot = client.projects.exports.create(project_id, title="khabar studio pull", serialization_options=options)
        snapshot_id = whole_number(snapshot.id, "the snapshot's id")
        status = _snapshot_status(snapshot.status)
    try:
        deadline = time.monotonic() + timeout
        while status != "completed":
            if status == "failed":
                raise KhabarError(f"Label Studio failed to build the export snapshot {snapshot_id} of project {project_id}")
            if time.monotonic() > deadline:
                raise KhabarError(f"the export snapshot of project {project_id} was not ready after {timeout:.0f} s")
            time.sleep(1)
            with studio_answers(client, f"waiting for export snapshot {snapshot_id} of project {project_id}"):
                status = _snapshot_status(client.projects.exports.get(project_id, snapshot_id).status)
        with into.open("wb") as out, studio_answers(client, f"downloading export snapshot {snapshot_id} of project {project_id}"):
            for chunk in client.projects.exports.download(project_id, snapshot_id, export_type="JSON"):
                out.write(chunk)
    finally:
        with studio_answers(client, f"deleting export snapshot {snapshot_id} of project {project_id}"):
            client.projects.exports.delete(project_id, snapshot_id)


def _snapshot_status(status: object) -> str:
    """A snapshot's status, when it is one Label Studio gives (one it never gives would be waited for until the timeout)."""
    if status not in SNAPSHOT_STATUSES:
        raise UnusableAnswer(f"its status is {shown(status)}, not one of {', '.join(SNAPSHOT_STATUSES)}")
    return str(status)


#: what a command checks of each task of the file as it is read (push: what it needs before the server is touched)
TaskCheck = Callable[[dict[str, Any]], None]


def _opened(path: Path, surrogates: Literal["refuse", "keep"] = "refuse") -> ExportFile:
    return ExportFile(path, streamed=True, owner_lists=OWNER_LISTS.values(), surrogates=surrogates)


def _export_tasks(export: ExportFile, *, source: str, unreadable: str) -> Iterator[dict[str, Any]]:
    """The tasks of an export a task at a time (one task and one chunk of the file in memory), the file closed
    after (its ``sha256`` known once the last is read). What the reader refuses becomes ``unreadable`` with its
    reason; an item that is not an object is named."""
    tasks = export.tasks()
    try:
        for position in itertools.count():
            try:
                task = next(tasks)
            except StopIteration:
                return
            except KhabarError as exc:
                raise KhabarError(f"{unreadable} ({exc.message})", file=source, task=exc.task, region=exc.region) from None
            if not isinstance(task.value, dict):
                raise KhabarError(f"{TASK_LIST}: item {position} is a JSON {type(task.value).__name__}", file=source)
            yield task.value
    finally:
        export.close()


def load_gazetteer(paths: list[Path]) -> Gazetteer:
    """What ``khabar studio preannotate`` proposes entities from: the surface forms of the exports
    (:func:`khabar.annotation.gazetteer.gazetteer_from_tasks`), each file read a task at a time."""
    return gazetteer_from_tasks(
        task for path in paths for task in _export_tasks(_opened(path), source=str(path), unreadable="cannot build the gazetteer: not a JSON export")
    )


@dataclass
class FileSide:
    """The export file as pull and push read it: its tasks set aside, its annotations indexed, its annotators'
    pseudonyms, the sha256 of the bytes read."""

    spool: TaskSpool
    annotations: Annotations
    pseudonyms: dict[str, str]
    sha256: str | None = None

    @classmethod
    def read(cls, path: Path, folder: Path, check: TaskCheck | None = None, *, surrogates: Literal["refuse", "keep"] = "refuse") -> FileSide:
        """The file read a task at a time, each checked by ``check`` before it is kept; ``surrogates``: a string holding
        a lone surrogate (no UTF-8 file can hold it) refused by the reader, or kept for ``check`` to name."""
        side = cls.empty(str(path), folder)
        export = _opened(path, surrogates)
        for task in _export_tasks(export, source=str(path), unreadable="not a JSON export"):
            side.add(task, check)
        side.sha256 = export.sha256  # of the bytes read: a merge is put in place only over them
        return side

    @classmethod
    def of(cls, tasks: Iterable[dict[str, Any]], source: str, folder: Path, check: TaskCheck | None = None) -> FileSide:
        """Tasks held by the caller (an import not yet written), kept as :meth:`read` keeps a file's."""
        side = cls.empty(source, folder)
        for task in tasks:
            side.add(task, check)
        return side

    @classmethod
    def empty(cls, source: str, folder: Path) -> FileSide:
        spool = TaskSpool(folder / "file.spool")
        return cls(spool, Annotations("file", source, spool.task), {})

    def add(self, task: dict[str, Any], check: TaskCheck | None) -> None:
        if check is not None:
            check(task)
        self.annotations.add(self.spool.add(task), task)
        self.pseudonyms.update(annotation_pseudonyms(task))


class SnapshotTasks:
    """The project's khabar tasks, set aside raw as the snapshot is read and given back stable (:func:`stable_task`)
    one at a time, in id order (the order a first pull writes them in)."""

    def __init__(self, spool: TaskSpool, pseudonyms: dict[str, str]) -> None:
        self.spool = spool
        self.pseudonyms = pseudonyms
        self.order = sorted(range(len(spool)), key=lambda position: spool.ids[position])  # type: ignore[arg-type,return-value]
        self.by_doc_id = {spool.doc_ids[position]: rank for rank, position in enumerate(self.order)}

    def raw(self, rank: int) -> dict[str, Any]:
        """The task as Label Studio gave it (its annotators as users, with their server ids)."""
        return self.spool.task(self.order[rank])

    def task(self, rank: int) -> dict[str, Any]:
        return stable_task(self.raw(rank), self.pseudonyms)

    def raws(self) -> Iterator[dict[str, Any]]:
        for rank in range(len(self.order)):
            yield self.raw(rank)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return (stable_task(task, self.pseudonyms) for task in self.raws())

    def of_doc_id(self, doc_id: str) -> dict[str, Any] | None:
        rank = self.by_doc_id.get(doc_id)
        return None if rank is None else self.task(rank)


def _server_task_problem(task: dict[str, Any]) -> str | None:
    """What a task of the snapshot lacks of what a pull and a push read of it (its id, its data, its lists of
    annotations, drafts and predictions, each item's id, an annotation's result, a prediction's model version), or None."""
    if not jsonl.is_whole_number(task.get("id")):
        return f"has no id (its id is {shown(task.get('id'))})"
    if not isinstance(task.get("data"), dict):
        return f"has no data object (its data is {shown(task.get('data'))})"
    for field in ("annotations", "drafts", "predictions"):
        items = task.get(field) or []
        if not isinstance(items, list) or not all(isinstance(item, dict) and jsonl.is_whole_number(item.get("id")) for item in items):
            return f"its {field} are not a list of objects with an id"
    for annotation in task.get("annotations") or []:
        if not isinstance(annotation.get("result"), list):
            return f"its annotation {annotation['id']} has no result list (its result is {shown(annotation.get('result'))})"
    for prediction in task.get("predictions") or []:
        if not isinstance(prediction.get("model_version"), (str, type(None))):
            return f"its prediction {prediction['id']} has a model_version that is no text ({shown(prediction.get('model_version'))})"
    return None


def read_snapshot(client: LabelStudio, project_id: int, folder: Path, file: FileSide, book: dict[str, str], progress: Callable[[str], None]) -> tuple[SnapshotTasks, Annotations, dict[str, str]]:
    """The project's khabar tasks (pseudonymised), their annotations indexed, and the pseudonyms used.

    The snapshot is written to ``folder`` as it downloads, read a task at a time into a
    spool, and read back from it: once to pseudonymise every annotator in the order of
    their first work (:class:`Annotators`), once to index the annotations.
    """
    progress(f"asking Label Studio for an export snapshot of project {project_id} (the long step)")
    snapshot = folder / "snapshot.json"
    download_snapshot(client, project_id, snapshot)
    spool = TaskSpool(folder / "server.spool")
    annotators = Annotators()
    others = 0
    source = f"the export snapshot of project {project_id} from Label Studio at {address(client)}"
    for position, task in enumerate(_export_tasks(_opened(snapshot), source=source, unreadable="Label Studio's export cannot be read")):
        problem = _server_task_problem(task)
        if problem is not None:
            raise KhabarError(problem, file=source, task=task["id"] if jsonl.is_whole_number(task.get("id")) else f"#{position}")
        if doc_id_of(task) is None:
            others += 1
            continue
        spool.add(task)
        annotators.add(task)
    snapshot.unlink()
    if others:
        progress(f"{others} task(s) without data.doc_id on the server are not khabar's: left out")
    progress(f"pseudonymising and comparing {len(spool)} task(s)")
    pseudonyms = annotators.pseudonyms(file.pseudonyms, book)
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
    with temporary_folder("pull") as temporary:
        folder = Path(temporary)
        existed = path.exists()
        file = FileSide.read(path, folder) if existed else FileSide.empty(str(path), folder)
        # Without the file its old sync state means nothing: everything on the server is new to it.
        state = SyncState.load(path) if existed else SyncState.replacing(path)
        state_text = state.render() if state.sha256 is not None else None
        book, book_sha256 = read_pseudonym_book(book_file)
        server_tasks, server_annotations, pseudonyms = read_snapshot(client, project_id, folder, file, book, progress)
        differences = resolve(compare(file.annotations, server_annotations, state), state, keep)
        refused = refusals(differences, accept_deletions=accept_deletions)
        if refused:
            refuse(refused, command="pull", file=str(path), progress=progress)
        merged = PullMerge()
        staged = stage_file(path, jsonl.dumps_document_items(merge_pull(file.spool, server_tasks, differences, state, merged)), over=file.sha256)
        changed = not existed or merged.changed
        updated_book = {**book, **{_user_key(user): pseudonym for user, pseudonym in pseudonyms.items()}}
        if not changed:
            try:  # the file as read: a state recorded for it would not be the edited one's
                staged.check()
            finally:
                staged.discard()
        # the export, its sync state and the pseudonyms together, each only over what the pull read (a state or book
        # another pull saved meanwhile is kept): a pull stopped between them left a state older than its file
        written = [staged] if changed else []
        try:
            if state.render() != state_text:
                written.append(state.stage())
            if updated_book != book:
                written.append(stage_private_json(book_file, updated_book, over=book_sha256))
        except BaseException:
            for unwritten in written:
                unwritten.discard()
            raise
        commit_together(written)
        file.spool.close()
        server_tasks.spool.close()
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


def organisation_users(client: LabelStudio) -> dict[str, int]:
    """email (lower-cased) → user id of the organisation's members."""
    with studio_answers(client, "listing the users"):
        return {user.email.lower(): whole_number(user.id, f"the id of user {user.email}") for user in client.users.list() if user.email}


def ensure_user(client: LabelStudio, email: str, *, username: str, known: dict[str, int] | None = None) -> int:
    """The id of the organisation member with ``email``, creating the user when missing.

    ``POST /api/users/`` (``client.users.create``) creates a user and adds it to
    the caller's organisation; it needs no password because nobody logs in as
    it: it only carries ``completed_by``.
    """
    users = known if known is not None else organisation_users(client)
    if email.lower() not in users:
        with studio_answers(client, f"creating the user {username}"):
            users[email.lower()] = whole_number(client.users.create(username=username, email=email).id, "the new user's id")
    return users[email.lower()]
