"""Nested NER in CoNLL columns (Wojood's format) → corpus records + a Label Studio export.

Input: one token per line, ``TOKEN TAG [TAG ...]`` separated by spaces or tabs,
IOB2 tags, one extra column per nesting level (outermost first), a blank line
between sentences; a byte-order mark, CRLF line ends and invisible bidi controls
are accepted, taken out of the text by the same normaliser as ``khabar ingest``
(:func:`khabar.annotation.normalize.normalize_text`) and counted. A tag map
(JSON: the file's entity type → the scheme's, or null to drop the type) renames
types; every type that is neither mapped nor in the scheme is reported at once.
Output: corpus records (the fields of
:class:`khabar.annotation.ingest.DocumentRecord`) and a Label Studio full-JSON export
with one annotation per document whose results are the entities, as
``khabar studio pull`` writes them. Both then go through ``khabar validate``
and ``khabar build`` like any annotation work.

How text is made, so that every kept token comes back as exactly one token of
the builder's ``tokens`` config:

- a document is ``sentences_per_document`` consecutive sentences, one line
  each, tokens joined by single spaces (the builder splits at spaces and at
  punctuation; Wojood's tokens are already split that way);
- :data:`ARTIFACT_TOKENS` are dropped from the text: ``$#$`` is Wojood's
  segment sentinel and ``#ERROR!`` a spreadsheet error value that replaced a
  lost token; neither is text (and the builder would cut each into three
  punctuation/letter tokens). A dropped token must be tagged ``O``; the
  dropped ones are counted in :attr:`ConllImport.dropped`.

Two things in the source cannot come back unchanged, and both are reported
rather than hidden:

- an ``I-X`` with no open ``X`` at its level is not IOB2; it is read as
  ``B-X`` and listed in :attr:`ConllImport.repairs`;
- two entities over the same tokens: character spans cannot say which one the
  source put in the outer column; they are listed in :attr:`ConllImport.ties`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from itertools import chain
from pathlib import Path

from khabar.annotation.ingest import DocumentRecord, doc_id_for, refuse_broken_records
from khabar.annotation.normalize import INVISIBLE_CONTROLS, normalize_text
from khabar.annotation.results import labels_result
from khabar.annotation.scheme import Layer, Scheme, load_scheme
from khabar.annotation.tags import BEGIN, INSIDE, OUTSIDE
from khabar.foundation import export_files, jsonl
from khabar.foundation.errors import EXIT_UNUSABLE_INPUT, KhabarError, character, not_utf8
from khabar.foundation.files import write_atomic, write_new_files

ARTIFACT_TOKENS = frozenset({"$#$", "#ERROR!"})
COLUMNS = re.compile(r"[ \t]+")
IMPORTED_AT = "2022-06-03T00:00:00.000000Z"  # the Wojood sample's commit date: a stable timestamp


@dataclass(frozen=True)
class ConllToken:
    text: str
    tags: tuple[str, ...]
    line: int


@dataclass(frozen=True)
class Repair:
    """A tag read differently from how it is written, and why."""

    file: str  # the file's name, as in the records' ``file``
    line: int
    token: str
    depth: int
    written: str
    read_as: str
    reason: str


@dataclass(frozen=True)
class Tie:
    """Entities over exactly the same tokens, in the source's column order."""

    file: str
    line: int
    labels: tuple[str, ...]


@dataclass(frozen=True)
class ImportedDocument:
    record: DocumentRecord
    #: per kept token: (start, end) into the text, the source's tags, its line in the source file
    offsets: tuple[tuple[int, int], ...]
    tags: tuple[tuple[str, ...], ...]
    lines: tuple[int, ...]
    #: token index where each source sentence begins
    sentence_starts: tuple[int, ...]
    entities: int
    #: token indices under two or more entities of the same extent
    tie_tokens: frozenset[int] = frozenset()


@dataclass
class Cleaning:
    """What the reader took out of the file before reading tokens (all of it outside the text)."""

    byte_order_mark: bool = False
    crlf_lines: int = 0
    bidi_marks: int = 0  # invisible controls removed from tokens by the ingest normaliser


@dataclass
class ConllImport:
    """What an import read, kept and reported. :func:`imported_documents` gives the documents one at a time and
    counts them here; :func:`import_conll` also keeps them (``documents``, ``tasks``), for a file small enough."""

    documents: list[ImportedDocument] = field(default_factory=list)
    tasks: list[dict] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)
    repairs: list[Repair] = field(default_factory=list)
    ties: list[Tie] = field(default_factory=list)
    tokens_read: int = 0
    sentences_read: int = 0
    documents_made: int = 0
    tokens_kept: int = 0
    entities: int = 0
    cleaning: Cleaning = field(default_factory=Cleaning)
    #: entities of a type the tag map sends to null, per source type
    dropped_entities: dict[str, int] = field(default_factory=dict)
    #: entities renamed by the tag map, per (source type, scheme type)
    mapped_entities: dict[tuple[str, str], int] = field(default_factory=dict)


def read_conll(path: Path, cleaning: Cleaning | None = None) -> Iterator[list[ConllToken]]:
    """Sentences of tokens with their tag columns, read a line at a time (the file is never whole in memory: read
    whole, ``khabar import-conll`` of a 31 MB file took 2.16 GB); bad lines raise :class:`KhabarError`.

    ``cleaning``, when given, counts the byte-order mark, CRLF line ends and bidi marks taken out.
    """
    cleaning = cleaning if cleaning is not None else Cleaning()
    invisible = set(INVISIBLE_CONTROLS)
    current: list[ConllToken] = []
    for number, line in _lines(path, cleaning):
        if not line.strip():
            if current:
                yield current
                current = []
            continue
        token, *tags = COLUMNS.split(line.strip(" \t"))
        if not token or not tags:
            raise KhabarError(f"line {number}: expected 'TOKEN TAG [TAG ...]' separated by spaces or tabs, got {line!r}", file=str(path))
        for column in (token, *tags):
            # a line or paragraph separator, NEL, VT, FF or a lone CR: white space the normaliser leaves, which split
            # the token in the built text (U+2028 was said to be "no text once normalised")
            if (space := next((c for c in column if c.isspace()), None)) is not None:
                raise KhabarError(f"line {number}: {column!r} holds {character(space)}, white space inside a column (columns are separated by spaces or tabs)",
                                  file=str(path))
        for tag in tags:
            if tag != OUTSIDE and (tag[:2] not in (BEGIN, INSIDE) or len(tag) < 3):
                raise KhabarError(f"line {number}: {tag!r} is not an IOB2 tag", file=str(path))
        cleaning.bidi_marks += sum(1 for c in token if c in invisible)
        text = normalize_text(token)
        if not text:
            raise KhabarError(f"line {number}: token {token!r} is no text once normalised (invisible controls only)", file=str(path))
        current.append(ConllToken(text, tuple(tags), number))
    if current:
        yield current


def _lines(path: Path, cleaning: Cleaning) -> Iterator[tuple[int, str]]:
    """The file's lines (numbered from 1) without their ends, a byte-order mark and CRLF line ends taken out and
    counted; a FIFO is refused, not waited on."""
    try:
        with export_files.open_regular(path) as handle:
            offset = 0
            for number, raw in enumerate(handle, start=1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise KhabarError(f"cannot read CoNLL file: line {number}: {not_utf8(exc, offset)}", file=str(path), exit_status=EXIT_UNUSABLE_INPUT) from None
                offset += len(raw)
                if number == 1 and line.startswith("\ufeff"):
                    cleaning.byte_order_mark = True
                    line = line[1:]
                if line.endswith("\n"):
                    line = line[:-1]
                    if line.endswith("\r"):
                        cleaning.crlf_lines += 1
                        line = line[:-1]
                yield number, line
    except OSError as exc:
        raise KhabarError(f"cannot read CoNLL file: {exc}", file=str(path), exit_status=EXIT_UNUSABLE_INPUT) from None


def read_tag_map(path: Path, scheme_labels: Iterable[str]) -> dict[str, str | None]:
    """A tag map file: a JSON object from the file's entity types to the scheme's, or to null (drop)."""
    try:
        mapping = json.loads(export_files.read_regular(path).decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise KhabarError(f"cannot read the tag map: {exc}", file=str(path)) from None
    if not isinstance(mapping, dict) or not all(isinstance(v, str | None) for v in mapping.values()):
        raise KhabarError("a tag map is a JSON object from entity types to a scheme type or null", file=str(path))
    known = set(scheme_labels)
    wrong = sorted(f"{k!r} → {v!r}" for k, v in mapping.items() if v is not None and v not in known)
    if wrong:
        raise KhabarError(f"the tag map names types outside the scheme: {', '.join(wrong)}", file=str(path))
    return mapping


@dataclass
class _Types:
    """The scheme type of each of the file's entity types (None: the tag map drops it), and the types neither the
    scheme nor the map knows, counted as the file is read to be reported at once when it has been read."""

    entity: Layer
    tag_map: Mapping[str, str | None]
    unknown: Counter[str] = field(default_factory=Counter)  # tags of each such type
    first_line: dict[str, int] = field(default_factory=dict)

    def count(self, sentence: list[ConllToken]) -> None:
        for token in sentence:
            for tag in token.tags:
                if tag != OUTSIDE and (kind := tag[2:]) not in self.tag_map and kind not in self.entity.labels:
                    self.unknown[kind] += 1
                    self.first_line.setdefault(kind, token.line)

    def of(self, written: str) -> str | None:
        return self.tag_map[written] if written in self.tag_map else written

    def refuse_unknown(self, file: str) -> None:
        if self.unknown:
            listing = ", ".join(f"{t!r} ({self.unknown[t]} tag(s), first on line {self.first_line[t]})" for t in sorted(self.unknown))
            raise KhabarError(f"entity type(s) not in the scheme's {self.entity.name} layer and not in the tag map: {listing}", file=file)


def sentence_entities(
    tokens: Sequence[ConllToken], file: str, repairs: list[Repair]
) -> list[tuple[int, int, str, int]]:
    """Entities ``(first token, last token + 1, label, column)`` of one sentence, column by column."""
    found = []
    depth = max(len(t.tags) for t in tokens)
    for column in range(depth):
        open_at: tuple[int, str] | None = None
        for i, token in enumerate(tokens):
            tag = token.tags[column] if column < len(token.tags) else OUTSIDE
            prefix, label = tag[:2], tag[2:]
            if prefix == INSIDE and (open_at is None or open_at[1] != label):
                repairs.append(Repair(file, token.line, token.text, column, tag, f"{BEGIN}{label}", f"{INSIDE}{label} continues no open {label} at this level"))
                prefix = BEGIN
            if open_at is not None and (prefix != INSIDE):
                found.append((open_at[0], i, open_at[1], column))
                open_at = None
            if prefix == BEGIN:
                open_at = (i, label)
        if open_at is not None:
            found.append((open_at[0], len(tokens), open_at[1], column))
    return found


def region_id(doc_id: str, number: int) -> str:
    return hashlib.sha256(f"{doc_id}:{number}".encode()).hexdigest()[:10]


#: an entity laid out in a document: start, end (characters), label, source column, source line
_Span = tuple[int, int, str, int, int]


@dataclass
class _Layout:
    """One document's text as it is laid out, sentence by sentence: its kept tokens and its entities."""

    parts: list[str] = field(default_factory=list)
    offsets: list[tuple[int, int]] = field(default_factory=list)
    tags: list[tuple[str, ...]] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)
    spans: list[_Span] = field(default_factory=list)
    cursor: int = 0

    def add_sentence(self, kept: list[ConllToken]) -> list[tuple[int, int]]:
        """Lay out one sentence's kept tokens on a line of their own, joined by spaces; their offsets."""
        if self.parts:
            self.parts.append("\n")
            self.cursor += 1
        self.starts.append(len(self.offsets))
        sentence_offsets = []
        for n, token in enumerate(kept):
            if n:
                self.parts.append(" ")
                self.cursor += 1
            self.parts.append(token.text)
            sentence_offsets.append((self.cursor, self.cursor + len(token.text)))
            self.cursor += len(token.text)
        self.offsets += sentence_offsets
        self.tags += [t.tags for t in kept]
        self.lines += [t.line for t in kept]
        return sentence_offsets


def import_conll(
    path: Path,
    *,
    source: str = "wojood",
    sentences_per_document: int = 10,
    annotator: str = "annotator-1",
    first_task_id: int = 1,
    tag_map: Mapping[str, str | None] | None = None,
) -> ConllImport:
    """Read one CoNLL file into documents and one task per document, all kept (:func:`imported_documents`)."""
    result = ConllImport()
    for document, task in imported_documents(
        path, into=result, source=source, sentences_per_document=sentences_per_document, annotator=annotator, first_task_id=first_task_id, tag_map=tag_map,
    ):
        result.documents.append(document)
        result.tasks.append(task)
    return result


def imported_documents(
    path: Path,
    *,
    into: ConllImport,
    source: str = "wojood",
    sentences_per_document: int = 10,
    annotator: str = "annotator-1",
    first_task_id: int = 1,
    tag_map: Mapping[str, str | None] | None = None,
) -> Iterator[tuple[ImportedDocument, dict]]:
    """Each document of one CoNLL file with its task, one at a time, counted and reported in ``into``; the file is
    read once, a line at a time. Entity types that neither the scheme nor ``tag_map`` knows are reported together
    once the file is read (the caller discards what it was given: written as it came, the export is not committed)."""
    scheme = load_scheme()
    types = _Types(scheme.entity, tag_map or {})
    chunk: list[list[ConllToken]] = []
    for sentence in chain(read_conll(path, into.cleaning), [None]):
        if sentence is not None:
            into.sentences_read += 1
            into.tokens_read += len(sentence)
            types.count(sentence)
            chunk.append(sentence)
        if chunk and (sentence is None or len(chunk) == sentences_per_document):
            made = _document(chunk, path, scheme, types, into, source=source, annotator=annotator, first_task_id=first_task_id)
            chunk = []
            if made is not None:
                yield made
    types.refuse_unknown(str(path))


def _document(
    chunk: list[list[ConllToken]], path: Path, scheme: Scheme, types: _Types, into: ConllImport, *,
    source: str, annotator: str, first_task_id: int,
) -> tuple[ImportedDocument, dict] | None:
    """The document of ``chunk``'s sentences and its task (None when no token is kept), counted in ``into``."""
    layout = _layout(chunk, path, types, into)
    if not layout.offsets:
        return None
    text = "".join(layout.parts)
    if normalize_text(text) != text:  # tokens are normalised one by one: their join must be normal as well
        raise KhabarError(f"line {chunk[0][0].line}: the document's text changes under the ingest normaliser once its tokens are joined", file=str(path))
    record = _record(path, text, chunk[0][0].line, into.documents_made, source)
    # Outermost first: by start, then the source's column (same-extent entities keep the source's order).
    layout.spans.sort(key=lambda s: (s[0], -s[1], s[3]))
    ties, tie_tokens = _ties(layout.spans, layout.offsets, path.name)
    into.ties += ties
    results = [
        labels_result(text, region_id=region_id(record.doc_id, n), from_name=scheme.entity.name, to_name=scheme.text_name, start=start, end=end, label=label)
        for n, (start, end, label, _, _) in enumerate(layout.spans)
    ]
    task = _task(first_task_id + into.documents_made, annotator, results, record)
    into.documents_made += 1
    into.tokens_kept += len(layout.offsets)
    into.entities += len(layout.spans)
    document = ImportedDocument(record, tuple(layout.offsets), tuple(layout.tags), tuple(layout.lines), tuple(layout.starts), len(layout.spans), tie_tokens)
    return document, task


def _layout(chunk: list[list[ConllToken]], path: Path, types: _Types, result: ConllImport) -> _Layout:
    """One document's sentences laid out, their artifacts dropped and their entities decoded and mapped."""
    layout = _Layout()
    for sentence in chunk:
        kept = _kept_tokens(sentence, str(path), result.dropped)
        if not kept:
            continue
        sentence_offsets = layout.add_sentence(kept)
        # Entities are decoded over the whole sentence, so dropping a token never joins two entities;
        # a dropped token is O at every level, so no entity holds one.
        offset_of = {id(token): offset for token, offset in zip(kept, sentence_offsets)}
        for a, b, written, column in sentence_entities(sentence, path.name, result.repairs):
            if written in types.unknown:
                continue  # the import fails once the file is read (_Types.refuse_unknown)
            label = types.of(written)
            if label is None:
                result.dropped_entities[written] = result.dropped_entities.get(written, 0) + 1
                continue
            if label != written:
                result.mapped_entities[written, label] = result.mapped_entities.get((written, label), 0) + 1
            layout.spans.append((offset_of[id(sentence[a])][0], offset_of[id(sentence[b - 1])][1], label, column, sentence[a].line))
    return layout


def _kept_tokens(sentence: list[ConllToken], file: str, dropped: dict[str, int]) -> list[ConllToken]:
    """The sentence's tokens but its artifacts, which must be tagged O and are counted in ``dropped``."""
    kept = []
    for token in sentence:
        if token.text in ARTIFACT_TOKENS:
            if token.tags != (OUTSIDE,):
                raise KhabarError(f"line {token.line}: {token.text!r} is not text but is tagged {' '.join(token.tags)}", file=file)
            dropped[token.text] = dropped.get(token.text, 0) + 1
            continue
        kept.append(token)
    return kept


def _record(path: Path, text: str, first_line: int, number: int, source: str) -> DocumentRecord:
    """The corpus record of the file's document ``number`` (counted from 0), which begins on ``first_line``."""
    return DocumentRecord(
        doc_id=doc_id_for(text),
        file=f"{path.name}:{first_line}",
        text=text,
        source=source,
        title=f"{path.stem} {number + 1}",
        published=None,
        published_evidence=f"imported from {path.name}, which gives no dates",
        url=None,
        story=f"{source}-{path.stem}-{number + 1:04d}",
    )


def _ties(spans: list[_Span], offsets: list[tuple[int, int]], file: str) -> tuple[list[Tie], frozenset[int]]:
    """Entities of the same extent (``spans`` sorted outermost first), and the indices of the tokens under them."""
    by_extent: dict[tuple[int, int], list[tuple[int, str, int]]] = {}
    for start, end, label, column, line in spans:
        by_extent.setdefault((start, end), []).append((column, label, line))
    tied = {extent: group for extent, group in by_extent.items() if len(group) > 1}
    ties = [Tie(file, group[0][2], tuple(label for _, label, _ in group)) for group in tied.values()]
    tie_tokens = frozenset(i for i, (a, b) in enumerate(offsets) for start, end in tied if start <= a and b <= end)
    return ties, tie_tokens


def _task(task_id: int, annotator: str, results: list[dict], record: DocumentRecord) -> dict:
    """A task as ``khabar studio pull`` writes it, with one annotation carrying the entities."""
    return {
        "annotations": [
            {
                "completed_by": {"pseudonym": annotator},
                "created_at": IMPORTED_AT,
                "ground_truth": False,
                "id": task_id,
                "lead_time": 0.0,
                "result": results,
                "updated_at": IMPORTED_AT,
                "was_cancelled": False,
            }
        ],
        "data": record.task_data(),
        "drafts": [],
        "id": task_id,
        "predictions": [],
    }


def documents_text(records: Iterable[DocumentRecord]) -> str:
    """Corpus records, one JSON per line, as ``khabar ingest`` writes them."""
    return jsonl.dumps(asdict(record) for record in records)


def export_text(tasks: Iterable[dict]) -> Iterator[str]:
    """A Label Studio export in the pull's layout, a task at a time."""
    return jsonl.dumps_document_items(tasks)


def write_documents(path: Path, records: Iterable[DocumentRecord]) -> None:
    """Corpus records, written atomically unless their readers would refuse them."""
    listed = list(records)
    refuse_broken_records(listed, path)
    write_atomic(path, documents_text(listed))


def write_export(path: Path, tasks: Iterable[dict]) -> None:
    write_atomic(path, export_text(tasks))


def write_import(documents: Path, export: Path, tasks: Iterable[dict], records: list[DocumentRecord]) -> None:
    """The export, written as its tasks are made (each adds its document's record to ``records``), and then the
    corpus records, refused where their readers would refuse them: both or neither
    (:func:`khabar.foundation.files.write_new_files`)."""

    def records_text() -> str:
        refuse_broken_records(records, documents)
        return documents_text(records)

    write_new_files([(export, lambda: export_text(tasks)), (documents, records_text)])


@dataclass
class Comparison:
    """Built ``tokens`` rows against the source, token by token, every nesting level."""

    tokens_compared: int = 0
    matched: int = 0
    repaired: int = 0  # equal to the repaired tags
    reordered: int = 0  # equal up to the order of same-extent entities
    mismatches: list[str] = field(default_factory=list)
    sentence_cuts: list[str] = field(default_factory=list)  # source sentences that begin inside a built sentence

    @property
    def exact(self) -> bool:
        return not self.mismatches and not self.sentence_cuts


def compare_tokens(imported: ConllImport, rows: Iterable[dict]) -> Comparison:
    """Compare rows of the ``tokens`` config with what was imported.

    ``rows`` carry ``doc_id``, ``start``, ``tokens``, ``token_starts`` and
    ``nested_ner_tags`` (tag names), in any order. Each source token must come
    back as exactly one built token at the same offset with the same text and
    the same tags at every level, outermost first, and each source sentence
    must begin a built sentence. The only differences accepted are those
    :func:`import_conll` reported: a repaired tag comes back repaired, and
    same-extent entities may come back in another order.
    """
    built: dict[str, dict[int, tuple[str, list[str]]]] = {}
    sentence_starts: dict[str, set[int]] = {}
    for row in rows:
        tokens = built.setdefault(row["doc_id"], {})
        sentence_starts.setdefault(row["doc_id"], set()).add(row["start"])
        for start, token, tags in zip(row["token_starts"], row["tokens"], row["nested_ner_tags"], strict=True):
            tokens[start] = (token, list(tags))
    repaired = {(r.file, r.line, r.depth): r.read_as for r in imported.repairs}
    comparison = Comparison()
    for document in imported.documents:
        doc_id, text = document.record.doc_id, document.record.text
        file = document.record.file.rsplit(":", 1)[0]
        tokens = built.pop(doc_id, {})
        if len(tokens) != len(document.offsets):
            comparison.mismatches.append(f"{doc_id}: {len(document.offsets)} source tokens came back as {len(tokens)} tokens")
        for start in document.sentence_starts:
            if document.offsets[start][0] not in sentence_starts.get(doc_id, set()):
                comparison.sentence_cuts.append(f"{file}:{document.lines[start]}: the sentence begins inside a built sentence")
        for i, ((start, end), source_tags, line) in enumerate(zip(document.offsets, document.tags, document.lines)):
            comparison.tokens_compared += 1
            where = f"{file}:{line}"
            token, got = tokens.get(start, (None, []))
            if token != text[start:end]:
                comparison.mismatches.append(f"{where}: token {text[start:end]!r} came back as {token!r}")
                continue
            want = list(source_tags)
            fixed = [repaired.get((file, line, depth), tag) for depth, tag in enumerate(want)]
            if got == want:
                comparison.matched += 1
            elif got == fixed and fixed != want:
                comparison.repaired += 1
            elif i in document.tie_tokens and sorted(got) == sorted(fixed):
                comparison.reordered += 1
            else:
                comparison.mismatches.append(f"{where}: {token!r} tagged {' '.join(want)} came back {' '.join(got)}")
    comparison.mismatches += [f"{doc_id}: built but not imported" for doc_id in built]
    return comparison

