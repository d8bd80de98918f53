"""``khabar ingest``: raw pages + metadata → corpus records.

Each page in ``corpus/pages/`` is read as UTF-8, normalised once
(:mod:`khabar.annotation.normalize`) and given a content-bound ``doc_id`` (the first
16 hex digits of the SHA-256 of the normalised text). The records go to
``corpus/documents.jsonl``, one JSON object per line, sorted by page file.

Re-ingesting an unchanged page is a no-op. A page whose text changed becomes a
new document; the old record is kept (marked ``superseded_by``) when an export
(``annotation/exports/``, or those ``--exports`` names, found as build finds them)
holds annotations for it, so its offsets stay valid.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from functools import cache
from itertools import chain
from pathlib import Path
from typing import get_type_hints

import msgspec
import polars as pl

from khabar.annotation.normalize import normalize_text
from khabar.foundation import export_files, jsonl
from khabar.foundation.csv_files import read_csv
from khabar.foundation.errors import KhabarError, not_utf8, quoted
from khabar.foundation.files import write_atomic
from khabar.foundation.records import FIELD_RULES, FILE_RULES, LANGUAGE, PAGE_RULES, RecordRule, first_broken

PAGE_FIELDS = ("file", "source", "title", "published", "published_evidence", "url", "story")
SOURCE_FIELDS = ("id", "name_ar", "name_en", "site", "country")
#: The ``data`` of a document's Label Studio task; ``text`` is what the labeling config's <Text> shows.
TASK_DATA_KEYS = ("text", "doc_id", "source", "title")


@dataclass(frozen=True)
class DocumentRecord:
    doc_id: str
    file: str
    text: str
    source: str
    title: str
    published: str | None
    published_evidence: str
    url: str | None
    story: str
    language: str = LANGUAGE
    superseded_by: str | None = None

    def task_data(self) -> dict[str, str]:
        """The ``data`` of this document's Label Studio task (every task-building path uses it)."""
        return {key: getattr(self, key) for key in TASK_DATA_KEYS}


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    replaced: list[tuple[str, str]] = field(default_factory=list)
    superseded: list[tuple[str, str]] = field(default_factory=list)
    moved: list[tuple[str, str, str]] = field(default_factory=list)  # old doc_id, new doc_id, the page that now has the old text
    restored: list[str] = field(default_factory=list)
    removed: list[tuple[str, str]] = field(default_factory=list)  # doc_id, its page, no longer there

    @property
    def pages(self) -> int:
        """The pages ingested: each is added, unchanged or has a new text."""
        return len(self.added) + len(self.unchanged) + len(self.replaced) + len(self.superseded) + len(self.moved)

    def lines(self) -> list[str]:
        out = [f"added      {doc}" for doc in self.added]
        out += [f"unchanged  {doc}" for doc in self.unchanged]
        out += [f"replaced   {old} → {new} (no annotations referred to the old text)" for old, new in self.replaced]
        out += [
            f"new text   {new}; {old} is kept because annotations refer to it (superseded_by={new})"
            for old, new in self.superseded
        ]
        out += [f"new text   {new}; {old} stays, as the text of {page}" for old, new, page in self.moved]
        out += [f"restored   {doc}: a page has this kept text again, so it is current again" for doc in self.restored]
        out += [f"removed    {doc}: its page {page} is no longer in pages.csv" for doc, page in self.removed]
        return out


def doc_id_for(text: str) -> str:
    """The content-bound id of a normalised text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def read_page(path: Path) -> str:
    """Read and normalise one raw page, refusing what is not a text page."""
    raw = export_files.read_regular(path)  # a FIFO refused, not waited on
    if b"\x00" in raw:
        raise KhabarError("binary file (NUL bytes), not a text page", file=str(path))
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise KhabarError(not_utf8(exc), file=str(path)) from None
    text = normalize_text(decoded)
    if not text.strip():
        raise KhabarError("empty page", file=str(path))
    return text


def _read_csv(path: Path, fields: tuple[str, ...]) -> list[tuple[str, dict[str, str]]]:
    """The rows of a metadata file, each with where it is (``file:line``, the line it starts on) and a value for
    each column of the header, which has ``fields`` among others; what is not such a file is one line naming the
    file, the line and the value (:func:`khabar.foundation.csv_files.read_csv`)."""
    if not path.exists() and not path.is_symlink():
        raise KhabarError("metadata file not found", file=str(path))
    read = read_csv(path, fields, other_columns=True)
    return [(read.at(line), dict(zip(read.header, values))) for line, values in read.rows()]


def read_metadata(corpus_dir: Path) -> dict[str, dict[str, str]]:
    """Per-page metadata from ``pages.csv``, checked against ``sources.csv`` and by the rules of the record each row
    becomes (:data:`khabar.foundation.records.FIELD_RULES`: an empty value is a null one, as in the record)."""
    sources_file = corpus_dir / "sources.csv"
    pages_file = corpus_dir / "pages.csv"
    source_ids = {row["id"] for _, row in _read_csv(sources_file, SOURCE_FIELDS)}
    rows = _read_csv(pages_file, PAGE_FIELDS)
    as_records = pl.DataFrame(
        {name: [row[name] or (None if name in NULLABLE_FIELDS else "") for _, row in rows] for name in PAGE_FIELDS},
        schema=dict.fromkeys(PAGE_FIELDS, pl.String),
    )
    broken = first_broken(as_records, FIELD_RULES)
    metadata: dict[str, dict[str, str]] = {}
    for number, (where, row) in enumerate(rows):
        if row["file"] in metadata:
            raise KhabarError(f"page {row['file']!r} is listed twice", file=where)
        if broken is not None and broken[0] == number:
            rule = broken[1]
            raise KhabarError(f"{'missing metadata: ' if rule.problem == 'is empty' else ''}{_told(rule, row[rule.field])}", file=where)
        if row["source"] not in source_ids:
            raise KhabarError(f"unknown source {row['source']!r}; sources.csv has {', '.join(sorted(source_ids))}", file=where)
        metadata[row["file"]] = row
    return metadata


def _told(rule: RecordRule, value: str | None) -> str:
    """What a field that breaks ``rule`` is told: its name and the rule's problem, with its value."""
    return f"{rule.field!r} {rule.problem.format(value=quoted(value))}"


#: the record fields that may be null; every field is a string otherwise
NULLABLE_FIELDS = frozenset(f.name for f in fields(DocumentRecord) if "None" in str(f.type))
RECORD_FIELDS = tuple(f.name for f in fields(DocumentRecord))
REQUIRED_FIELDS = tuple(f.name for f in fields(DocumentRecord) if f.default is MISSING)
_SURROGATE = re.compile("[\ud800-\udfff]")
#: A record as msgspec decodes it when it is well-formed: each field typed as the dataclass types it, no other field.
_HINTS = get_type_hints(DocumentRecord)
_WELL_FORMED = msgspec.json.Decoder(msgspec.defstruct(
    "WellFormedRecord",
    [(f.name, _HINTS[f.name]) if f.default is MISSING else (f.name, _HINTS[f.name], f.default) for f in fields(DocumentRecord)],
    forbid_unknown_fields=True,
))


def _json_type(value: object) -> str:
    names = {bool: "boolean", int: "number", float: "number", str: "string", list: "list", dict: "object", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def parse_record(line: str, line_no: int, documents_file: Path) -> DocumentRecord:
    """One corpus record, with the type of every field checked: ingest, validate and build all read through here."""
    def refuse(problem: str) -> KhabarError:
        return KhabarError(f"line {line_no}: not a corpus record ({problem})", file=str(documents_file))

    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise refuse(jsonl.json_problem(exc, line=False)) from None
    except (ValueError, RecursionError) as exc:  # an integer of more than 4,300 digits; nesting too deep
        raise refuse(str(exc).split(";")[0] or "JSON nested too deeply") from None
    if not isinstance(data, dict):
        raise refuse(f"a JSON {_json_type(data)}, expected an object")
    unknown = sorted(set(data) - set(RECORD_FIELDS))
    missing = [name for name in REQUIRED_FIELDS if name not in data]
    if unknown or missing:
        named = [f"unknown field(s) {', '.join(map(repr, unknown))}" if unknown else "", f"missing {', '.join(map(repr, missing))}" if missing else ""]
        raise refuse("; ".join(part for part in named if part).encode("utf-8", "backslashreplace").decode("utf-8"))
    # the line is decoded UTF-8, so only a \u escape can give a string a lone surrogate: searching only
    # then saves 0.07 s of 0.34 at 13,000 records (27 MB of text)
    escaped = "\\u" in line
    doc = data.get("doc_id") if isinstance(data.get("doc_id"), str) and not (escaped and _SURROGATE.search(data["doc_id"])) else None
    for name in RECORD_FIELDS:
        value = data.get(name)
        if value is None and name in NULLABLE_FIELDS:
            continue
        if not isinstance(value, str):
            wanted = "a string or null" if name in NULLABLE_FIELDS else "a string"
            raise KhabarError(
                f"line {line_no}: field {name!r} is a JSON {_json_type(value)}, expected {wanted}",
                file=str(documents_file), document=doc,
            )
        if escaped and _SURROGATE.search(value):
            raise KhabarError(
                f"line {line_no}: field {name!r} holds a lone surrogate (a \\uD800-\\uDFFF escape without its pair): not Unicode text",
                file=str(documents_file), document=doc,
            )
    return DocumentRecord(**data)


def load_records(documents_file: Path) -> list[DocumentRecord]:
    return list(iter_records(documents_file))


def iter_records(documents_file: Path) -> Iterator[DocumentRecord]:
    """The records in the file's order, a block of them read at a time (:func:`framed_blocks`); none when there is
    no file (a loop of links or a dangling one is refused as one that cannot be read)."""
    if documents_file.exists() or documents_file.is_symlink():
        yield from chain.from_iterable(records for records, _ in framed_blocks(documents_file))


#: A frame of records: a column per field, in the dataclass's order.
RECORD_SCHEMA = pl.Schema(dict.fromkeys(RECORD_FIELDS, pl.String()))


def record_frame(records: list[DocumentRecord]) -> pl.DataFrame:
    return pl.DataFrame({name: [getattr(record, name) for record in records] for name in RECORD_FIELDS}, schema=RECORD_SCHEMA)


#: The columns the rules between records read (:data:`~khabar.foundation.records.FILE_RULES`, ``PAGE_RULES``).
LINK_COLUMNS = ("doc_id", "file", "superseded_by")


def framed_blocks(
    documents_file: Path, seen: Callable[[bytes], object] | None = None, between: tuple[RecordRule, ...] = FILE_RULES,
) -> Iterator[tuple[list[DocumentRecord], pl.DataFrame]]:
    """The records in blocks, in the file's order, each block with its :func:`record_frame`: from
    :func:`well_formed_blocks`, and from the first line that is not well-formed on, what :func:`checked_records`
    reads, in one block (it raises with the message of the file's first problem).

    Every reader of records goes through here, so every one is refused a record that breaks the rules of
    :mod:`khabar.foundation.records`: a block's records are checked (:data:`~khabar.foundation.records.FIELD_RULES`)
    before it is given, and the rules between records (``between``: :data:`~khabar.foundation.records.FILE_RULES`,
    and ingest's ``PAGE_RULES`` too) once the last block is read; a reader that acts on records as they come (``khabar predict``) writes atomically, so a
    refusal at the end leaves nothing. The checks are polars queries of the blocks' frames, 0.04 s of CPU for 38,776
    records (the size of the corpus of 3M span results); the frames, which validation's reading makes anyway
    (:func:`khabar.validation.reader.read_documents`), cost the readers of records 0.1 s of CPU per 100 MB of text.

    ``seen`` is given the file's bytes as they are read, each once (to hash them).
    """
    given = 0
    read = 0  # the bytes given to ``seen``

    def counted(chunk: bytes) -> None:
        nonlocal read
        read += len(chunk)
        if seen is not None:
            seen(chunk)

    links = [record_frame([]).select(LINK_COLUMNS)]  # of every block

    def checked(block: list[DocumentRecord]) -> tuple[list[DocumentRecord], pl.DataFrame]:
        frame = record_frame(block)
        _refuse_broken(frame, FIELD_RULES, given, documents_file)
        links.append(frame.select(LINK_COLUMNS))
        return block, frame

    try:
        for block in well_formed_blocks(documents_file, counted):
            yield checked(block)
            given += len(block)
    except NotWellFormed:
        data = export_files.read_regular(documents_file)
        if seen is not None:  # the rest of what was read: a file changed between the two reads matches no hash of it
            seen(data[read:])
        yield checked(checked_records(documents_file, data)[given:])  # every line given so far was a record: the same ones
    every = pl.concat(links)
    _refuse_broken(every, between, 0, documents_file)
    _refuse_endless_chains(every, documents_file)


def _refuse_broken(frame: pl.DataFrame, rules: tuple[RecordRule, ...], first_row: int, documents_file: Path) -> None:
    """Raise on the first record of ``frame`` (the file's records from row ``first_row`` on) that breaks one of
    ``rules``, naming its line, doc_id, field and value as :func:`parse_record` names a field of the wrong type."""
    broken = first_broken(frame, rules)
    if broken is None:
        return
    row, rule = broken
    line = first_row + row + 1  # a record a line: a blank line is no record
    raise KhabarError(f"line {line}: field {_told(rule, frame[rule.field][row])}", file=str(documents_file), document=frame["doc_id"][row])


def _refuse_endless_chains(links: pl.DataFrame, documents_file: Path) -> None:
    """Raise on the first superseded record from which ``superseded_by`` leads back to itself, never to a current
    record: its page would have no current text. Only the superseded records are followed, each once."""
    superseded = links.with_row_index("row").filter(pl.col("superseded_by").is_not_null())
    newer = dict(zip(superseded["doc_id"], superseded["superseded_by"]))
    reach_current: set[str] = set()
    for row, doc_id, by in superseded.select("row", "doc_id", "superseded_by").iter_rows():
        path = [doc_id]
        while (after := newer.get(path[-1])) is not None and after not in reach_current:
            if after in path:
                raise KhabarError(
                    f"line {row + 1}: field 'superseded_by' is {quoted(by)}, which leads back to this record: no record of the chain is current",
                    file=str(documents_file), document=doc_id,
                )
            path.append(after)
        reach_current.update(path)


#: The bytes read at a time by :func:`well_formed_blocks`: about 1,600 records of news, 25 blocks for the
#: corpus of 3M span results (102 MB, 38,776 records).
BLOCK_BYTES = 1 << 22


class NotWellFormed(Exception):
    """A line of a corpus file that msgspec cannot decode as a record: :func:`checked_records` says why."""


def well_formed_blocks(documents_file: Path, seen: Callable[[bytes], object] | None = None) -> Iterator[list[DocumentRecord]]:
    """The records, a block of lines at a time, while msgspec decodes every line from its bytes; raises
    :class:`NotWellFormed` at the first line it cannot (:func:`framed_blocks` then reads the file with
    :func:`checked_records`, for the message of the file's first problem).

    What :func:`parse_record` checks, msgspec checks while decoding: UTF-8 (a byte
    outside a string must be JSON's ASCII), one JSON object of the record's fields and
    no other, each of the type the dataclass gives it, and no lone surrogate (msgspec
    refuses a ``\\uD800``-``\\uDFFF`` escape without its pair, so a line need not be
    searched for ``\\u``: 0.03 s of 34 MB). No str of the whole file, no dict per line:
    0.27 → 0.12 s CPU for the corpus of 1M spans (13,000 records, 34 MB). Lines are split as
    :func:`khabar.foundation.jsonl.split` splits them, and only a block's bytes and records are
    in memory at once (:func:`khabar.validation.reader.read_documents` of the 102 MB corpus of 3M
    span results: peak 428 → 225 MB, resident once read 344 → 170 MB). ``seen`` is given each piece of the file's
    bytes as it is read (to hash them).
    """
    with export_files.open_regular(documents_file) as handle:
        rest = b""
        while chunk := handle.read(BLOCK_BYTES):
            if seen is not None:
                seen(chunk)
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()  # the end of the chunk: a line that goes on in the next one, or b"" after a newline
            yield _decoded(lines)
        if rest:  # the last line, without a newline
            yield _decoded([rest])


def _decoded(lines: list[bytes]) -> list[DocumentRecord]:
    try:
        return [DocumentRecord(*msgspec.structs.astuple(_WELL_FORMED.decode(line))) for line in lines]  # in the dataclass's order
    except (msgspec.MsgspecError, UnicodeDecodeError, RecursionError):
        raise NotWellFormed from None


def checked_records(documents_file: Path, data: bytes | None = None) -> list[DocumentRecord]:
    """The records read line by line (from ``data``, the file's bytes, when the caller read them), each checked by
    :func:`parse_record`: the message of the file's first problem."""
    text = export_files.read_regular_text(documents_file) if data is None else export_files.utf8_text(data, documents_file)
    return [parse_record(line, line_no, documents_file) for line_no, line in jsonl.split(text)]


def read_records(documents_file: Path) -> tuple[list[DocumentRecord], str | None]:
    """The records, and the sha256 of the bytes they were read from (None when there is no file), in one read:
    ``khabar ingest`` rewrites the file only over those bytes (records written over a corpus file saved meanwhile
    lost what it was saved with)."""
    if not (documents_file.exists() or documents_file.is_symlink()):
        return [], None
    digest = hashlib.sha256()
    # ingest keeps a page's records by its file: PAGE_RULES too
    records = list(chain.from_iterable(block for block, _ in framed_blocks(documents_file, digest.update, FILE_RULES + PAGE_RULES)))
    return records, digest.hexdigest()


def annotated_doc_ids(exports: list[Path]) -> set[str]:
    """doc_ids that have at least one annotation in the exports, each task's document found as validate finds it.

    A task's document is its ``data.doc_id``, or the one whose text its ``data.text`` is (a doc_id is the hash of
    its text). An export that is not a list of tasks, a task that is not an object or whose annotations are not a
    list, and annotations whose document cannot be told are refused: an export that cannot be read is never taken
    for one without annotations, whose documents a changed page would replace.
    """
    found: set[str] = set()
    for path in exports:
        try:
            tasks = json.loads(export_files.read_regular(path).decode("utf-8"))
        except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            problem = str(exc).split(";")[0] if not isinstance(exc, RecursionError) else "nested too deeply"
            raise KhabarError(f"cannot tell which documents are annotated: not JSON ({problem})", file=str(path)) from None
        if not isinstance(tasks, list):
            raise KhabarError(f"not a Label Studio JSON export: the top level is a JSON {_json_type(tasks)}, a full export is a list of tasks", file=str(path))
        found.update(filter(None, (_annotated_document(task, f"#{position}", path) for position, task in enumerate(tasks))))
    return found


def _annotated_document(task: object, position: str, path: Path) -> str | None:
    """The doc_id of the task's document when the task has annotations."""
    if not isinstance(task, dict):
        raise KhabarError(f"not a Label Studio task: a JSON {_json_type(task)}, expected an object", file=str(path), task=position)
    where = task["id"] if isinstance(task.get("id"), int | str) else position
    annotations = task.get("annotations")
    if annotations is not None and not isinstance(annotations, list):
        raise KhabarError(f"task 'annotations' is a JSON {_json_type(annotations)}, expected a list", file=str(path), task=where)
    if not annotations:
        return None
    data = task["data"] if isinstance(task.get("data"), dict) else {}
    doc_id, text = data.get("doc_id"), data.get("text")
    if isinstance(doc_id, str):
        return doc_id
    if doc_id is None and isinstance(text, str):
        return doc_id_for(text)
    raise KhabarError(
        "cannot tell which document the task's annotations refer to: no data.doc_id string and no data.text",
        file=str(path), task=where,
    )


def refuse_broken_records(records: list[DocumentRecord], documents_file: Path) -> None:
    """Raise, before ``records`` are written to ``documents_file`` in their order, on the first one its readers
    would refuse (the rules :func:`framed_blocks` applies, named as it names them): a writer never leaves a
    corpus file that every command then refuses until a person edits it."""
    frame = record_frame(records)
    try:
        _refuse_broken(frame, FIELD_RULES, 0, documents_file)
        _refuse_broken(frame, FILE_RULES + PAGE_RULES, 0, documents_file)
        _refuse_endless_chains(frame, documents_file)
    except KhabarError as exc:
        raise KhabarError(f"not written: its readers would refuse it: {exc.message}", file=exc.file, document=exc.document) from None


def in_file_order(records: list[DocumentRecord]) -> list[DocumentRecord]:
    """The records in the order :func:`write_records` writes them: by page, a page's current record last."""
    return sorted(records, key=lambda r: (r.file, r.superseded_by is None, r.doc_id))


def write_records(documents_file: Path, records: list[DocumentRecord], *, over: str | None) -> None:
    """Write the records atomically, in a stable order and format, over the file as read (``over``: the sha256 of its
    bytes, None when there was none: a file made meanwhile is not replaced); records its readers
    would refuse are not written (:func:`refuse_broken_records`)."""
    ordered = in_file_order(records)
    refuse_broken_records(ordered, documents_file)
    write_atomic(documents_file, jsonl.dumps(asdict(r) for r in ordered), over=over)


def ingest(corpus_dir: Path, exports: list[Path]) -> IngestReport:
    """Bring ``corpus_dir/documents.jsonl`` up to date with its pages; the annotations of ``exports`` (found by
    :func:`khabar.foundation.export_files.export_paths`) keep the documents they refer to.

    Each page's text is its current record. An earlier record of a page is kept, superseded by the page's current
    record, while it is annotated (an earlier text, once kept, stays); one whose text is a page's text again is that
    page's current record (a doc_id names one record); those of a page no longer there go, unless the page's text
    went to another page (a page renamed), whose current record then supersedes them, and are refused while
    annotations refer to them. Two pages of one text are refused: their records would share a doc_id.
    """
    pages_dir = corpus_dir / "pages"
    documents_file = corpus_dir / "documents.jsonl"
    metadata = read_metadata(corpus_dir)
    page_files = sorted(p.name for p in pages_dir.glob("*") if p.is_file() and not p.name.startswith("."))
    for name in page_files:
        if name not in metadata:
            raise KhabarError("missing metadata: the page has no row in pages.csv", file=str(pages_dir / name))
    for name in metadata:
        if name not in page_files:
            raise KhabarError(f"pages.csv lists {name!r} but {pages_dir} has no such file", file=str(corpus_dir / "pages.csv"))

    previous, read_sha256 = read_records(documents_file)
    records: list[DocumentRecord] = []
    page_of: dict[str, str] = {}  # the page of each current record's doc_id
    for name in page_files:
        row = metadata[name]
        text = read_page(pages_dir / name)
        record = DocumentRecord(
            doc_id=doc_id_for(text),
            file=name,
            text=text,
            source=row["source"],
            title=row["title"],
            published=row["published"] or None,
            published_evidence=row["published_evidence"],
            url=row["url"] or None,
            story=row["story"],
        )
        if record.doc_id in page_of:
            raise KhabarError(
                f"the page's text is that of {page_of[record.doc_id]!r} (doc_id {record.doc_id}): a doc_id names one record, so one of the two pages must go",
                file=str(pages_dir / name),
            )
        page_of[record.doc_id] = name
        records.append(record)

    old_current = {r.file: r for r in previous if r.superseded_by is None}
    # What a page's earlier records are superseded by: its current record, or that of the page its text went to.
    newest = {r.file: r.doc_id for r in records} | {
        file: r.doc_id for file, r in old_current.items() if file not in metadata and r.doc_id in page_of
    }
    annotated = cache(lambda: annotated_doc_ids(exports))  # the exports read only when a record may go
    report = IngestReport()
    kept: dict[str, DocumentRecord] = {}
    for old in previous:
        after = newest.get(old.file)
        if old.doc_id in page_of:
            continue  # a page's text: its current record
        if after is None:
            if old.doc_id in annotated():  # the annotations would refer to no text: put the page back, or their tasks away, first
                raise KhabarError(
                    f"page {old.file!r} is no longer in pages.csv, but annotations refer to its record {old.doc_id}: "
                    "put the page back, or take its tasks out of the exports first",
                    file=str(corpus_dir / "pages.csv"),
                )
            report.removed.append((old.doc_id, old.file))
        elif old.superseded_by is not None:
            kept[old.doc_id] = old
        else:
            if old.doc_id in annotated():
                kept[old.doc_id] = replace(old, superseded_by=after)
                report.superseded.append((old.doc_id, after))
            else:
                report.replaced.append((old.doc_id, after))
    # A kept record's newer record may be gone (replaced, or current again): the page's current record supersedes it.
    kept = {
        doc_id: old if old.superseded_by in kept or old.superseded_by == newest[old.file] else replace(old, superseded_by=newest[old.file])
        for doc_id, old in kept.items()
    }

    was_kept = {r.doc_id for r in previous if r.superseded_by is not None}
    for record in records:
        before = old_current.get(record.file)
        if before is None:
            report.added.append(record.doc_id)
        elif before.doc_id == record.doc_id:
            report.unchanged.append(record.doc_id)
        elif before.doc_id in page_of:
            report.moved.append((before.doc_id, record.doc_id, page_of[before.doc_id]))
        if record.doc_id in was_kept:
            report.restored.append(record.doc_id)

    all_records = records + list(kept.values())
    if in_file_order(all_records) != previous:  # a file ingest wrote, with nothing new, is left as it is
        write_records(documents_file, all_records, over=read_sha256)
    return report
