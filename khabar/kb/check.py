"""Checks of the knowledge base (``annotation/kb/``) against the gold of the committed exports.

Every linkable gold mention (:func:`khabar.kb.mentions.linkable_mentions`) has exactly one
row in ``links.csv``, pointing to an entry of its own type or to ``-``; every gold CONTENT
has exactly one well-formed quote cluster; no row points at a span the gold does not have;
every entry has a well-formed id, a linkable type, a name and at most a well-formed Wikidata id.
They run only when the repository has ``annotation/kb/`` and the validation reads the
committed exports with the repository's corpus: the base describes that gold and no other.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import polars as pl

from khabar.annotation.scheme import load_scheme
from khabar.foundation.csv_files import runs_as_formula
from khabar.foundation.errors import EXIT_FAILED_CHECKS, KhabarError
from khabar.foundation.paths import repo
from khabar.gold.adjudicate import Gold, adjudicated_ranges
from khabar.gold.inputs import Inputs
from khabar.gold.stored_inputs import StoredInputs
from khabar.kb import files
from khabar.kb.files import CLUSTER_ID, ENTITY_ID, NOT_IN_BASE, WIKIDATA_ID, AmbiguousSource, Cluster, Entity, Link
from khabar.kb.mentions import CONTENTS, LINK_KEY, LINKABLE, MENTIONS, SPAN_KEY, Roles, document_slices, export_paths_are_committed, in_frame_order, range_frames
from khabar.validation.api import ValidationResult, validate_exports
from khabar.validation.checks import ERROR, list_line
from khabar.validation.failures import Failure, FailureKind

#: check name → what it requires, for ``khabar validate --list-checks`` (all are errors)
CHECKS: dict[str, str] = {
    "kb_entity": "an entry of entities.csv has a unique lowercase id, a linkable type, a name, at most a Wikidata Q-id, and no name a spreadsheet runs as a formula",
    "link_missing": "every linkable gold mention outside RELATED zones has a row in links.csv",
    "link_duplicate": "a gold mention has at most one row in links.csv",
    "link_stale": "a row of links.csv names a linkable gold mention (offsets and label)",
    "link_unknown_entity": "a link names an entry of entities.csv or '-'",
    "link_type": "a link names an entry of the mention's own type",
    "cluster_missing": "every gold CONTENT has a row in quote_clusters.csv",
    "cluster_duplicate": "a gold CONTENT has at most one row in quote_clusters.csv",
    "cluster_stale": "a row of quote_clusters.csv names a gold CONTENT",
    "cluster_id": "a cluster id is qc- and three or more digits",
    "ambiguous_source": "a row of ambiguous_sources.csv names a gold CONTENT with a source, once, and two or more readings",
}
#: the ``Failure.kind`` of these checks: a row of a file of the base, not an annotation of a task
KIND: FailureKind = "knowledge_base"
AMBIGUOUS_HINT = "edit the row by hand: a gold CONTENT's doc_id,start,end and its readings, the linked one first, '|'-separated"
HINT = "run `khabar link propose` (or `khabar link clusters`), review, and fix annotation/kb/"


def check_lines() -> list[str]:
    """The lines of these checks in ``khabar validate --list-checks``."""
    return [list_line(name, ERROR, f"{summary} (annotation/kb/)") for name, summary in CHECKS.items()]


def _failure(check: str, path: Path, message: str, *, doc_id: str | None = None, label: str | None = None,
             start: int | None = None, end: int | None = None, found: str | None = None, expected: str | None = None,
             hint: str = HINT) -> Failure:
    return Failure(
        check=check, severity=ERROR, message=message, hint=hint, file=str(path), task_id=None, doc_id=doc_id,
        kind=KIND, annotation_id=None, annotator=None, region_id=None, label=label, start=start, end=end,
        found=found, expected=expected,
    )


def check_entities(entities: list[Entity], path: Path) -> list[Failure]:
    failures = []
    repeated = {entity_id for entity_id, n in Counter(e.entity_id for e in entities).items() if n > 1}
    for e in entities:
        problems: list[str] = []
        if not ENTITY_ID.fullmatch(e.entity_id) or e.entity_id in repeated:
            problems.append("its id is not lowercase words joined by '-'" if e.entity_id not in repeated else "its id is used by another entry")
        if e.type not in LINKABLE:
            problems.append(f"its type {e.type!r} is not one of {', '.join(LINKABLE)}")
        if not e.canonical_name.strip():
            problems.append("it has no canonical name")
        if e.wikidata and not WIKIDATA_ID.fullmatch(e.wikidata):
            problems.append(f"its wikidata {e.wikidata!r} is not a Q-id")
        # the build releases entities.csv, a file its readers open in a spreadsheet; its ids are checked above
        problems += [f"its name {name!r} starts as a spreadsheet formula does, and would run as one" for name in e.names if runs_as_formula(name)]
        failures += [_failure("kb_entity", path, f"entry {e.entity_id!r}: {problem}", found=e.entity_id) for problem in problems]
    return failures


def _links(links: pl.DataFrame, entities: list[Entity]) -> _Comparison:
    """links.csv's rows (:func:`~khabar.kb.files.read_frame`), each with its entry's type (``type``), to compare with
    the linkable mentions: a row fails when no mention has its span, or its entry is unknown or of another type."""
    types = {e.entity_id: e.type for e in entities}  # a repeated id (a kb_entity failure) names its last entry's type
    type_of = pl.col("entity_id").replace_strict(list(types), list(types.values()), default=None, return_dtype=pl.String)
    wrong = (pl.col("entity_id") != NOT_IN_BASE) & (pl.col("type").is_null() | (pl.col("type") != pl.col("label")))
    return _Comparison(links, LINK_KEY, MENTIONS, marks={"type": type_of}, keep=~pl.col("gold") | wrong)


def _link_failures(comparison: _Comparison, path: Path) -> list[Failure]:
    """A mention's failure in the mentions' order, then a row's in the file's; only the failing rows made objects."""
    counted, failing = comparison.result()
    failures = [
        _failure(_count_check(n, "link"), path, "this gold mention has no link (an entry id, or '-' for not in the base)" if n == 0
                 else f"this gold mention has {n} link rows", doc_id=doc_id, label=label, start=start, end=end, found=text)
        for doc_id, start, end, label, text, n in counted.select(*MENTIONS.names(), "rows").iter_rows()
    ]
    for doc_id, start, end, label, entity_id, gold, entity_type in failing.select(*LINK_KEY, "entity_id", "gold", "type").iter_rows():
        check, message, expected = (
            ("link_stale", "no linkable gold mention has these offsets and label", None) if not gold
            else ("link_unknown_entity", f"links to {entity_id!r}, which is not in entities.csv", None) if entity_type is None
            else ("link_type", f"a {label} mention links to {entity_id!r}, a {entity_type}", label)
        )
        failures.append(_failure(check, path, message, doc_id=doc_id, label=label, start=start, end=end,
                                 found=entity_type if check == "link_type" else entity_id, expected=expected))
    return failures


def check_links(mentions: pl.DataFrame, links: pl.DataFrame, entities: list[Entity], path: Path) -> list[Failure]:
    """``mentions``: doc_id, start, end, label, text of each linkable gold mention (:data:`~khabar.kb.mentions.MENTIONS`);
    ``links``: the rows of links.csv (:func:`~khabar.kb.files.read_frame`). Checked as joins of the two frames."""
    comparison = _links(links, entities)
    comparison.add(mentions)
    return _link_failures(comparison, path)


def _clusters(clusters: pl.DataFrame, contents: pl.Schema) -> _Comparison:
    """quote_clusters.csv's rows, each with whether its cluster id is well formed (``well_formed``), to compare with
    the gold CONTENTs (of schema ``contents``): a row fails when no CONTENT has its span, or its id is malformed."""
    malformed = [cluster_id for cluster_id in clusters["cluster_id"].unique().to_list() if not CLUSTER_ID.fullmatch(cluster_id)]
    return _Comparison(clusters, SPAN_KEY, contents, marks={"well_formed": ~pl.col("cluster_id").is_in(malformed)}, keep=~pl.col("gold") | ~pl.col("well_formed"))


def _cluster_failures(comparison: _Comparison, path: Path, label: str) -> list[Failure]:
    """A CONTENT's failure in the gold's order, then a row's in the file's, as :func:`_link_failures`."""
    counted, failing = comparison.result()
    failures = [
        _failure(_count_check(n, "cluster"), path, "this gold CONTENT has no quote cluster" if n == 0 else f"this gold CONTENT has {n} quote clusters",
                 doc_id=doc_id, label=label, start=start, end=end, found=text)
        for doc_id, start, end, text, n in counted.select(*SPAN_KEY, "text", "rows").iter_rows()
    ]
    for doc_id, start, end, cluster_id, gold, well_formed in failing.select(*SPAN_KEY, "cluster_id", "gold", "well_formed").iter_rows():
        if not gold:
            failures.append(_failure("cluster_stale", path, "no gold CONTENT has these offsets", doc_id=doc_id, label=label, start=start, end=end, found=cluster_id))
        if not well_formed:
            failures.append(_failure("cluster_id", path, f"cluster id {cluster_id!r} is not qc- and three or more digits", doc_id=doc_id,
                                     label=label, start=start, end=end, found=cluster_id, expected="qc-001"))
    return failures


def check_clusters(gold_contents: pl.DataFrame, clusters: pl.DataFrame, path: Path, label: str) -> list[Failure]:
    """``gold_contents``: doc_id, start, end, text of each gold CONTENT; ``clusters``: the rows of quote_clusters.csv.
    ``label`` is the scheme's content label (its attribution role): it names the spans in the failures (with their
    offsets). Joins, as :func:`check_links`."""
    comparison = _clusters(clusters, gold_contents.schema)
    comparison.add(gold_contents)
    return _cluster_failures(comparison, path, label)


def check_ambiguous_sources(gold_contents: pl.DataFrame, rows: list[AmbiguousSource], path: Path, label: str) -> list[Failure]:
    """Each row flags a gold CONTENT that has a source, once, and lists at least two readings. ``gold_contents``:
    :data:`~khabar.kb.mentions.CONTENTS` (the file is written by hand and small: only its spans are looked up)."""
    found = gold_contents.join(files.frame_of(AmbiguousSource, rows).select(SPAN_KEY).unique(), on=SPAN_KEY, how="semi")
    spans = set(found.select(SPAN_KEY).iter_rows())
    with_source = set(found.filter(pl.col("source_start").list.len() > 0).select(SPAN_KEY).iter_rows())
    seen = Counter((r.doc_id, r.start, r.end) for r in rows)
    failures = []
    for r in rows:
        key = (r.doc_id, r.start, r.end)
        problem = (
            "no gold CONTENT has these offsets" if key not in spans
            else "this CONTENT has no source to be ambiguous" if key not in with_source
            else f"this CONTENT is flagged {seen[key]} times" if seen[key] > 1
            else f"it lists {len(r.reading_list)} reading(s); an ambiguous source has two or more, '|'-separated" if len(r.reading_list) < 2
            else None
        )
        if problem:
            failures.append(_failure("ambiguous_source", path, problem, doc_id=r.doc_id, label=label, start=r.start, end=r.end, found=r.readings,
                                     hint=AMBIGUOUS_HINT))
    return failures


class _Comparison:
    """A file's rows compared with gold spans, given a range of documents at a time (:meth:`add`; a document's
    spans all in one range), then :meth:`result`: the gold spans that have no row or more than one, with their
    number of rows (``rows``), in the gold's order; and the rows ``keep`` selects, in the file's order, each with
    whether the gold has its span (``gold``) and the columns ``marks`` adds (both of which ``keep`` may use; made
    only for the rows compared, not kept for the file's). A row of no document given has no gold span. Each range
    is joined a slice of documents at a time (:func:`document_slices`)."""

    def __init__(self, rows: pl.DataFrame, key: list[str], gold_schema: pl.Schema, *, marks: dict[str, pl.Expr], keep: pl.Expr) -> None:
        self.rows, self.key, self.marks, self.keep = rows.with_row_index("row"), key, marks, keep
        # the rows by document, so that a range's are one slice (found by filtering every row for each range, the
        # base's checks at 3M span results took 1.3 s more CPU)
        self.by_document = rows["doc_id"].arg_sort().to_numpy()
        self.documents = rows["doc_id"].gather(self.by_document)
        self.compared = np.zeros(rows.height, dtype=bool)
        self.missing = [pl.DataFrame(schema=gold_schema).with_columns(rows=pl.lit(0, pl.UInt32))]
        self.marked: list[pl.DataFrame] = []

    def add(self, gold: pl.DataFrame) -> None:
        """The gold spans of a range of documents: compared with the rows of the documents from its first to its
        last (a document between them with no gold span has none in another range either)."""
        if gold.height == 0:
            return
        ids = gold["doc_id"].sort()
        first, last = self.documents.search_sorted(ids[0], side="left"), self.documents.search_sorted(ids[-1], side="right")
        taken = np.sort(self.by_document[first:last])  # in the file's order
        rows = self.rows[taken].with_columns(**self.marks)
        self.compared[taken] = True
        missing, marked = [], []
        for these, their_rows in document_slices(gold, rows):
            counts = their_rows.group_by(self.key).len("rows")
            missing.append(these.join(counts, on=self.key, how="left").with_columns(pl.col("rows").fill_null(0)).filter(pl.col("rows") != 1))
            spans = these.select(self.key).unique().with_columns(gold=pl.lit(True))
            marked.append(their_rows.join(spans, on=self.key, how="left").with_columns(pl.col("gold").fill_null(False)).filter(self.keep))
        self.missing.append(in_frame_order(missing))
        self.marked.append(in_frame_order(marked))

    def result(self) -> tuple[pl.DataFrame, pl.DataFrame]:
        rest = self.rows.filter(pl.Series(~self.compared)).with_columns(**self.marks, gold=pl.lit(False)).filter(self.keep)
        return pl.concat(self.missing), pl.concat([*self.marked, rest]).sort("row").drop("row")


def _count_check(rows: int, name: str) -> str:
    return f"{name}_missing" if rows == 0 else f"{name}_duplicate"


def validate_with_knowledge_base(paths: list[Path], documents_file: Path | None = None, *, strict: bool = False) -> ValidationResult:
    """:func:`~khabar.validation.api.validate_exports`, then the knowledge base against the gold of the
    exports when their tables are clean (only clean tables give a gold): what ``khabar validate`` reports."""
    result = validate_exports(paths, documents_file, strict=strict)
    documents_file = documents_file or repo().documents_file
    if result.errors == 0 and knowledge_base_applies(paths, documents_file):
        inputs = StoredInputs.of_spool(result.spool, export_hashes=(), documents_sha256="")  # read in place, a range at a time
        result.failures += check_knowledge_base(inputs, paths, documents_file)
    return result


def knowledge_base_applies(paths: list[Path], documents_file: Path) -> bool:
    """Whether the repository's knowledge base describes these inputs (else it is not checked against them)."""
    return files.folder_of_base() is not None and export_paths_are_committed(paths, documents_file)


class BaseCheck:
    """The base checked against a gold made a range of documents at a time: :meth:`add` each range's gold (its
    linkable mentions and CONTENTs compared with the base's rows of its documents at once, only what fails kept),
    then :meth:`failures`, those of the checks on the whole gold, in the same order. A build adds the ranges it
    adjudicates anyway: adjudicating every range a first time for the checks alone, its 3M span results with a base
    covering them took 60-74 s of CPU (52-60 s so, alternating runs)."""

    def __init__(self) -> None:
        self.folder, self.roles = repo().kb_dir, Roles.of(load_scheme())
        self.entities, self.ambiguous = files.read(Entity), files.read(AmbiguousSource)
        self.links, self.clusters = _links(files.read_frame(Link), self.entities), _clusters(files.read_frame(Cluster), CONTENTS)
        self.flagged_spans = files.frame_of(AmbiguousSource, self.ambiguous).select(SPAN_KEY).unique()
        self.flagged = [pl.DataFrame(schema=CONTENTS)]  # the gold CONTENTs that ambiguous_sources.csv names

    def rows(self, kind: type[Link | Cluster | AmbiguousSource]) -> pl.DataFrame:
        """The rows of a file of the base as :func:`~khabar.kb.files.read_frame` gave them to the checks."""
        if kind is AmbiguousSource:
            return files.frame_of(AmbiguousSource, self.ambiguous)
        return (self.links if kind is Link else self.clusters).rows.drop("row")

    def add(self, gold: Gold) -> None:
        mentions, contents = range_frames(gold, self.roles)
        self.links.add(mentions)
        self.clusters.add(contents)
        self.flagged.append(contents.join(self.flagged_spans, on=SPAN_KEY, how="semi"))

    def failing(self) -> bool:
        """Whether the ranges added so far have failures already (the base's own files are checked at the end)."""
        return any(frame.height > 0 for comparison in (self.links, self.clusters) for frame in (*comparison.missing, *comparison.marked))

    def failures(self) -> list[Failure]:
        def path(kind: type[files.Row]) -> Path:
            return self.folder / files.FILES[kind]

        return [
            *check_entities(self.entities, path(Entity)),
            *_link_failures(self.links, path(Link)),
            *_cluster_failures(self.clusters, path(Cluster), self.roles.content),
            *check_ambiguous_sources(pl.concat(self.flagged), self.ambiguous, path(AmbiguousSource), self.roles.content),
        ]

    def refuse(self) -> None:
        """A build's refusal of the base when it has errors against the gold added (the first three named)."""
        failures = self.failures()
        if failures:
            first = "; ".join(f"{f.file}: " + (f"document {f.doc_id} [{f.start}:{f.end}] {f.label or ''}: " if f.doc_id is not None else "") + f.message
                              for f in failures[:3])
            raise KhabarError(
                f"the knowledge base has {len(failures)} error(s) against the gold, first: {first}; "
                "run `khabar validate` for all of them and fix annotation/kb/ first",
                exit_status=EXIT_FAILED_CHECKS,
            )


def check_knowledge_base(inputs: Inputs, paths: list[Path], documents_file: Path) -> list[Failure]:
    """The base's failures against the gold of ``inputs``, adjudicated a range of documents at a time; none when the
    base does not describe these inputs."""
    if not knowledge_base_applies(paths, documents_file):
        return []
    check: BaseCheck | None = None
    for _, gold in adjudicated_ranges(inputs):
        # the base read once the ranges are cut: read before, its reading's leftovers sat under the cut (khabar
        # validate at 3M span results with a base covering them: 0.85 GB; 0.68-0.76 GB so, as before BaseCheck)
        check = check or BaseCheck()
        check.add(gold)
    return (check or BaseCheck()).failures()
