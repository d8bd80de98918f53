"""Label Studio JSON exports → polars frames.

Two levels:

- :func:`read_raw` reads every task, annotation, draft, prediction and result
  into frames that keep each row's place in the export (file, task, list,
  position) and a ``problem`` column for what is structurally wrong. It never
  drops a row: a malformed result becomes a row with nulls and a problem, which
  the checks then report. It raises :class:`KhabarError` only for input that is
  not a Khabar export at all (not JSON, not a list of tasks, a task without
  text, a result from another labeling config).
- :mod:`khabar.validation.projection` turns the rows kept onto the tables of
  :mod:`khabar.foundation.tables` (and reads exports into them without checking).

An export is read task by task (:mod:`khabar.validation.export_json`), and
:meth:`Reader.batches` hands the rows over a batch of whole tasks at a time, so
neither the file nor its parsed tasks are ever in memory as a whole; :func:`read_raw`
gathers every batch (for ``--repair`` and ``projection.read_exports``).

Label Studio shapes handled: per-region choices reuse their region's id;
relations have no id of their own (``from_id``/``to_id``; ``direction: left``
is read as the reverse arrow); ``completed_by`` is an int, an object, or the
``{"pseudonym": ...}`` that ``khabar studio pull`` writes; drafts and predictions
are read as their own kinds, never as annotations; a task without
``data.doc_id`` is matched to a corpus document by its exact text.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from itertools import repeat
from pathlib import Path
from typing import Any, Final, Literal

import polars as pl

from khabar.annotation.ingest import framed_blocks
from khabar.annotation.pseudonyms import PSEUDONYM_PATTERN
from khabar.annotation.scheme import Scheme, load_scheme
from khabar.foundation.errors import KhabarError
from khabar.foundation.memory import cycle_collector_paused
from khabar.foundation.paths import check_regular
from khabar.foundation.tables import CORPUS, SPANS, pick
from khabar.validation import typed_tasks
from khabar.validation.export_json import ExportFile
from khabar.validation.export_json import region_id as _region_id

#: what owns a list of results in a task
OwnerKind = Literal["annotation", "draft", "prediction"]
ANNOTATION: Final[OwnerKind] = "annotation"
DRAFT: Final[OwnerKind] = "draft"
PREDICTION: Final[OwnerKind] = "prediction"
#: the range of the Int64 columns ids and offsets are read into; JSON allows any integer
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
#: A batch of tasks is read, checked and accounted for at once: about 32 MB of export
#: (500–1,000 tasks of a newsroom's export, 150 of a team's), at most 65,536 results and
#: 2,000 tasks. Memory holds one batch's frames, which grow with its results; bytes alone
#: would let a one-line export (Label Studio's UI layout: half the bytes of the same task
#: indented) put twice the results in a batch (validate's peak at 1M span results 0.50 →
#: 0.62 GB, at 3M 0.84 → 0.95 GB), and a file read whole has no sizes. Each batch costs a
#: few fixed joins and pandera runs, ~0.1 s, so much smaller batches cost time.
BATCH_BYTES = 1 << 25
BATCH_RESULTS = 1 << 16
BATCH_TASKS = 2000
#: Where each kind of owner lives in a task.
OWNER_LISTS: dict[OwnerKind, str] = {ANNOTATION: "annotations", DRAFT: "drafts", PREDICTION: "predictions"}

TASKS = pl.Schema(
    {
        "file": pl.String,
        "task_pos": pl.Int64,
        "task_id": pl.Int64,
        "doc_id": pl.String,
        "doc_known": pl.Boolean,
        "doc_problem": pl.String,
        # where the task's JSON is in its file: its first byte and the byte after its last (both 0 when read whole)
        "byte_start": pl.Int64,
        "byte_end": pl.Int64,
    }
)

#: One row per annotation, draft or prediction ("owner" of results).
OWNERS = pl.Schema(
    {
        "key": pl.Int64,
        "kind": pl.String,
        "file": pl.String,
        "task_pos": pl.Int64,
        "owner_pos": pl.Int64,
        "task_id": pl.Int64,
        "owner_id": pl.Int64,
        "annotator": pl.String,  # pseudonym; model_version for predictions
        "created_at": pl.String,
        "updated_at": pl.String,
        "lead_time": pl.Float64,
        "was_cancelled": pl.Boolean,
        "ground_truth": pl.Boolean,
        "problem": pl.String,
    }
)

#: One row per span result as read: the columns of SPANS it carries, where it sits, what was wrong.
REGIONS = pl.Schema(
    {"key": pl.Int64(), "result_pos": pl.Int64()}
    | pick(SPANS, "region_id", "layer", "label", "start", "end", "text")
    | {
        "raw": pl.String(),  # JSON of what was found where a field is missing or mistyped
        "problem": pl.String(),
    }
)

CHOICES = pl.Schema(
    {
        "key": pl.Int64,
        "result_pos": pl.Int64,
        "region_id": pl.String,
        "control": pl.String,
        "choice": pl.String,
        "raw": pl.String,
        "problem": pl.String,
    }
)

RAW_RELATIONS = pl.Schema(
    {
        "key": pl.Int64,
        "result_pos": pl.Int64,
        "from_region": pl.String,
        "to_region": pl.String,
        "label": pl.String,
        "direction": pl.String,
        "raw": pl.String,
        "problem": pl.String,
    }
)


@dataclass
class Tables:
    """The tables of :mod:`khabar.foundation.tables`, plus the predictions kept apart.

    ``documents`` holds every corpus record with one column more than
    ``khabar.foundation.tables.DOCUMENTS``: ``superseded_by`` (null for current texts).
    """

    documents: pl.DataFrame
    annotations: pl.DataFrame
    spans: pl.DataFrame
    relations: pl.DataFrame
    predictions_spans: pl.DataFrame
    predictions_relations: pl.DataFrame


@dataclass
class RawExport:
    """Everything read from some exports, nothing dropped, nothing checked."""

    files: list[Path]
    sha256s: list[str]  # of each file's bytes, as read (none in a batch: a file's is known at its end, on the Reader)
    documents: pl.DataFrame
    tasks: pl.DataFrame
    owners: pl.DataFrame
    regions: pl.DataFrame
    choices: pl.DataFrame
    relations: pl.DataFrame


def read_documents(documents_file: Path) -> pl.DataFrame:
    """The corpus records as the ``documents`` table, plus ``superseded_by``.

    Superseded records stay (annotations made on the old text keep valid
    offsets); ``superseded_by`` names the newer document, null for current ones.
    The records become a frame a block at a time, so the file's bytes and its
    records as Python objects are never whole in memory. The blocks' frames are
    then made one: the checks take each span's text from the corpus by its row,
    which a frame of many chunks makes whole again every time (1M span results:
    validate's peak 401 → 505 MB and 0.6 s more CPU, against one chunk).
    """
    if documents_file.exists() or documents_file.is_symlink():
        check_regular(documents_file)  # a FIFO would block the read; a loop of links or a dangling one is no missing file
    if not documents_file.is_file():
        raise KhabarError("corpus records not found (run khabar ingest)", file=str(documents_file))
    frames = [frame.select(CORPUS.names()) for _, frame in framed_blocks(documents_file)]  # the rules of records checked
    return pl.concat(frames, rechunk=True) if frames else pl.DataFrame(schema=CORPUS)


class CorpusTexts(Mapping[str, str]):
    """Each corpus record's text by its doc_id, read from the ``documents`` frame when asked for: the texts are
    not made Python strings all at once (3M span results: 102 MB of corpus, and as many again as strings).

    ``release``: hands back the pages of the texts read so far, when the frame is mapped from a file
    (:meth:`khabar.validation.mapped.MappedFrame.release`): called by :meth:`pairs` after each slice, and by a
    validation after each batch."""

    def __init__(self, documents: pl.DataFrame, release: Callable[[], None] = lambda: None) -> None:
        self.doc_ids: list[str] = documents["doc_id"].to_list()
        self.texts = documents["text"]
        self.row = {doc_id: row for row, doc_id in enumerate(self.doc_ids)}
        self.release = release

    def __getitem__(self, doc_id: str) -> str:
        return self.texts[self.row[doc_id]]

    def __iter__(self) -> Iterator[str]:
        return iter(self.doc_ids)

    def __len__(self) -> int:
        return len(self.doc_ids)

    def pairs(self) -> Iterator[tuple[str, str]]:
        """(doc_id, text) of every record, in the frame's order: the texts a slice of rows at a time."""
        for start in range(0, len(self.doc_ids), PAIRS_SLICE):
            yield from zip(self.doc_ids[start : start + PAIRS_SLICE], self.texts.slice(start, PAIRS_SLICE).to_list())
            self.release()


#: The corpus records whose texts :meth:`CorpusTexts.pairs` makes Python strings at a time.
PAIRS_SLICE = 1_000


def _text_digest(text: str) -> bytes:
    """A text's sha256, by which a task without a doc_id finds its document (:attr:`Reader.doc_by_text`)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)[:200]


def _int(value: Any) -> int | None:
    """An integer that fits the Int64 columns; None for anything else (reported by the caller)."""
    return value if type(value) is int and INT64_MIN <= value <= INT64_MAX else None


def _not_int(value: Any) -> str:
    if type(value) is int:
        return f"{_json(value)[:30]}, out of the 64-bit integer range"
    return f"{_json(value)}, not an integer"


class _Pseudonyms:
    """Annotator names that reveal neither email nor user id.

    The ``{"pseudonym": "annotator-N"}`` of ``studio pull`` is kept; a
    ``pseudonym`` of any other form (a real name, an address, an email) is a
    problem of its annotation and is never kept, nor shown. Any other identity
    (an int id, an object with id/email, a draft's user) becomes ``ls-user-N``
    in order of first appearance in this read.
    """

    def __init__(self) -> None:
        self._seen: dict[str, str] = {}

    def __call__(self, completed_by: Any) -> tuple[str | None, str | None]:
        """The name to keep, and the problem when the given pseudonym is refused."""
        if isinstance(completed_by, dict) and "pseudonym" in completed_by:
            pseudonym = completed_by["pseudonym"]
            if isinstance(pseudonym, str) and PSEUDONYM_PATTERN.fullmatch(pseudonym):
                return pseudonym, None
            return None, "completed_by.pseudonym is not of the form annotator-N (not shown: it may identify a person)"
        if isinstance(completed_by, dict):
            identity = completed_by.get("email") or completed_by.get("id")
        else:
            identity = completed_by
        if identity is None or isinstance(identity, (dict, list, bool)):
            return None, None
        token = f"{type(identity).__name__}:{identity}"
        if token not in self._seen:
            self._seen[token] = f"ls-user-{len(self._seen) + 1}"
        return self._seen[token], None


@dataclass
class _Columns:
    """Column-wise accumulator for one frame."""

    schema: pl.Schema
    data: dict[str, list[Any]] = field(init=False)

    def __post_init__(self) -> None:
        self.data = {name: [] for name in self.schema.names()}

    def add(self, **row: Any) -> None:
        for name, values in self.data.items():
            values.append(row.get(name))

    def take(self) -> pl.DataFrame:
        """The rows added since the last take, as a frame; the lists are emptied in place (bound appends stay valid).

        A Series a column, its type given: ``pl.DataFrame(lists, schema=...)`` goes through
        polars' fallbacks for Python lists (1.36M spans: 0.80 → 0.24 s CPU).
        """
        frame = pl.DataFrame([pl.Series(name, values, dtype=self.schema[name]) for name, values in self.data.items()])
        for values in self.data.values():
            values.clear()
        return frame


@dataclass
class _ForeignLabels:
    """The span labels of one file until a Khabar label is met (then none need keeping)."""

    known: bool = False
    found: dict[str, None] = field(default_factory=dict)

    def scan(self, layers: list[Any], labels: list[Any], known_labels: set[str]) -> None:
        """The scan stops at the first known label, so a Khabar export costs one lookup."""
        if self.known:
            return
        for layer, label in zip(layers, labels):
            if label is None:
                continue
            if label in known_labels:
                self.known, self.found = True, {}
                return
            if len(self.found) <= 6:  # six are shown, and "…" when there are more
                self.found.setdefault(f"{layer}/{label}", None)


class Reader:
    """Reads exports a batch of whole tasks at a time (:meth:`batches`).

    The state that spans tasks carries over from batch to batch: keys and task
    positions run on, pseudonyms ``ls-user-N`` keep their order of first appearance,
    and each file's foreign-label scan sees all its regions. Duplicate ids across
    batches are the checks' to find (:mod:`khabar.validation.api`).
    """

    def __init__(self, scheme: Scheme, documents: pl.DataFrame, texts: CorpusTexts | None = None) -> None:
        """``texts``: the :class:`CorpusTexts` of ``documents``, when the caller has them already."""
        self.scheme = scheme
        controls = tuple(c.name for c in scheme.region_choices)
        labels = tuple(label for layer in scheme.layers for label in layer.labels)
        self.layers, self.choice_controls, self.known_labels = set(scheme.layer_names), set(controls), set(labels)
        self.shapes = typed_tasks.shapes(scheme.text_name, scheme.layer_names, controls, labels)
        self.relation_labels = set(scheme.relation_labels)
        self.doc_text = CorpusTexts(documents) if texts is None else texts
        self.pseudonym = _Pseudonyms()
        self.tasks = _Columns(TASKS)
        self.owners = _Columns(OWNERS)
        self.regions = _Columns(REGIONS)
        self.region_appends = tuple(self.regions.data[name].append for name in REGIONS.names())
        self.regions_extends = tuple(self.regions.data[name].extend for name in REGIONS.names())
        self.choices = _Columns(CHOICES)
        self.relations = _Columns(RAW_RELATIONS)
        self.documents = documents
        self.foreign = _ForeignLabels()
        self.next_key = 0
        self.files: list[Path] = []
        self.sha256s: list[str] = []

    def batches(self, paths: list[Path]) -> Iterator[RawExport]:
        """The rows of every file, a batch of whole tasks at a time."""
        for path in paths:
            export = ExportFile(path, streamed=True, owner_lists=OWNER_LISTS.values(), typed=self.shapes.decoder)
            try:
                with cycle_collector_paused():
                    yield from self._file_batches(export)
            finally:
                export.close()

    def _file_batches(self, export: ExportFile) -> Iterator[RawExport]:
        file = str(export.path)
        self.files.append(export.path)
        self.foreign = _ForeignLabels()
        tasks = export.tasks()
        size = count = 0
        results = (self.regions.data["key"], self.choices.data["key"], self.relations.data["key"])  # emptied by take, in place
        for task_pos, task in enumerate(tasks):
            try:
                self.read_task(file, task_pos, task.value, bytes_at=(task.offset, task.offset + task.size))
            except KhabarError:
                for _ in tasks:  # a later piece the streamed read refuses comes first, as in a whole read
                    pass
                raise
            size, count = size + task.size, count + 1
            if size >= BATCH_BYTES or count >= BATCH_TASKS or sum(map(len, results)) >= BATCH_RESULTS:
                yield self.take(export.path)
                size = count = 0
        assert export.sha256 is not None  # every task read
        self.sha256s.append(export.sha256)
        if count:
            yield self.take(export.path)
        self.refuse_foreign_labels(file)

    def take(self, path: Path | None = None) -> RawExport:
        """The rows read since the last take (of the file at ``path``; of no file: empty frames)."""
        self.foreign.scan(self.regions.data["layer"], self.regions.data["label"], self.known_labels)
        return RawExport(
            files=[] if path is None else [path],
            sha256s=[],  # a file's is known once it is read to its end: see sha256s
            documents=self.documents,
            tasks=self.tasks.take(),
            owners=self.owners.take(),
            regions=self.regions.take(),
            choices=self.choices.take(),
            relations=self.relations.take(),
        )

    def refuse_foreign_labels(self, file: str) -> None:
        """Refuse a file none of whose span labels is a Khabar label: another project's export, not N broken rows.

        A Khabar label in the wrong layer (CONTENT on entity) is a mistake in a Khabar
        export, reported per row by label_in_layer.
        """
        found = self.foreign.found
        if found:
            shown = ", ".join(list(found)[:6]) + (", …" if len(found) > 6 else "")
            raise KhabarError(
                f"another project's labeling config: none of this file's span labels ({shown}) is a label of "
                f"Khabar's labeling config (layers {', '.join(self.scheme.layer_names)})",
                file=file,
            )

    def read_task(self, file: str, task_pos: int, task: Any, bytes_at: tuple[int, int]) -> None:
        """Add the task and its owners' rows; ``bytes_at``: where its JSON is in the file (first byte, byte after)."""
        if type(task) is self.shapes.task:
            task = task.as_dict()
        if not isinstance(task, dict):
            raise KhabarError(f"not a Label Studio task: a JSON {type(task).__name__}, expected an object", file=file, task=f"#{task_pos}")
        task_id = _int(task.get("id"))
        if task_id is None:
            if "id" not in task:
                raise KhabarError("task has no id: a file of tasks to import, not an export of a project", file=file, task=f"#{task_pos}")
            raise KhabarError(f"task id is {_not_int(task.get('id'))}", file=file, task=f"#{task_pos}")
        data = task.get("data")
        if not isinstance(data, dict) or not isinstance(data.get("text"), str):
            raise KhabarError(
                "task has no data.text: not a text task of Khabar's labeling config (an image, HTML or other project?)",
                file=file, task=task_id,
            )
        doc_id, doc_known, doc_problem = self.resolve_document(data)
        self.tasks.add(
            file=file, task_pos=task_pos, task_id=task_id, doc_id=doc_id, doc_known=doc_known, doc_problem=doc_problem,
            byte_start=bytes_at[0], byte_end=bytes_at[1],
        )
        for kind, list_name in OWNER_LISTS.items():
            owners = task.get(list_name)
            if owners is None:
                continue
            if not isinstance(owners, list):
                raise KhabarError(f"task {list_name!r} is a JSON {type(owners).__name__}, expected a list", file=file, task=task_id)
            for owner_pos, owner in enumerate(owners):
                self.read_owner(file, task_pos, task_id, kind, owner_pos, owner)

    @cached_property
    def doc_by_text(self) -> dict[bytes, str]:
        """The corpus's doc_id of each text by the text's sha256, for a task without one (made only then: it hashes
        every text). Digests, not the texts: keyed by text it held every corpus text again as a Python string
        (3M span results: 102 MB of records), where the corpus itself is mapped from a file."""
        return {_text_digest(text): doc_id for doc_id, text in self.doc_text.pairs()}

    def resolve_document(self, data: dict[str, Any]) -> tuple[str | None, bool, str | None]:
        text = data["text"]
        doc_id = data.get("doc_id")
        if doc_id is None:
            matched = self.doc_by_text.get(_text_digest(text))
            if matched is None:
                return None, False, "the task has no data.doc_id and its text matches no corpus document"
            return matched, True, None
        if not isinstance(doc_id, str):
            return None, False, f"data.doc_id is {_json(doc_id)}, not a string"
        corpus_text = self.doc_text.get(doc_id)
        if corpus_text is None:
            return doc_id, False, f"doc_id {doc_id} is not in the corpus (documents.jsonl)"
        if corpus_text != text:
            return doc_id, False, f"the task's text differs from the corpus text of {doc_id}, so its offsets cannot be trusted"
        return doc_id, True, None

    def read_owner(self, file: str, task_pos: int, task_id: int, kind: OwnerKind, owner_pos: int, owner: Any) -> None:
        key = self.next_key
        self.next_key += 1
        row: dict[str, Any] = {"key": key, "kind": kind, "file": file, "task_pos": task_pos, "owner_pos": owner_pos, "task_id": task_id}
        problems: list[str] = []
        typed = type(owner) is self.shapes.owner
        if typed:
            owner = owner.as_dict()
        if not isinstance(owner, dict):
            what = "only an id (export with full predictions)" if kind == PREDICTION and type(owner) is int else f"a JSON {type(owner).__name__}"
            self.owners.add(**row, owner_id=_int(owner), problem=f"{kind} is {what}, not an object", was_cancelled=False, ground_truth=False)
            return
        row["owner_id"] = _int(owner.get("id"))
        if row["owner_id"] is None and type(owner.get("id")) is int:
            problems.append(f"{kind} id is {_not_int(owner['id'])}")
        if kind == PREDICTION:
            version = owner.get("model_version")
            row["annotator"] = version if isinstance(version, str) else None
        else:
            row["annotator"], refused = self.pseudonym(owner.get("completed_by", owner.get("user")))
            if refused is not None:
                problems.append(refused)
        for stamp in ("created_at", "updated_at"):
            value = owner.get(stamp)
            row[stamp] = value if isinstance(value, str) else None
        lead_time = owner.get("lead_time")
        row["lead_time"] = None
        # an integer is held to the 64-bit range, as ids and offsets are (float() of one past 1.8e308 would overflow)
        if type(lead_time) is float or (type(lead_time) is int and INT64_MIN <= lead_time <= INT64_MAX):
            row["lead_time"] = float(lead_time)
        elif type(lead_time) is int:
            problems.append(f"lead_time is {_not_int(lead_time)}")
        for flag in ("was_cancelled", "ground_truth"):
            value = owner.get(flag, False)
            if value is None:
                value = False
            if not isinstance(value, bool):
                problems.append(f"{flag} is {_json(value)}, not true or false")
                value = False
            row[flag] = value
        result = owner.get("result")
        if not isinstance(result, list):
            problems.append(f"result is {_json(result)}, not a list")
            result = []
        self.owners.add(**row, problem="; ".join(problems) or None)
        if typed:
            self._add_typed_results(key, result)
        else:
            for result_pos, item in enumerate(result):
                self.read_result(file, task_id, key, result_pos, item)

    def _add_typed_results(self, key: int, result: list[Any]) -> None:
        """Add a typed owner's results to the columns of their frames at once.

        Each goes where the one-by-one read puts it, in the same order: its fields are
        well-formed, a span is of this scheme's text and layers, a choice a region choice
        on that text (:func:`typed_tasks.shapes`).
        """
        span, choice, relation = self.shapes.span, self.shapes.choice, self.shapes.relation
        spans = [item for item in result if type(item) is span]
        if spans:
            self._add_typed_spans(key, spans, range(len(spans)) if len(spans) == len(result) else None, result)
        if len(spans) == len(result):
            return
        choices = [(pos, item) for pos, item in enumerate(result) if type(item) is choice]
        if choices:
            self._add_typed_choices(key, choices)
        relations = [(pos, item) for pos, item in enumerate(result) if type(item) is relation]
        if relations:
            self._add_typed_relations(key, relations)

    def _add_typed_spans(self, key: int, spans: list[typed_tasks.SpanResult], positions: range | None, result: list[Any]) -> None:
        values = [span.value for span in spans]
        count = len(spans)
        keys, positions_, region_ids, layers, labels, starts, ends, texts, raws, problems = self.regions_extends
        keys(repeat(key, count))
        span_type = self.shapes.span
        positions_(positions if positions is not None else [pos for pos, item in enumerate(result) if type(item) is span_type])
        region_ids([span.id for span in spans])
        layers([span.from_name for span in spans])
        labels([value.labels[0] for value in values])
        starts([value.start for value in values])
        ends([value.end for value in values])
        texts([value.text for value in values])
        raws(repeat(None, count))
        problems(repeat(None, count))

    def _add_typed_choices(self, key: int, choices: list[tuple[int, typed_tasks.ChoiceResult]]) -> None:
        data, count = self.choices.data, len(choices)
        data["key"].extend(repeat(key, count))
        data["result_pos"].extend([pos for pos, _ in choices])
        data["region_id"].extend([choice.id for _, choice in choices])
        data["control"].extend([choice.from_name for _, choice in choices])
        data["choice"].extend([choice.value.choices[0] for _, choice in choices])
        data["raw"].extend(repeat(None, count))
        data["problem"].extend(repeat(None, count))

    def _add_typed_relations(self, key: int, relations: list[tuple[int, typed_tasks.RelationResult]]) -> None:
        data, count = self.relations.data, len(relations)
        left = [relation.direction == "left" for _, relation in relations]
        data["key"].extend(repeat(key, count))
        data["result_pos"].extend([pos for pos, _ in relations])
        # a left arrow is read as the reverse right one
        data["from_region"].extend([r.to_id if flip else r.from_id for (_, r), flip in zip(relations, left)])
        data["to_region"].extend([r.from_id if flip else r.to_id for (_, r), flip in zip(relations, left)])
        data["label"].extend([relation.labels[0] for _, relation in relations])
        data["direction"].extend(["left" if flip else "right" for flip in left])
        data["raw"].extend(repeat(None, count))
        data["problem"].extend(repeat(None, count))

    def read_result(self, file: str, task_id: int, key: int, result_pos: int, item: Any) -> None:
        """Add one result to its frame: a well-formed span by a fast path, else a relation, a region choice or a region."""
        if self._read_plain_span(key, result_pos, item):
            return
        base = {"key": key, "result_pos": result_pos}
        if not isinstance(item, dict):
            self.regions.add(**base, problem=f"result is a JSON {type(item).__name__}, not an object", raw=_json(item))
            return
        region_id = _region_id(item.get("id"))
        kind = item.get("type")
        if kind == "relation":
            self.read_relation(base, item)
            return
        from_name, to_name = item.get("from_name"), item.get("to_name")
        self._refuse_another_config(file, task_id, region_id, kind, from_name, to_name)
        value = item.get("value")
        problems = []
        if not isinstance(from_name, str):
            problems.append(f"from_name is {_json(from_name)}")
            from_name = None
        if not isinstance(to_name, str):
            problems.append(f"to_name is {_json(to_name)}")
        if not isinstance(value, dict):
            problems.append(f"value is {_json(value)}, not an object")
            value = {}
        if from_name in self.choice_controls:
            self._add_choice(base, region_id, from_name, kind, value, problems)
        else:
            self._add_region(base, item, region_id, from_name, kind, value, problems)

    def _refuse_another_config(self, file: str, task_id: int, region_id: str | None, kind: Any, from_name: Any, to_name: Any) -> None:
        """Stop (exit 2) at a result whose control or object the repository's labeling config does not have."""
        if isinstance(from_name, str) and from_name not in self.layers and from_name not in self.choice_controls:
            raise KhabarError(
                f"another project's labeling config: a result from control {from_name!r} (type {kind!r}), which "
                f"Khabar's labeling config does not have ({', '.join(self.scheme.control_names)})",
                file=file, task=task_id, region=region_id,
            )
        if isinstance(to_name, str) and to_name != self.scheme.text_name:
            raise KhabarError(
                f"another project's labeling config: a result points at object {to_name!r}; Khabar's labeling config "
                f"has only {self.scheme.text_name!r}",
                file=file, task=task_id, region=region_id,
            )

    def _add_choice(
        self, base: dict[str, Any], region_id: str | None, control: str, kind: Any, value: dict[str, Any], problems: list[str],
    ) -> None:
        """Add a region choice (the quote_type) with its problems; a choice not of exactly one string keeps its raw JSON."""
        if kind != "choices":
            problems.append(f"type is {_json(kind)}, expected 'choices' for control {control!r}")
        choices = value.get("choices")
        choice = choices[0] if isinstance(choices, list) and len(choices) == 1 and isinstance(choices[0], str) else None
        ok = choice is not None
        self.choices.add(
            **base, region_id=region_id, control=control, choice=choice,
            raw=None if ok else _json(choices), problem="; ".join(problems) or None,
        )

    def _add_region(
        self, base: dict[str, Any], item: dict[str, Any], region_id: str | None, layer: str | None, kind: Any,
        value: dict[str, Any], problems: list[str],
    ) -> None:
        """Add a labelled region with its problems; one with a missing or mistyped field keeps its raw JSON."""
        if layer is not None and kind != "labels":
            problems.append(f"type is {_json(kind)}, expected 'labels' for layer {layer!r}")
        labels = value.get("labels")
        start, end, text = value.get("start"), value.get("end"), value.get("text")
        label = labels[0] if isinstance(labels, list) and len(labels) == 1 and isinstance(labels[0], str) else None
        fields_ok = label is not None and _int(start) is not None and _int(end) is not None and isinstance(text, str)
        raw = None if fields_ok else _json({"id": item.get("id"), "labels": labels, "start": start, "end": end, "text": text})
        self.regions.add(
            **base, region_id=region_id, layer=layer,
            label=label, start=_int(start), end=_int(end),
            text=text if isinstance(text, str) else None, raw=raw, problem="; ".join(problems) or None,
        )

    def _read_plain_span(self, key: int, result_pos: int, item: Any) -> bool:
        """Fast path for the common, well-formed span result (most of a large export)."""
        if type(item) is not dict or item.get("type") != "labels":
            return False
        value = item.get("value")
        if type(value) is not dict:
            return False
        return self._add_plain_span(
            key, result_pos, item.get("to_name"), item.get("from_name"), item.get("id"),
            value.get("start"), value.get("end"), value.get("text"), value.get("labels"),
        )

    def _add_plain_span(self, key: int, result_pos: int, to_name: Any, layer: Any, region_id: Any, start: Any, end: Any, text: Any, labels: Any) -> bool:
        """Add the span when every field is what Label Studio writes (else the caller reads it the long way)."""
        if to_name != self.scheme.text_name or type(layer) is not str or layer not in self.layers or type(region_id) is not str or not region_id:
            return False
        if type(start) is not int or type(end) is not int or type(text) is not str or type(labels) is not list or len(labels) != 1:
            return False
        if not (0 <= start <= INT64_MAX and 0 <= end <= INT64_MAX):
            return False
        label = labels[0]
        if type(label) is not str:
            return False
        keys, positions, region_ids, layers, labels_, starts, ends, texts, raws, problems = self.region_appends
        keys(key)
        positions(result_pos)
        region_ids(region_id)
        layers(layer)
        labels_(label)
        starts(start)
        ends(end)
        texts(text)
        raws(None)
        problems(None)
        return True

    def read_relation(self, base: dict[str, Any], item: dict[str, Any]) -> None:
        labels = item.get("labels")
        direction = item.get("direction", "right")
        from_region, to_region = _region_id(item.get("from_id")), _region_id(item.get("to_id"))
        if direction == "left":
            from_region, to_region = to_region, from_region
        problems = []
        if direction not in ("left", "right"):
            problems.append(f"direction is {_json(direction)}; a relation needs 'right' (or 'left')")
        label = labels[0] if isinstance(labels, list) and len(labels) == 1 and isinstance(labels[0], str) else None
        ends_ok = from_region is not None and to_region is not None
        raw = None if label is not None and ends_ok else _json({"from_id": item.get("from_id"), "to_id": item.get("to_id"), "labels": labels})
        self.relations.add(
            **base, from_region=from_region, to_region=to_region, label=label,
            direction=direction if isinstance(direction, str) else None, raw=raw, problem="; ".join(problems) or None,
        )


def read_raw(paths: list[Path], documents: pl.DataFrame | Path, scheme: Scheme | None = None) -> RawExport:
    """Read exports into frames that keep every row (see module docstring), all batches at once."""
    if isinstance(documents, Path):
        documents = read_documents(documents)
    scheme = scheme or load_scheme()
    reader = Reader(scheme, documents)
    batches = list(reader.batches(paths))
    last = reader.take()  # empty: the columns' types when there is no batch
    return RawExport(
        files=list(paths),
        sha256s=reader.sha256s,
        documents=documents,
        tasks=pl.concat([b.tasks for b in batches] + [last.tasks]),
        owners=pl.concat([b.owners for b in batches] + [last.owners]),
        regions=pl.concat([b.regions for b in batches] + [last.regions]),
        choices=pl.concat([b.choices for b in batches] + [last.choices]),
        relations=pl.concat([b.relations for b in batches] + [last.relations]),
    )
