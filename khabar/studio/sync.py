"""Three-way comparison of the export file, the server and the last sync, for pull and push.

An annotation's identity is its ``unique_id``: Label Studio keeps it through
create, update and export, and :func:`khabar.studio.export.push_export`
sends it, so the same annotation has the same ``unique_id`` in the file and on
any server it was pushed to (its ``id``, task id and timestamps differ per server).

The sync state (:class:`SyncState`) records, per ``unique_id``, the hash of the
annotation's content the last time the file and a server agreed on it (after a
pull or a push). With it each side's change since then is known:

============  ============  =======================================================
file          server        meaning
============  ============  =======================================================
= state       = state       unchanged
≠ state       = state       edited (or added) in the file: push sends it, pull keeps it
= state       ≠ state       edited on the server: pull takes it, push leaves it
≠ state       ≠ state       conflict (unless file = server): both reported, nothing written
present       missing       never synced: a local addition (push creates it, pull keeps it);
                            synced: deleted on the server (pull refuses unless accepted)
missing       present       synced: deleted in the file (push refuses unless accepted);
                            never synced: new on the server (pull adds it)
============  ============  =======================================================

The state lives beside the export as ``<export stem>.sync`` (e.g.
``annotation/exports/khabar.sync``) and is committed with it. It holds only
``unique_id``\\ s and hashes, nothing about a server or a person, and it travels with
the file: a teammate who pulls the repository, or a fresh clone, has the base the
committed file was synced against, so their first push or pull tells their own edits
from the server's. Under ``.studio/`` it would be lost with the machine and every
difference would become a conflict. It is not a ``*.json`` file so that the commands
reading ``annotation/exports/*.json`` never take it for an export.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any, Literal

from khabar.foundation import export_files
from khabar.foundation.errors import KhabarError
from khabar.foundation.files import StagedFile, sha256_bytes, stage_file
from khabar.studio.spool import doc_id_of

STATE_FORMAT = 1
#: What an annotator's work is; ids, timestamps and bookkeeping are not.
CONTENT_FIELDS = ("result", "was_cancelled", "ground_truth", "lead_time")
#: Fields a pull takes from the server when it takes the server's version of an annotation.
SERVER_FIELDS = (*CONTENT_FIELDS, "completed_by", "result_count", "updated_at")

Side = Literal["file", "server"]


class Change(Enum):
    UNCHANGED = "unchanged"
    FILE = "changed in the file"
    SERVER = "changed on the server"
    CONFLICT = "changed in the file and on the server"
    FILE_ONLY_NEW = "only in the file, never synced"
    DELETED_ON_SERVER = "deleted on the server since the last sync"
    SERVER_ONLY_NEW = "new on the server"
    DELETED_IN_FILE = "deleted in the file since the last sync"


def pseudonym_of(annotation: dict[str, Any]) -> str | None:
    user = annotation.get("completed_by")
    return user.get("pseudonym") if isinstance(user, dict) else None


def content(annotation: dict[str, Any]) -> dict[str, Any]:
    return {**{key: annotation.get(key) for key in CONTENT_FIELDS}, "pseudonym": pseudonym_of(annotation)}


def canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def content_hash(annotation: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(content(annotation)).encode("utf-8", "surrogatepass")).hexdigest()


#: Namespace of the unique_ids derived for annotations that carry none (e.g. from the CoNLL importer).
DERIVED_NAMESPACE = uuid.UUID("5f0c1e8a-7d2b-4c3e-9a61-2b7f4e0d9c11")


def unique_id(doc_id: str, annotation: dict[str, Any]) -> str | None:
    """The annotation's ``unique_id``; for one that has none, a uuid5 of its task's doc_id, its id and annotator.

    Deriving it (rather than writing a new one into the file) keeps the file as it
    is and gives the same id on every push, so the server's copy matches it on pull.
    """
    value = annotation.get("unique_id")
    if isinstance(value, str) and value:
        return value
    if annotation.get("id") is None:
        return None
    return str(uuid.uuid5(DERIVED_NAMESPACE, f"{doc_id}/{annotation['id']}/{pseudonym_of(annotation)}"))


@dataclass
class SyncState:
    """unique_id → content hash agreed at the last sync."""

    path: Path
    annotations: dict[str, str] = field(default_factory=dict)
    #: the sha256 of the file's bytes as read, None when there was none: the new state is put in place only over
    #: them (a pull's or push's state written over one another command recorded meanwhile lost what it recorded)
    sha256: str | None = None

    @staticmethod
    def path_for(export: Path) -> Path:
        return export.with_suffix(".sync")

    @classmethod
    def load(cls, export: Path) -> SyncState:
        path = cls.path_for(export)
        if not path.exists() and not path.is_symlink():
            return cls(path)
        data = export_files.read_regular(path)  # a FIFO refused, not waited on
        try:
            raw = json.loads(export_files.utf8_text(data, path))
        except json.JSONDecodeError as exc:
            raise KhabarError(f"unreadable sync state ({exc}); restore it from git", file=str(path)) from None
        annotations = raw.get("annotations") if isinstance(raw, dict) else None
        if not isinstance(raw, dict) or raw.get("format") != STATE_FORMAT or not isinstance(annotations, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in annotations.items()
        ):
            raise KhabarError(f"not a khabar sync state of format {STATE_FORMAT}; restore it from git", file=str(path))
        return cls(path, dict(annotations), sha256_bytes(data))

    @classmethod
    def replacing(cls, export: Path) -> SyncState:
        """An empty state for ``export``, to replace whatever state stands beside it (the state of a file that is
        gone means nothing), read only for its hash."""
        path = cls.path_for(export)
        return cls(path, sha256=sha256_bytes(export_files.read_regular(path)) if path.exists() else None)

    def render(self) -> str:
        return json.dumps({"format": STATE_FORMAT, "annotations": dict(sorted(self.annotations.items()))}, indent=1) + "\n"

    def stage(self) -> StagedFile:
        """The state written beside its file, to be put in place (:meth:`StagedFile.commit`) only over the bytes it was
        read from, or where there was none."""
        return stage_file(self.path, self.render(), over=self.sha256)


def classify(file: str | None, server: str | None, base: str | None) -> Change:
    """Where one annotation changed since the last sync, from the content hashes of its two versions (see the module's table)."""
    if file is not None and server is not None:
        if file == server:
            return Change.UNCHANGED
        if base == server:
            return Change.FILE
        if base == file:
            return Change.SERVER
        return Change.CONFLICT
    if file is not None:
        return Change.FILE_ONLY_NEW if base is None else Change.DELETED_ON_SERVER
    return Change.SERVER_ONLY_NEW if base is None else Change.DELETED_IN_FILE


@dataclass(frozen=True)
class Entry:
    """Where an annotation is (its task by doc_id and by position among its side's tasks, its place in the task's
    annotations) and the hash of its content."""

    doc_id: str
    task: int
    position: int
    hash: str


class Annotations:
    """One side's annotations by ``unique_id``: where each is and its content hash, the annotation itself read when
    asked (``task_at``: the side's task at a position, read back from where it was set aside)."""

    def __init__(self, side: Side, source: str, task_at: Callable[[int], dict[str, Any]]) -> None:
        self.side = side
        self.source = source
        self.task_at = task_at
        self.entries: dict[str, Entry] = {}
        self._last: tuple[int, dict[str, Any]] | None = None  # the task read last: a task's annotations are asked for together

    def add(self, position: int, task: dict[str, Any]) -> None:
        """Index the annotations of ``task``, the side's task at ``position``."""
        doc_id = doc_id_of(task)
        annotations = task.get("annotations") or []
        if doc_id is None:
            raise KhabarError(f"task has no data.doc_id ({self.side}); khabar tasks are keyed by doc_id", file=self.source, task=task.get("id"))
        if not isinstance(annotations, list) or not all(isinstance(a, dict) for a in annotations):
            raise KhabarError(f"annotations is not a list of objects ({self.side})", file=self.source, task=task.get("id"))
        for place, annotation in enumerate(annotations):
            uid = unique_id(doc_id, annotation)
            if uid is None:
                raise KhabarError(
                    f"annotation has neither a unique_id nor an id ({self.side}); pull and push match annotations by them",
                    file=self.source, task=task.get("id"),
                )  # fmt: skip
            if uid in self.entries:
                raise KhabarError(f"unique_id {uid} appears twice ({self.side})", file=self.source, task=task.get("id"))
            self.entries[uid] = Entry(doc_id, position, place, content_hash(annotation))

    def annotation(self, uid: str) -> dict[str, Any] | None:
        entry = self.entries.get(uid)
        if entry is None:
            return None
        if self._last is None or self._last[0] != entry.task:
            self._last = (entry.task, self.task_at(entry.task))
        annotation: dict[str, Any] = self._last[1]["annotations"][entry.position]
        return annotation


@dataclass(frozen=True)
class Difference:
    """One annotation that is not the same in the file and on the server; each version read from its side when asked."""

    unique_id: str
    doc_id: str
    change: Change
    file_hash: str | None
    server_hash: str | None
    sides: tuple[Annotations, Annotations] = field(repr=False, compare=False)

    @property
    def file(self) -> dict[str, Any] | None:
        return self.sides[0].annotation(self.unique_id)

    @property
    def server(self) -> dict[str, Any] | None:
        return self.sides[1].annotation(self.unique_id)

    def describe(self) -> str:
        file, server = self.file, self.server
        either = file if file is not None else server
        who = pseudonym_of(either or {}) or "?"
        line = f"task {self.doc_id} annotation {self.unique_id} by {who}: {self.change.value}"
        if file is not None and server is not None:
            line += "\n" + describe_versions(file, server)
        elif either is not None:
            line += f" ({len(either.get('result') or [])} result(s))"
        return line


def compare(mine: Annotations, theirs: Annotations, state: SyncState) -> list[Difference]:
    """Every annotation of either side with its :class:`Change` (unchanged ones too), file order first."""
    out = []
    for uid in [*mine.entries, *(u for u in theirs.entries if u not in mine.entries)]:
        here, there = mine.entries.get(uid), theirs.entries.get(uid)
        doc_id = here.doc_id if here is not None else there.doc_id  # type: ignore[union-attr]
        file_hash, server_hash = (None if here is None else here.hash), (None if there is None else there.hash)
        out.append(Difference(uid, doc_id, classify(file_hash, server_hash, state.annotations.get(uid)), file_hash, server_hash, (mine, theirs)))
    return out


def resolve(differences: list[Difference], state: SyncState, keep: Side | None) -> list[Difference]:
    """Settle conflicts by keeping one side: the other side's version becomes the base.

    Keeping the file makes its version a local edit (push sends it); keeping the
    server makes the server's an edit the file has not seen (pull takes it).
    """
    if keep is None:
        return differences
    settled = []
    for difference in differences:
        if difference.change is Change.CONFLICT:
            other = difference.server_hash if keep == "file" else difference.file_hash
            assert other is not None
            state.annotations[difference.unique_id] = other
            difference = replace(difference, change=Change.FILE if keep == "file" else Change.SERVER)
        settled.append(difference)
    return settled


def _region_key(item: dict[str, Any]) -> str:
    if item.get("type") == "relation":
        return f"relation {item.get('from_id')}→{item.get('to_id')} {item.get('labels')}"
    value = item.get("value") or {}
    what = value.get("labels") or value.get("choices")
    return f"{item.get('from_name')} {item.get('id')} [{value.get('start')}, {value.get('end')}) {what}"


def region_keys(annotation: dict[str, Any]) -> set[str]:
    return {_region_key(item) for item in annotation.get("result") or [] if isinstance(item, dict)}


def region_ids(annotation: dict[str, Any]) -> set[str]:
    """The ids of the regions (relations as their ends) an annotation holds."""
    ids = set()
    for item in annotation.get("result") or []:
        if not isinstance(item, dict):
            continue
        if item.get("type") == "relation":
            ids.add(f"{item.get('from_id')}→{item.get('to_id')}")
        elif item.get("id") is not None:
            ids.add(str(item["id"]))
    return ids


def describe_versions(file: dict[str, Any], server: dict[str, Any]) -> str:
    """Both versions of an annotation, as what only one of them holds."""
    mine, theirs = region_keys(file), region_keys(server)
    lines = [f"    only in the file:    {key}" for key in sorted(mine - theirs)]
    lines += [f"    only on the server:  {key}" for key in sorted(theirs - mine)]
    for key in ("was_cancelled", "ground_truth", "lead_time"):
        if file.get(key) != server.get(key):
            lines.append(f"    {key}: file {file.get(key)!r}, server {server.get(key)!r}")
    if pseudonym_of(file) != pseudonym_of(server):
        lines.append(f"    annotator: file {pseudonym_of(file)}, server {pseudonym_of(server)}")
    if not lines:
        lines.append("    the same regions in another order")
    return "\n".join(lines)
