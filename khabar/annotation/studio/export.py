"""Pull a project into ``annotation/exports/<project>.json`` and push such a file back.

The pulled file is made for review in git:

- a snapshot export with full serialisation (annotations with their users,
  predictions and drafts in full);
- annotators become stable pseudonyms ``{"pseudonym": "annotator-N"}``; no email,
  name or Label Studio user id is written (``completed_by``, ``updated_by``,
  ``last_created_by``, ``created_username``, ``comment_authors`` go);
- fields that change without anyone's work changing (``created_ago``, the task's
  ``updated_at``, comment bookkeeping) are dropped;
- tasks, annotations, drafts and predictions sorted by id, keys sorted, indent 2,
  UTF-8, trailing newline, written atomically (temp file + ``os.replace``).

Pseudonyms are stable across pulls and machines without a mapping in the repo.
A user keeps, in order of preference: the pseudonym the local book gives them
(``.studio/pseudonyms.json``, keyed by a hash of the email, mode 0600); the
pseudonym of a placeholder user made by :func:`push_export`
(``annotator-N@khabar.invalid``); the pseudonym the previous file gives to their
annotations' ``unique_id``; otherwise the next free ``annotator-N``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from khabar.annotation.errors import KhabarError
from khabar.annotation.studio.project import TASK_DATA_KEYS, doc_id_tasks, import_task_data
from khabar.annotation.studio.server import write_private_json

if TYPE_CHECKING:
    from label_studio_sdk import LabelStudio

PSEUDONYM_PATTERN = re.compile(r"annotator-([1-9][0-9]*)")
PLACEHOLDER_DOMAIN = "khabar.invalid"
SERIALIZATION_OPTIONS = {
    "annotations__completed_by": {"only_id": False},
    "predictions": {"only_id": False},
    "drafts": {"only_id": False},
}
SNAPSHOT_TIMEOUT = 3600.0
PUSH_PROGRESS_EVERY = 200

# Who did it (replaced by a pseudonym or dropped) and what changes on its own.
_DROP_TASK = {"updated_at", "updated_by", "comment_authors", "comment_count", "unresolved_comment_count", "last_comment_updated_at"}
_DROP_ANNOTATION = {"completed_by", "updated_by", "last_created_by", "created_username", "created_ago"}
_DROP_DRAFT = {"user", "created_username", "created_ago"}
_DROP_PREDICTION = {"created_ago"}
# What an annotation is, for push and for comparing a push→pull round trip.
ANNOTATION_CONTENT = ("completed_by", "ground_truth", "lead_time", "result", "unique_id", "was_cancelled")


@dataclass(frozen=True)
class PullReport:
    path: Path
    tasks: int
    annotations: int
    predictions: int
    annotators: int
    changed: bool


@dataclass(frozen=True)
class PushReport:
    tasks_imported: int
    annotations_created: int
    annotations_present: int
    annotations_renamed: int
    predictions_created: int


def placeholder_email(pseudonym: str) -> str:
    return f"{pseudonym}@{PLACEHOLDER_DOMAIN}"


def _user_key(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest()


def _pseudonym_number(pseudonym: object) -> int | None:
    match = PSEUDONYM_PATTERN.fullmatch(pseudonym) if isinstance(pseudonym, str) else None
    return int(match.group(1)) if match else None


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
    return {key: value for key, value in book.items() if _pseudonym_number(value) is not None}


def previous_pseudonyms(previous: list[dict[str, Any]]) -> dict[str, str]:
    """unique_id → pseudonym of every annotation in a previously pulled file."""
    found: dict[str, str] = {}
    for task in previous:
        for annotation in task.get("annotations") or []:
            user = annotation.get("completed_by")
            if isinstance(user, dict) and annotation.get("unique_id") and _pseudonym_number(user.get("pseudonym")):
                found[str(annotation["unique_id"])] = user["pseudonym"]
    return found


def assign_pseudonyms(
    tasks: list[dict[str, Any]], previous: list[dict[str, Any]], book: dict[str, str]
) -> dict[str, str]:
    """user identity → pseudonym for every user in a raw export (see the module doc)."""
    by_unique_id = previous_pseudonyms(previous)
    users: list[str] = []
    earlier: dict[str, Counter[str]] = {}
    for task in sorted(tasks, key=lambda t: t["id"]):
        for annotation in sorted(task.get("annotations") or [], key=lambda a: a["id"]):
            user = _annotation_user(annotation)
            if user not in earlier:
                users.append(user)
                earlier[user] = Counter()
            if str(annotation.get("unique_id")) in by_unique_id:
                earlier[user][by_unique_id[str(annotation["unique_id"])]] += 1
        for draft in sorted(task.get("drafts") or [], key=lambda d: d["id"]):
            user = _draft_user(draft)
            if user not in earlier:
                users.append(user)
                earlier[user] = Counter()

    def candidate(user: str) -> str | None:
        if _user_key(user) in book:
            return book[_user_key(user)]
        local, _, domain = user.partition("@")
        if domain == PLACEHOLDER_DOMAIN and _pseudonym_number(local):
            return local
        if earlier[user]:
            return sorted(earlier[user].items(), key=lambda item: (-item[1], item[0]))[0][0]
        return None

    assigned: dict[str, str] = {}
    for user in users:
        wanted = candidate(user)
        if wanted is not None and wanted not in assigned.values():
            assigned[user] = wanted
    numbers = [_pseudonym_number(p) or 0 for p in [*assigned.values(), *book.values(), *by_unique_id.values()]]
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


def stable_export(tasks: list[dict[str, Any]], pseudonyms: dict[str, str]) -> list[dict[str, Any]]:
    """The reviewable form of a raw full export (pseudonymised, volatile fields dropped, sorted)."""
    stable = []
    for task in sorted(tasks, key=lambda t: t["id"]):
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
        stable.append(out)
    return stable


def render_export(tasks: list[dict[str, Any]]) -> str:
    return json.dumps(tasks, ensure_ascii=False, sort_keys=True, indent=2) + "\n"


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``; an interrupted write leaves the old file intact."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_export(path: Path) -> list[dict[str, Any]]:
    try:
        tasks = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KhabarError("export not found", file=str(path)) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise KhabarError(f"not a JSON export ({exc})", file=str(path)) from None
    if not isinstance(tasks, list) or not all(isinstance(t, dict) for t in tasks):
        raise KhabarError("not a Label Studio JSON export (expected a list of task objects)", file=str(path))
    return tasks


def snapshot_export(client: LabelStudio, project_id: int, *, timeout: float = SNAPSHOT_TIMEOUT) -> list[dict[str, Any]]:
    """Every task of the project through a snapshot export with full serialisation."""
    snapshot = client.projects.exports.create(
        project_id, title="khabar studio pull", serialization_options=SERIALIZATION_OPTIONS
    )
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
        body = b"".join(client.projects.exports.download(project_id, snapshot.id, export_type="JSON"))
    finally:
        client.projects.exports.delete(project_id, snapshot.id)
    tasks = json.loads(body)
    if not isinstance(tasks, list):
        raise KhabarError(f"the export of project {project_id} is not a list of tasks")
    return tasks


def pull(
    client: LabelStudio,
    project_id: int,
    path: Path,
    book_file: Path,
    *,
    progress: Callable[[str], None] = print,
) -> PullReport:
    """Export the project into ``path`` in its stable, pseudonymised form."""
    started = time.monotonic()
    progress(f"asking Label Studio for an export snapshot of project {project_id} (the long step)")
    raw = snapshot_export(client, project_id)
    progress(f"pseudonymising and writing {len(raw)} task(s)")
    previous_text = path.read_text(encoding="utf-8") if path.exists() else None
    previous = read_export(path) if previous_text is not None else []
    book = load_pseudonym_book(book_file)
    pseudonyms = assign_pseudonyms(raw, previous, book)
    tasks = stable_export(raw, pseudonyms)
    text = render_export(tasks)
    changed = text != previous_text
    if changed:
        write_atomically(path, text)
    updated_book = {**book, **{_user_key(user): pseudonym for user, pseudonym in pseudonyms.items()}}
    if updated_book != book:
        write_private_json(book_file, updated_book)
    report = PullReport(
        path=path,
        tasks=len(tasks),
        annotations=sum(len(t["annotations"]) for t in tasks),
        predictions=sum(len(t["predictions"]) for t in tasks),
        annotators=len({a["completed_by"]["pseudonym"] for t in tasks for a in t["annotations"]}),
        changed=changed,
    )
    progress(
        f"pulled {report.tasks} task(s), {report.annotations} annotation(s) by {report.annotators} annotator(s), "
        f"{report.predictions} prediction(s) in {time.monotonic() - started:.1f} s → {path}"
        + ("" if changed else " (unchanged)")
    )
    return report


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


def push_export(
    client: LabelStudio,
    project_id: int,
    tasks: Iterable[dict[str, Any]],
    *,
    progress: Callable[[str], None] = print,
) -> PushReport:
    """Load the annotations and predictions of an export into project ``project_id``.

    Tasks are matched by ``data.doc_id`` (missing ones are imported from the
    export's data). Each pseudonym becomes a placeholder user
    ``annotator-N@khabar.invalid`` so annotations keep distinct ``completed_by``
    and a pull gives them their pseudonyms back. An annotation whose ``unique_id``
    the project already holds, or whose user already made the same result on
    that task, is skipped, so pushing twice adds nothing. ``unique_id`` is unique
    per server, so pushing into a second project of the same server gives those
    annotations new ids (reported). Drafts are not pushed.
    """
    from label_studio_sdk.core.api_error import ApiError

    tasks = list(tasks)
    present = doc_id_tasks(client, project_id)
    missing: dict[str, dict[str, str]] = {}
    for task in tasks:
        data = task.get("data") or {}
        doc_id = data.get("doc_id")
        if not isinstance(doc_id, str):
            raise KhabarError("task has no data.doc_id; push needs tasks of a khabar export", task=task.get("id"))
        if doc_id not in present and doc_id not in missing:
            missing[doc_id] = {key: data[key] for key in TASK_DATA_KEYS if key in data}
    if missing:
        progress(f"importing {len(missing)} task(s) the project lacks")
        import_task_data(client, project_id, missing.values())
        present = doc_id_tasks(client, project_id)

    current = snapshot_export(client, project_id)
    users = {u.email.lower(): u.id for u in client.users.list() if u.email}
    unique_ids = {str(a.get("unique_id")) for t in current for a in t.get("annotations") or []}
    same_work = {
        (t["id"], (a.get("completed_by") or {}).get("id"), _canonical(a.get("result")))
        for t in current
        for a in t.get("annotations") or []
    }
    predictions_there = {
        (t["id"], p.get("model_version"), _canonical(p.get("result")))
        for t in current
        for p in t.get("predictions") or []
        if isinstance(p, dict)
    }

    created = skipped = renamed = predicted = 0
    for task in tasks:
        task_id = present[task["data"]["doc_id"]]
        for annotation in task.get("annotations") or []:
            pseudonym = (annotation.get("completed_by") or {}).get("pseudonym")
            if _pseudonym_number(pseudonym) is None:
                raise KhabarError(
                    f"annotation {annotation.get('id')} has no pseudonymised completed_by; push reads pulled exports",
                    task=task.get("id"),
                )
            user_id = ensure_user(client, placeholder_email(pseudonym), username=pseudonym, known=users)
            result = annotation.get("result") or []
            if str(annotation.get("unique_id")) in unique_ids or (task_id, user_id, _canonical(result)) in same_work:
                skipped += 1
                continue
            fields = {
                key: annotation[key]
                for key in ("lead_time", "was_cancelled", "ground_truth", "unique_id")
                if annotation.get(key) is not None
            }
            try:
                client.annotations.create(id=task_id, result=result, completed_by=user_id, **fields)
            except ApiError as exc:
                if exc.status_code != 409 or "unique_id" not in fields:
                    raise
                # unique_id is unique per server: another project here already holds this annotation.
                del fields["unique_id"]
                client.annotations.create(id=task_id, result=result, completed_by=user_id, **fields)
                renamed += 1
            same_work.add((task_id, user_id, _canonical(result)))
            created += 1
            if created % PUSH_PROGRESS_EVERY == 0:
                progress(f"  {created} annotation(s) pushed")
        for prediction in task.get("predictions") or []:
            key = (task_id, prediction.get("model_version"), _canonical(prediction.get("result")))
            if key in predictions_there:
                continue
            client.predictions.create(
                task=task_id,
                result=prediction.get("result") or [],
                model_version=prediction.get("model_version") or "",
                score=prediction.get("score") or 0.0,
            )
            predictions_there.add(key)
            predicted += 1
    if renamed:
        progress(
            f"{renamed} annotation(s) got a new unique_id: this server already holds their ids in another project"
        )
    progress(f"pushed {created} annotation(s) and {predicted} prediction(s); {skipped} annotation(s) were already there")
    return PushReport(
        tasks_imported=len(missing),
        annotations_created=created,
        annotations_present=skipped,
        annotations_renamed=renamed,
        predictions_created=predicted,
    )


def _canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)
