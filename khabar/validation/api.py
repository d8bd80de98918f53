"""``validate_exports``: exports → checked tables, failures and a reconciliation.

This is what the builder calls; it refuses to build when ``result.errors > 0``.

Severity: each rule has one (:data:`khabar.validation.checks.SEVERITY`). With
``strict=True`` warnings count as errors. Predictions (pre-annotations) are
checked by the error rules only, and their failures are reported as warnings:
a broken pre-annotation is excluded from ``predictions_*`` but does not block
a release unless ``strict``.

A row is excluded from the tables when it fails a rule that counts as an error
(for predictions: an error rule); its annotation is excluded when the
annotation itself fails (unknown document, bad ids, malformed), and then so is
everything in it.

The exports are read and checked a batch of whole tasks at a time
(:func:`check_exports`): each batch's counts are kept, its tables appended to parquet
files on disk (:mod:`khabar.validation.table_spool`) and its failures set aside beside
them (:mod:`khabar.validation.failures`), and the corpus is mapped from a temporary file
(:mod:`khabar.validation.mapped`), a batch's texts resident while it is checked: memory holds one batch
whatever the exports' size and however many failures they hold (at 1M span results 0.33 GB, at 3M
0.35 GB, against 1.96 and 5.27 GB read whole).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import polars as pl

from khabar.annotation.normalize import refuse_unnormalised
from khabar.annotation.scheme import Scheme, load_scheme
from khabar.foundation.errors import EXIT_FAILED_CHECKS, EXIT_OK, KhabarError
from khabar.foundation.pandera_polars import SchemaErrors
from khabar.foundation.tables import AnnotationsTable, CorpusTable, RelationsTable, SpansTable
from khabar.validation import accounting as acc
from khabar.validation.checks import ERROR, RULES, SEVERITY, WARNING, Frame, Frames, KnownDuplicates, Rule, prepare, rule
from khabar.validation.failures import Failure, FailureRuns, Failures, batch_frame
from khabar.validation.mapped import MappedFrame
from khabar.validation.projection import project_tables
from khabar.validation.reader import ANNOTATION, DRAFT, PREDICTION, CorpusTexts, RawExport, Reader, Tables, read_documents
from khabar.validation.schemas import FRAME_COLUMNS, FRAME_MODELS, failing_rows_of, validate
from khabar.validation.table_spool import TableSpool

#: report order of the checks: a failure's place among the failures of the same row
CHECK_ORDER = {r.name: i for i, r in enumerate(RULES)}
#: the checked frames in the order their failures were listed before sorting: ties keep it
FRAME_ORDER = {name: i for i, name in enumerate(FRAME_MODELS)}


@dataclass
class ValidationResult:
    spool: TableSpool  # the tables, on disk until asked for
    failures: Failures
    accounting: acc.Accounting
    files: list[Path]
    sha256s: list[str]  # of each file's bytes, as validated
    strict: bool = False

    @cached_property
    def tables(self) -> Tables:
        """The checked tables, loaded once from the spool."""
        return self.spool.load()

    @property
    def errors(self) -> int:
        return self.failures.of_severity(ERROR)

    @property
    def warnings(self) -> int:
        return self.failures.of_severity(WARNING)

    @property
    def exit_status(self) -> int:
        return EXIT_FAILED_CHECKS if self.errors else EXIT_OK


def validate_exports(paths: list[Path], documents_file: Path | None = None, *, strict: bool = False) -> ValidationResult:
    """Read, check and account for Label Studio exports against the corpus (by default the repository's).

    The knowledge base is checked against their gold by :func:`khabar.kb.check.validate_with_knowledge_base`,
    which calls this first: the base sits above the validation and the gold it describes."""
    if documents_file is None:
        from khabar.foundation.paths import repo

        documents_file = repo().documents_file
    corpus = MappedFrame(read_documents(documents_file), "the corpus records")
    documents = corpus.frame
    try:
        validate(CorpusTable, documents)
    except SchemaErrors as exc:
        first = exc.failure_cases.row(0, named=True)
        raise KhabarError(f"corpus records are broken: {first['check']} on {first['column']} ({first['failure_case']})", file=str(documents_file)) from None
    texts = CorpusTexts(documents, release=corpus.release)
    refuse_unnormalised(texts.pairs(), documents_file)
    scheme = load_scheme()
    return check_exports(paths, documents, scheme, strict=strict, texts=texts)


def _failing_rows(frames: Frames) -> dict[tuple[str, str], list[int]]:
    """(frame, rule name) → rows of that frame that fail it (:func:`khabar.validation.schemas.failing_rows_of`)."""
    try:
        found = failing_rows_of({name: frames.get(name) for name in FRAME_MODELS})
    except SchemaErrors as exc:
        name = next((frame for frame, schema in FRAME_COLUMNS.items() if schema.name == getattr(exc.schema, "name", None)), "a")
        raise RuntimeError(f"{name} frame does not match its schema (a bug): {exc.failure_cases.head(3)}") from None
    return {(name, check): rows for name, by_check in found.items() for check, rows in by_check.items()}


def _effective_severity(name: str, kind: str, strict: bool) -> str | None:
    """The severity a failure is reported with, or None when the rule does not apply."""
    severity = SEVERITY[name]
    if kind == PREDICTION:
        if severity == WARNING:
            return None  # guideline hygiene is for people, not for pre-annotations
        severity = WARNING
    if strict and severity == WARNING:
        return ERROR
    return severity


def _excludes(name: str, kind: str, strict: bool) -> bool:
    return SEVERITY[name] == ERROR or (strict and kind != PREDICTION)


class _FailingRows:
    """The failing rows of one frame; a column becomes Python values when a failure first reads it.

    A spans frame has some 60 columns and a failure reads a dozen: whole rows as dicts
    (``iter_rows(named=True)``) took a third of the failures' time.
    """

    def __init__(self, frame: pl.DataFrame) -> None:
        self.frame = frame
        self._columns: dict[str, list[Any]] = {}

    def column(self, name: str) -> list[Any]:
        values = self._columns.get(name)
        if values is None:
            if name not in self.frame.columns:
                raise KeyError(name)
            values = self._columns[name] = self.frame.get_column(name).to_list()
        return values

    def __iter__(self) -> Iterator[_Row]:
        return (_Row(self, position) for position in range(self.frame.height))


class _Row(Mapping[str, Any]):
    """One failing row of a :class:`_FailingRows`, read a column at a time."""

    __slots__ = ("_position", "_rows")

    def __init__(self, rows: _FailingRows, position: int) -> None:
        self._rows = rows
        self._position = position

    def __getitem__(self, name: str) -> Any:
        return self._rows.column(name)[self._position]

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows.frame.columns)

    def __len__(self) -> int:
        return self._rows.frame.width


#: per frame, the columns a failure's region, label, start, end, found and expected text come from (None: not given)
_PLACE: dict[Frame, tuple[str | None, str | None, str | None, str | None, str | None, str | None]] = {
    Frame.OWNERS: (None, None, None, None, None, None),
    Frame.SPANS: ("region_id", "label", "start", "end", "text", "expected"),
    Frame.RELATIONS: ("from_region", "label", None, None, None, None),
    Frame.CHOICES: ("region_id", "choice", None, None, None, None),
}


def _failures(frame: Frame, check: Rule, rows: _FailingRows, strict: bool) -> Iterator[tuple[Failure, _Row]]:
    """Each failing row's failure, with the row (rows the rule does not apply to give none).

    A column at a time: the fields read row by row through a mapping took a third of the failures' time."""
    height = rows.frame.height
    kinds = rows.column("kind")
    severity = {kind: _effective_severity(check.name, kind, strict) for kind in set(kinds)}
    region, label, start, end, found, expected = (rows.column(name) if name else [None] * height for name in _PLACE[frame])
    file, task_id, doc_id, owner_id, annotator = (rows.column(name) for name in ("file", "task_id", "doc_id", "owner_id", "annotator"))
    for position, row in enumerate(rows):
        kind = kinds[position]
        level = severity[kind]
        if level is None:
            continue
        failure = Failure(
            check=check.name, severity=level, message=check.explain(row), hint=check.hint,
            file=file[position], task_id=task_id[position], doc_id=doc_id[position], kind=kind,
            annotation_id=owner_id[position], annotator=annotator[position], region_id=region[position], label=label[position],
            start=start[position], end=end[position], found=found[position], expected=expected[position],
        )
        yield failure, row


@dataclass
class _Checked:
    """What one batch of tasks gives besides its tables: its failures (:func:`~khabar.validation.failures.batch_frame`) and counts."""

    failures: pl.DataFrame
    counts: tuple[acc.Count, ...]
    tasks: int


def check_exports(
    paths: list[Path], documents: pl.DataFrame, scheme: Scheme, *, strict: bool = False, texts: CorpusTexts | None = None,
) -> ValidationResult:
    """Read and check the exports a batch of whole tasks at a time; see the module docstring.

    Every rule looks inside one task, except the duplicate ids (task ids in a file,
    annotation and prediction ids): a copy in another batch is found from the ids
    of every batch, and then the read is checked again knowing them, so each rule's
    result is what it is on the whole read. ``texts``: the corpus's
    :class:`~khabar.validation.reader.CorpusTexts`, when the caller has them already (mapped, they hand their
    pages back after each batch).
    """
    duplicates = KnownDuplicates.none()
    texts = CorpusTexts(documents) if texts is None else texts
    while True:
        checked, ids = _check_batches(paths, documents, scheme, strict, duplicates, texts)
        found = _duplicates_across_batches(ids)
        if found is None or (found.tasks.equals(duplicates.tasks) and found.owners.equals(duplicates.owners)):
            return checked
        duplicates = found


def _check_batches(
    paths: list[Path], documents: pl.DataFrame, scheme: Scheme, strict: bool, duplicates: KnownDuplicates,
    texts: CorpusTexts,
) -> tuple[ValidationResult, list[tuple[pl.DataFrame, pl.DataFrame]]]:
    reader = Reader(scheme, documents, texts)
    spool = TableSpool(documents, release=texts.release)
    runs = FailureRuns(Path(spool.folder.name), holder=spool.folder)
    counts: list[tuple[acc.Count, ...]] = []
    tasks = 0
    ids: list[tuple[pl.DataFrame, pl.DataFrame]] = []
    for number, raw in enumerate(_nonempty(reader.batches(paths), reader)):
        part, tables = check_raw(raw, scheme, strict=strict, duplicates=duplicates, batch=number)
        texts.release()  # the batch's texts: the next batch reads its own
        spool.append(tables)
        runs.add(part.failures)
        counts.append(part.counts)
        tasks += part.tasks
        ids.append((
            raw.tasks.select("file", "task_id", batch=pl.lit(number, pl.Int64)),
            raw.owners.filter(pl.col("owner_id").is_not_null()).select("kind", "owner_id", batch=pl.lit(number, pl.Int64)),
        ))
    failures = runs.merged()
    accounting = acc.Accounting(files=len(paths), tasks=tasks, counts=acc.merge(counts))
    spool.close()
    result = ValidationResult(
        spool=spool, failures=failures, accounting=accounting,
        files=list(paths), sha256s=list(reader.sha256s), strict=strict,
    )
    return result, ids


def _nonempty(batches: Iterator[RawExport], reader: Reader) -> Iterator[RawExport]:
    """The batches, or one empty batch when there is none (the tables and counts of nothing)."""
    empty = True
    for batch in batches:
        empty = False
        yield batch
    if empty:
        yield reader.take()


def _duplicates_across_batches(ids: list[tuple[pl.DataFrame, pl.DataFrame]]) -> KnownDuplicates | None:
    """The repeated ids when a copy is in another batch (the batch alone could not see it), else None."""
    if len(ids) < 2:
        return None
    tasks = pl.concat([t for t, _ in ids]).group_by("file", "task_id").agg(batches=pl.col("batch").n_unique())
    owners = pl.concat([o for _, o in ids]).group_by("kind", "owner_id").agg(batches=pl.col("batch").n_unique())
    if not (tasks["batches"] > 1).any() and not (owners["batches"] > 1).any():
        return None
    return KnownDuplicates(
        tasks=tasks.filter(pl.col("batches") > 1).select("file", "task_id").sort("file", "task_id"),
        owners=owners.filter(pl.col("batches") > 1).select("kind", "owner_id").sort("kind", "owner_id"),
    )


def check_raw(raw: RawExport, scheme: Scheme, *, strict: bool = False, duplicates: KnownDuplicates | None = None, batch: int = 0) -> tuple[_Checked, Tables]:
    """Check one batch that :meth:`khabar.validation.reader.Reader.batches` read."""
    frames = prepare(raw, scheme, duplicates)
    failing = _failing_rows(frames)

    failures: list[Failure] = []
    origins: list[tuple[int, int, int]] = []
    excluded_rows: dict[str, set[int]] = {name: set() for name in FRAME_MODELS}
    unknown_document: set[int] = set()
    for (frame_name, name), rows in failing.items():
        frame = frames.get(frame_name)
        check, check_order, frame_order = rule(frame_name, name), CHECK_ORDER[name], FRAME_ORDER[Frame(frame_name)]
        # the rows are positions in the checked frame, as pandera's failure cases give them
        for f, row in _failures(Frame(frame_name), check, _FailingRows(frame[rows]), strict):
            number = row["row"]
            failures.append(f)
            origins.append((check_order, frame_order, number))
            if _excludes(name, f.kind, strict):
                excluded_rows[frame_name].add(number)
                if name == "annotation_document_known":
                    unknown_document.add(row["key"])
    counts, tables = _account(raw, frames, excluded_rows, unknown_document)
    return _Checked(failures=batch_frame(failures, origins, batch), counts=counts, tasks=raw.tasks.height), tables


def failing_places(frames: Frames) -> pl.DataFrame:
    """Each rule a row of ``frames`` fails, as validation reports it (not ``--strict``): the row's ``frame``, the
    ``check``, the row's owner (``key``) and place among the owner's results (``result_pos``, null for an owner's own
    row), and its ``row`` in the frame. A place is the row's whatever its ids say: ``--repair`` compares the places
    of a batch with those of the batch repaired (:func:`failure_at` words one)."""
    places = [pl.DataFrame(schema={"frame": pl.String, "check": pl.String, "key": pl.Int64, "result_pos": pl.Int64, "row": pl.Int64})]
    for (frame_name, name), rows in _failing_rows(frames).items():
        failing = frames.get(frame_name)[rows]
        applies = [kind for kind in (ANNOTATION, PREDICTION) if _effective_severity(name, kind, strict=False) is not None]
        places.append(failing.filter(pl.col("kind").is_in(applies)).select(
            frame=pl.lit(frame_name), check=pl.lit(name), key="key",
            result_pos=pl.col("result_pos") if "result_pos" in failing.columns else pl.lit(None, pl.Int64), row="row",
        ))
    return pl.concat(places)


def failure_at(frames: Frames, frame_name: str, check: str, row: int) -> Failure:
    """The failure of rule ``check`` on row ``row`` of the frame ``frame_name`` (one :func:`failing_places` gives)."""
    rows = _FailingRows(frames.get(frame_name).filter(pl.col("row") == row))
    return next(failure for failure, _ in _failures(Frame(frame_name), rule(frame_name, check), rows, strict=False))


@dataclass(frozen=True)
class _Reasoned:
    """The batch's owners, regions, relations and choices, each with the ``reason`` it is excluded (null when used)."""

    owners: pl.DataFrame
    regions: pl.DataFrame
    relations: pl.DataFrame
    choices: pl.DataFrame


def _account(
    raw: RawExport, frames: Frames, excluded_rows: dict[str, set[int]], unknown_document: set[int],
) -> tuple[tuple[acc.Count, ...], Tables]:
    """Give every row of the batch its exclusion reason, count them, and keep the used rows as the tables."""
    owners = _owner_reasons(raw, frames, excluded_rows, unknown_document)
    owner_reason = _inherited_reasons(owners)
    # polars' in-memory engine: its default (streaming) took 18 ms a batch for this join, against 3
    regions = _item_reasons(raw.regions, "spans", frames, excluded_rows, owner_reason).collect(engine="in-memory")
    relation_items = _item_reasons(raw.relations, "relations", frames, excluded_rows, owner_reason)
    choice_items = _item_reasons(raw.choices, "choices", frames, excluded_rows, owner_reason)
    # a relation or a choice is excluded when a region it names is. When no region failed a check of its own, a
    # region's reason is its owner's, so the regions relation_ends and quote_type_on_content found in the owner of a
    # relation or choice still used are used too, and nothing is joined (6 → 1 ms a batch)
    if excluded_rows["spans"]:
        # the used regions among those a relation or a choice names, and only those: the joins below then hash a few
        # thousand (key, region_id) rows, not every region's (15 → 4 ms a batch); one row per (key, region_id) without
        # .unique() (8 ms a batch): unique_ids, an error, excludes every region whose id repeats
        named = pl.concat([
            relation_items.select("key", region_id="from_region"), relation_items.select("key", region_id="to_region"),
            choice_items.select("key", "region_id"),
        ]).unique()
        used_regions = regions.lazy().filter(pl.col("reason").is_null()).select("key", "region_id").join(named, on=["key", "region_id"], how="semi")
        relation_items, choice_items = _relation_reasons(relation_items, used_regions), _choice_reasons(choice_items, used_regions)
    relations, choices = pl.collect_all([relation_items, choice_items], engine="in-memory")
    reasoned = _Reasoned(owners=owners, regions=regions, relations=relations, choices=choices)
    return _counts(reasoned), _used_tables(raw, frames, excluded_rows["spans"], reasoned)


def _owner_reasons(raw: RawExport, frames: Frames, excluded_rows: dict[str, set[int]], unknown_document: set[int]) -> pl.DataFrame:
    """Each owner (annotation or prediction) with why it is excluded: draft, cancelled, unknown document or a failed check."""
    failed = frames.owners.filter(pl.col("row").is_in(list(excluded_rows["owners"]))).get_column("key")
    return raw.owners.with_columns(
        reason=pl.when(pl.col("kind") == DRAFT).then(pl.lit(acc.DRAFT))
        .when(pl.col("was_cancelled") & (pl.col("kind") != PREDICTION)).then(pl.lit(acc.CANCELLED))
        .when(pl.col("key").is_in(list(unknown_document))).then(pl.lit(acc.UNKNOWN_DOCUMENT))
        # a key is one owner's: among the failed owners', not a join with them
        .when(pl.col("key").is_in(failed.implode())).then(pl.lit(acc.FAILED_CHECK))
    )


def _inherited_reasons(owners: pl.DataFrame) -> pl.LazyFrame:
    """The reason an owner's results inherit: a failed owner check reads as the owner's (or prediction's) failure."""
    return owners.lazy().select(
        "key", "kind",
        owner_reason=pl.when(pl.col("reason") == acc.FAILED_CHECK)
        .then(pl.when(pl.col("kind") == PREDICTION).then(pl.lit(acc.PREDICTION_FAILED)).otherwise(pl.lit(acc.OWNER_FAILED)))
        .otherwise(pl.col("reason")),
    )


def _item_reasons(
    frame: pl.DataFrame, frame_name: str, frames: Frames, excluded_rows: dict[str, set[int]], owner_reason: pl.LazyFrame,
) -> pl.LazyFrame:
    """Each result row with its owner's reason, else a failed check of its own."""
    items = frame.lazy().join(owner_reason, on="key", how="left", maintain_order="left")
    rows = list(excluded_rows[frame_name])
    if not rows:  # no row failed a check of its own, as in most batches: the join of nothing took 1.4 ms of the regions' 2.6
        return items.rename({"owner_reason": "reason"})
    failed = frames.get(frame_name).lazy().filter(pl.col("row").is_in(rows)).select("key", "result_pos", failed=pl.lit(True))
    return (
        items.join(failed, on=["key", "result_pos"], how="left", maintain_order="left")
        .with_columns(reason=pl.coalesce("owner_reason", pl.when(pl.col("failed")).then(pl.lit(acc.FAILED_CHECK))))
        .drop("owner_reason", "failed")
    )


def _relation_reasons(relations: pl.LazyFrame, used_regions: pl.LazyFrame) -> pl.LazyFrame:
    """A relation not excluded yet is excluded when either end's region is."""
    for end in ("from", "to"):
        flag = f"{end}_used"
        ends = used_regions.select("key", pl.col("region_id").alias(f"{end}_region"), pl.lit(True).alias(flag))
        relations = relations.join(ends, on=["key", f"{end}_region"], how="left", maintain_order="left")
    return relations.with_columns(
        reason=pl.coalesce(
            "reason", pl.when(pl.col("from_used").is_null() | pl.col("to_used").is_null()).then(pl.lit(acc.END_EXCLUDED))
        )
    ).drop("from_used", "to_used")


def _choice_reasons(choices: pl.LazyFrame, used_regions: pl.LazyFrame) -> pl.LazyFrame:
    """A choice not excluded yet is excluded when its region is."""
    return choices.join(
        used_regions.with_columns(region_used=pl.lit(True)), on=["key", "region_id"], how="left", maintain_order="left"
    ).with_columns(
        reason=pl.coalesce("reason", pl.when(pl.col("region_used").is_null()).then(pl.lit(acc.REGION_EXCLUDED)))
    ).drop("region_used")


def _counts(reasoned: _Reasoned) -> tuple[acc.Count, ...]:
    """The reconciliation's counts, annotations' items first, then predictions'."""
    is_prediction = pl.col("kind") == PREDICTION
    frames = (
        ("annotations", "predictions", reasoned.owners), ("regions", "prediction regions", reasoned.regions),
        ("relations", "prediction relations", reasoned.relations), ("quote_type choices", "prediction quote_types", reasoned.choices),
    )
    return acc.counts([
        *((unit, frame.lazy().filter(~is_prediction)) for unit, _, frame in frames),
        *((unit, frame.lazy().filter(is_prediction)) for _, unit, frame in frames),
    ])


def _used_tables(raw: RawExport, frames: Frames, excluded_spans: set[int], reasoned: _Reasoned) -> Tables:
    """The rows with no exclusion reason, projected to the tables and checked against their declarations."""
    used = pl.col("reason").is_null()
    owners = reasoned.owners.filter(used).drop("reason")
    regions = _as_checked(reasoned.regions.filter(used).drop("reason", "kind"), frames.spans, excluded_spans, owners["key"])
    tables = project_tables(raw, owners, regions, reasoned.relations.filter(used).drop("reason", "kind"))
    for model, table in ((AnnotationsTable, tables.annotations), (SpansTable, tables.spans), (RelationsTable, tables.relations)):
        validate(model, table)
    return tables


def _as_checked(regions: pl.DataFrame, spans: pl.DataFrame, excluded: set[int], used_owners: pl.Series) -> pl.DataFrame:
    """The used regions with their ``text`` from the corpus, as the checks cut it (``expected``), and their
    ``quote_type`` as the checks found it.

    A used region passed quote_type_on_content: a CONTENT has exactly one well-formed quote_type, which is used with
    it (a choice is excluded with its owner, the region's, or for a failure of its own, which a well-formed choice of
    an existing region has not), any other region none; the malformed ones are excluded. So the checks' quote_type
    is the one its used choices give (found again from them, 2.5 ms a batch).
    The checked spans kept are the used regions, in the same order: when their ids say so (else by a join),
    their columns are taken as they are, where cutting the text again from the documents cost 10 ms a batch.
    """
    kept = spans.filter(~pl.col("row").is_in(list(excluded)) & pl.col("key").is_in(used_owners.implode())).select(
        "key", "result_pos", "quote_type", text="expected"
    )
    if kept.select("key", "result_pos").equals(regions.select("key", "result_pos")):
        return regions.with_columns(kept["text"], kept["quote_type"])
    return regions.drop("text").join(kept, on=["key", "result_pos"], how="left", maintain_order="left")
