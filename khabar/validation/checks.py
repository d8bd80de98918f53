"""Every rule, named, with its severity, and the frames it is checked on.

:func:`prepare` turns a :class:`~khabar.validation.reader.RawExport` into four frames
(owners, spans, relations, choices), each row carrying the helper columns its
rules need, computed column-wise with polars (self-joins for overlaps, group
counts for ids). A rule is then a boolean expression over its frame (true =
passes); ``validation/schemas.py`` turns the rules into pandera checks, and finds
the rows that fail them (``failing_rows``: the same expressions in one polars select,
held to pandera's failure cases by a test), which ``validation/api.py`` turns into
failures. A rule lets pass what another rule already reports (a span with offsets
out of range is not also reported for its text; a malformed result only by
``well_formed``).

Only annotations that are not cancelled, and predictions, are checked; drafts
and cancelled annotations are counted as excluded, not checked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import polars as pl

from khabar.annotation.scheme import Scheme
from khabar.foundation.errors import character, quoted
from khabar.validation.clusters import CLUSTER_EXTEND
from khabar.validation.reader import ANNOTATION, PREDICTION, RawExport

PROCLITICS = "وفبلك"
LAM = "ل"
ARTICLE = "ال"
#: punctuation at a span's edge; the percent signs belong to PERCENT spans
EDGE_PUNCTUATION = r"[\p{P}--[%٪‰]]"
#: brackets and quotation marks a span may end (or start) with when it holds their partner
#: inside, as in «… (إكس)»; the corpus also closes quotes with “ (“…“)
PAIRS = (("(", ")"), ("[", "]"), ("{", "}"), ("«", "»"), ("“", "”"), ("“", "“"), ('"', '"'))
WORD_CHARS = r"\p{L}\p{M}"
#: a JSON integer as _found_value prints it: one the reader could not hold is out of range, not mistyped
INTEGER = re.compile(r"-?[0-9]+")
#: shortest first word that counts as "a separate word in the document" for entity_proclitic
MIN_WORD = 3


class Frame(StrEnum):
    """The frames :func:`prepare` builds and the rules are checked on (the fields of :class:`Frames`)."""

    OWNERS = "owners"
    SPANS = "spans"
    RELATIONS = "relations"
    CHOICES = "choices"


class Severity(StrEnum):
    ERROR = "error"  # blocks a build and excludes the row
    WARNING = "warning"  # reported; excludes nothing unless --strict


ERROR, WARNING = Severity.ERROR, Severity.WARNING
#: the rule that reports a row's structural ``problem``; every other rule lets such a row pass
WELL_FORMED = "well_formed"


@dataclass(frozen=True, kw_only=True)
class Rule:
    """One rule on one frame: ``passes`` is true on the rows that pass, ``explain`` words a failing row."""

    name: str
    severity: Severity
    frame: Frame
    summary: str  # what the rule requires, for --list-checks
    hint: str  # how to fix a failure, for the report
    passes: pl.Expr
    explain: Callable[[Mapping[str, Any]], str]


def _found_value(raw: str | None, name: str) -> str:
    try:
        return json.dumps(json.loads(raw or "{}").get(name, "missing"), ensure_ascii=False)
    except json.JSONDecodeError:
        return "unreadable"


def _explain_offsets(row: Mapping[str, Any]) -> str:
    if row["start"] is None or row["end"] is None:
        found = {name: _found_value(row["raw"], name) for name in ("start", "end") if row[name] is None}
        return " and ".join(
            f"{name} is {value[:30]}, " + ("out of the 64-bit integer range" if INTEGER.fullmatch(value) else "not an integer")
            for name, value in found.items()
        )
    if row["start"] < 0:
        return f"start {row['start']} is negative"
    if row["start"] >= row["end"]:
        return f"start {row['start']} is not before end {row['end']}"
    return f"end {row['end']} is past the end of the text ({row['doc_len']} characters)"


def _explain_cluster(row: Mapping[str, Any]) -> str:
    cuts = []
    if row["cuts_start"]:
        cuts.append(f"starts on {character(row['expected'][0])}, cut from the letter before it")
    if row["cuts_end"]:
        cuts.append(f"ends before {character(row['next_char'][0])}, which belongs to its last letter")
    return "the span " + " and ".join(cuts)


def _explain_label(row: Mapping[str, Any]) -> str:
    if row["label"] is None:
        return f"expected exactly one label, found {row['raw']}"
    return f"label {row['label']!r} is not in layer {row['layer']!r} ({row['layer_labels'] or 'no such layer'})"


def _explain_quote(row: Mapping[str, Any]) -> str:
    if not row["is_content"]:
        return f"{row['quote_name']} {row['quote_values']} on a {row['label']} region; only {row['content_label']} carries it"
    if row["quote_count"] == 0:
        return f"{row['content_label']} has no {row['quote_name']}"
    if row["quote_count"] > 1:
        return f"{row['content_label']} has {row['quote_count']} {row['quote_name']} results ({row['quote_values']})"
    return f"{row['quote_name']} {row['quote_values']} is not one of {row['quote_choices']}"


def _explain_ids(row: Mapping[str, Any]) -> str:
    if row["region_id"] is None:
        return "region has no id"
    return f"region id {row['region_id']} is used by {row['region_count']} span results in this annotation"


def _explain_owner_ids(row: Mapping[str, Any]) -> str:
    if row["owner_id"] is None:
        return f"{row['kind']} has no integer id"
    if row["id_dup"]:
        return f"{row['kind']} id {row['owner_id']} appears more than once"
    return f"task {row['task_id']} appears more than once in {row['file']}"


def _explain_relation(row: Mapping[str, Any]) -> str:
    if row["label"] is None or row["from_region"] is None or row["to_region"] is None:
        return f"a relation needs one label and both ends, found {row['raw']}"
    if row["rule_from"] is None:
        return f"relation label {row['label']!r} is not one of {row['relation_labels']}"
    for end in ("from", "to"):
        count = row[f"{end}_count"]
        if count == 0:
            return f"the {end} end {row[f'{end}_region']} is not a region of this annotation"
        if count > 1:
            return f"the {end} end {row[f'{end}_region']} is ambiguous: {count} regions have that id"
    return (
        f"{row['label']} must link {row['rule_from']} → {row['rule_to']}, "
        f"found {row['from_label']} → {row['to_label']}"
    )


def _explain_crossing(row: Mapping[str, Any]) -> str:
    return f"crosses entity {row['crosses_region']} ({row['crosses_span']}); entities may nest but not cross"


def _explain_overlap(row: Mapping[str, Any]) -> str:
    return f"overlaps zone {row['overlaps_region']} ({row['overlaps_span']}); zones never overlap"


def _explain_duplicate(row: Mapping[str, Any]) -> str:
    return f"same {row['layer']}/{row['label']} at {row['start']}-{row['end']} as region {row['duplicate_of']}"


#: Every rule, in report order; a name can cover several frames (e.g. unique_ids), with one severity.
#: ``validation/schemas.py`` builds its pandera checks from this tuple, ``khabar validate
#: --list-checks`` lists it (:func:`check_table`) and the report orders failures by it.
RULES: tuple[Rule, ...] = (
    # Structure: fields of the wrong JSON type that no other rule covers.
    *(
        Rule(
            name=WELL_FORMED, severity=Severity.ERROR, frame=frame,
            summary="results, annotations and predictions have the fields Label Studio writes",
            hint="re-export from Label Studio, or fix the field named in the message",
            passes=pl.col("problem").is_null(),
            explain=lambda row: str(row["problem"]),
        )
        for frame in Frame
    ),
    Rule(
        name="unique_ids", severity=Severity.ERROR, frame=Frame.OWNERS,
        summary="annotation, prediction and task ids are unique",
        hint="each task and annotation must appear once: was the same project exported twice?",
        passes=pl.col("owner_id").is_not_null() & ~pl.col("id_dup") & ~pl.col("task_dup"),
        explain=_explain_owner_ids,
    ),
    Rule(
        name="annotation_document_known", severity=Severity.ERROR, frame=Frame.OWNERS,
        summary="the task of every annotation is a corpus document with the same text",
        hint="run khabar ingest for the page, or import the task from annotation/corpus/documents.jsonl",
        passes=pl.col("doc_known"),
        explain=lambda row: str(row["doc_problem"]),
    ),
    Rule(
        name="unique_ids", severity=Severity.ERROR, frame=Frame.SPANS,
        summary="region ids are unique inside an annotation",
        hint="give each region its own id (Label Studio does this itself; was the result edited by hand?)",
        passes=pl.col("region_id").is_not_null() & (pl.col("region_count") == 1),
        explain=_explain_ids,
    ),
    Rule(
        name="span_document_exists", severity=Severity.ERROR, frame=Frame.SPANS,
        summary="every span's document is in the corpus",
        hint="the annotation's task is not a corpus document (see annotation_document_known)",
        passes=pl.col("doc_found"),
        explain=lambda row: f"document {row['doc_id']} of this span is not in the corpus with the task's text",
    ),
    Rule(
        name="offsets_in_range", severity=Severity.ERROR, frame=Frame.SPANS,
        summary="0 <= start < end <= length of the document text",
        hint="offsets are code points into documents.text; run khabar validate --repair if the text moved",
        passes=pl.col("offsets_ok"),
        explain=_explain_offsets,
    ),
    Rule(
        name="span_text_matches", severity=Severity.ERROR, frame=Frame.SPANS,
        summary="value.text equals documents.text[start:end]",
        hint="the offsets drifted or the text was edited: khabar validate --repair moves a span whose text occurs once nearby",
        passes=pl.col("text_ok"),
        explain=lambda row: "value.text is missing" if row["text"] is None else "value.text differs from the document text at these offsets",
    ),
    Rule(
        name="span_whole_graphemes", severity=Severity.ERROR, frame=Frame.SPANS,
        summary="a span neither starts on nor ends before a combining mark: it never cuts a letter from its diacritics",
        hint="khabar validate --repair widens the span to the whole letter with its marks",
        passes=~pl.col("cuts_start") & ~pl.col("cuts_end"),
        explain=_explain_cluster,
    ),
    Rule(
        name="label_in_layer", severity=Severity.ERROR, frame=Frame.SPANS,
        summary="each region has one label, and it belongs to its layer",
        hint="pick a label of the layer from annotation/labeling_config.xml",
        passes=pl.col("label_ok"),
        explain=_explain_label,
    ),
    Rule(
        name="quote_type_on_content", severity=Severity.ERROR, frame=Frame.SPANS,
        summary="quote_type is on every CONTENT, exactly once, and on nothing else",
        hint="select the CONTENT region and choose direct, indirect or mixed; remove quote_type from other regions",
        passes=pl.col("quote_ok"),
        explain=_explain_quote,
    ),
    Rule(
        name="quote_type_on_content", severity=Severity.ERROR, frame=Frame.CHOICES,
        summary="a quote_type belongs to an existing region",
        hint="this quote_type names a region the annotation does not have: delete it or redraw the CONTENT",
        passes=pl.col("region_exists"),
        explain=lambda row: (
            f"quote_type {row['choice'] or row['raw']} is attached to region {row['region_id']}, which this annotation does not have"
        ),
    ),
    Rule(
        name="entity_no_crossing", severity=Severity.ERROR, frame=Frame.SPANS,
        summary="entities nest or stay apart; they never cross",
        hint="make one entity contain the other, or separate them",
        passes=pl.col("crosses_region").is_null(),
        explain=_explain_crossing,
    ),
    Rule(
        name="zone_no_overlap", severity=Severity.ERROR, frame=Frame.SPANS,
        summary="zones never overlap",
        hint="shrink one of the zones; page text belongs to at most one zone",
        passes=pl.col("overlaps_region").is_null(),
        explain=_explain_overlap,
    ),
    Rule(
        name="no_duplicate_region", severity=Severity.ERROR, frame=Frame.SPANS,
        summary="no two regions with the same layer, label and offsets",
        hint="delete the second copy",
        passes=pl.col("duplicate_of").is_null(),
        explain=_explain_duplicate,
    ),
    Rule(
        name="no_duplicate_region", severity=Severity.ERROR, frame=Frame.RELATIONS,
        summary="no relation given twice",
        hint="delete the second copy of the relation",
        passes=~pl.col("repeated"),
        explain=lambda row: f"relation {row['from_region']} → {row['to_region']} ({row['label']}) is given twice",
    ),
    Rule(
        name="relation_ends", severity=Severity.ERROR, frame=Frame.RELATIONS,
        summary="relation ends exist in the same annotation and carry the labels the relation needs",
        hint="source links CONTENT → SOURCE and cue links CONTENT → CUE, drawn from the CONTENT",
        passes=pl.col("ends_ok"),
        explain=_explain_relation,
    ),
    Rule(
        name="span_boundary_clean", severity=Severity.WARNING, frame=Frame.SPANS,
        summary="no white space or punctuation at either edge of a span",
        hint="trim the span (khabar validate --repair trims white space; punctuation you move by hand)",
        passes=pl.col("edge_ok"),
        explain=lambda row: "the span starts or ends with white space or punctuation",  # the report shows its text
    ),
    Rule(
        name="entity_proclitic", severity=Severity.WARNING, frame=Frame.SPANS,
        summary="an entity does not start with a proclitic (و ف ب ل ك)",
        hint="leave the proclitic outside the entity (ببغداد → بغداد); if the letter belongs to the name, ignore this warning",
        passes=pl.col("proclitic_rest").is_null(),
        explain=lambda row: (
            f"{quoted(row['expected'])} starts with the proclitic {row['expected'][0]} and "
            f"{quoted(row['proclitic_rest'])} looks like the entity ({row['proclitic_reason']})"
        ),
    ),
    Rule(
        name="content_has_source", severity=Severity.WARNING, frame=Frame.SPANS,
        summary="every CONTENT has a source relation",
        hint="draw a source relation from the CONTENT to its SOURCE (mark the SOURCE if it is missing)",
        passes=~pl.col("is_content") | pl.col("has_source"),
        explain=lambda row: "CONTENT without a source relation",
    ),
    Rule(
        name="cue_linked", severity=Severity.WARNING, frame=Frame.SPANS,
        summary="every CUE is linked from a CONTENT",
        hint="draw a cue relation from the CONTENT to this CUE, or remove the CUE",
        passes=~pl.col("is_cue") | pl.col("has_cue_link"),
        explain=lambda row: "CUE that no CONTENT links to",
    ),
    Rule(
        name="consistent_label", severity=Severity.WARNING, frame=Frame.SPANS,
        summary="a text has one label per layer within an annotation",
        hint="the same text is labelled differently elsewhere in this annotation: check both places",
        passes=pl.col("other_labels").is_null(),
        explain=lambda row: f"{quoted(row['expected'])} is also labelled {row['other_labels']} in this annotation",
    ),
)


def _by_frame_and_name(rules: tuple[Rule, ...]) -> dict[tuple[Frame, str], Rule]:
    """Each (frame, name) once, and each name with one severity: pandera names its failure cases by rule name alone."""
    found: dict[tuple[Frame, str], Rule] = {}
    severity: dict[str, Severity] = {}
    for r in rules:
        if (r.frame, r.name) in found:
            raise ValueError(f"rule {r.name!r} is declared twice on the {r.frame} frame")
        if severity.setdefault(r.name, r.severity) != r.severity:
            raise ValueError(f"rule {r.name!r} is declared both {severity[r.name]} and {r.severity}")
        found[(r.frame, r.name)] = r
    return found


_RULE_OF = _by_frame_and_name(RULES)
#: check name → severity (one severity per name)
SEVERITY: dict[str, Severity] = {r.name: r.severity for r in RULES}


def rule(frame: Frame | str, name: str) -> Rule:
    """The rule ``name`` as declared on ``frame``."""
    try:
        return _RULE_OF[(Frame(frame), name)]
    except (KeyError, ValueError):
        raise KeyError(f"no rule {name!r} on a frame {frame!r}") from None


def rules_of(frame: Frame) -> tuple[Rule, ...]:
    """The rules checked on ``frame``, in report order."""
    return tuple(r for r in RULES if r.frame == frame)


def check_table() -> list[str]:
    """One line per rule name: name, severity, what it requires on each frame (``khabar validate --list-checks``)."""
    summaries: dict[str, list[str]] = {}
    for r in RULES:
        summaries.setdefault(r.name, []).append(r.summary)
    return [list_line(name, SEVERITY[name], "; ".join(dict.fromkeys(texts))) for name, texts in summaries.items()]


def list_line(name: str, severity: Severity, summary: str) -> str:
    """A check's line in ``khabar validate --list-checks``."""
    return f"{name:<26} {severity:<8} {summary}"


@dataclass
class Frames:
    """The frames the rules are checked on; ``row`` is each frame's row number."""

    owners: pl.DataFrame
    spans: pl.DataFrame
    relations: pl.DataFrame
    choices: pl.DataFrame

    def get(self, name: str) -> pl.DataFrame:
        return getattr(self, name)


@dataclass(frozen=True)
class KnownDuplicates:
    """Ids known to occur more than once in the whole read, when the rows come a batch at a time:
    task ids per file (``file``, ``task_id``) and owner ids per kind (``kind``, ``owner_id``)."""

    tasks: pl.DataFrame
    owners: pl.DataFrame

    @staticmethod
    def none() -> KnownDuplicates:
        return KnownDuplicates(
            tasks=pl.DataFrame(schema={"file": pl.String, "task_id": pl.Int64}),
            owners=pl.DataFrame(schema={"kind": pl.String, "owner_id": pl.Int64}),
        )


def prepare(raw: RawExport, scheme: Scheme, duplicates: KnownDuplicates | None = None) -> Frames:
    """Join and derive everything the rules read, for checked owners only.

    ``duplicates``: ids that occur again outside ``raw`` (a batch of the read); ids
    repeated inside ``raw`` are found here.
    """
    owners = _owners(raw, duplicates or KnownDuplicates.none())
    checked = _numbered(owners.filter(pl.col("checked")).drop("checked"))
    relations = _of_owners(raw.relations, checked)
    choices = _of_owners(raw.choices, checked)
    spans = _spans(raw, checked, relations, choices, scheme)
    return Frames(
        owners=checked,
        spans=spans,
        relations=_relations(checked, relations, spans, scheme),
        choices=_choices(checked, choices, spans),
    )


#: the rows the warnings' helper columns are computed for: guideline hygiene is for people, not for pre-annotations
#: (a prediction's warning is never reported), so those columns are left empty on predictions' rows
_BY_PEOPLE = pl.col("kind") == ANNOTATION


def _of_owners(frame: pl.DataFrame, owners: pl.DataFrame) -> pl.DataFrame:
    """The rows of ``frame`` whose ``key`` is one of ``owners``', in their order: a filter on one integer column,
    not a semi join (which hashes both sides: 1.3 → 0.25 ms for the 60,000 regions of a batch)."""
    return frame.filter(pl.col("key").is_in(owners.get_column("key").implode()))


def _numbered(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_row_index("row").with_columns(pl.col("row").cast(pl.Int64))


def _beside(frame: pl.DataFrame, found: pl.DataFrame, on: str | list[str] = "row") -> pl.DataFrame:
    """``frame`` with the other columns of ``found`` (at most one row per value of ``on``), null where it has none.

    A left join of the frame's ``on`` columns alone, set beside the frame: a left join of the whole spans
    frame gathered its sixty columns again for each helper column a rule adds (with each helper's rows
    selected before they are filtered, the helper columns at 1M span results: 2.16–2.26 → 1.97–2.09 s of CPU).
    """
    keys = [on] if isinstance(on, str) else on
    if found.is_empty():  # a clean batch has no crossing, overlap or label out of its layer: nothing to join (~1 ms)
        return frame.with_columns(pl.lit(None, dtype).alias(name) for name, dtype in found.schema.items() if name not in keys)
    added = frame.select(keys).join(found, on=keys, how="left", maintain_order="left").drop(keys)
    return frame.hstack(added)


def checked_owner() -> pl.Expr:
    """Owners whose content is checked and can be used: live annotations and predictions."""
    return ((pl.col("kind") == ANNOTATION) & ~pl.col("was_cancelled")) | (pl.col("kind") == PREDICTION)


def _owners(raw: RawExport, duplicates: KnownDuplicates) -> pl.DataFrame:
    tasks = _or_known(raw.tasks.with_columns(task_dup=pl.len().over("file", "task_id") > 1), "task_dup", duplicates.tasks)
    owners = raw.owners.join(
        tasks.select("file", "task_pos", "doc_id", "doc_known", "doc_problem", "task_dup"),
        on=["file", "task_pos"], how="left", maintain_order="left",
    ).with_columns(id_dup=pl.col("owner_id").is_not_null() & (pl.len().over("kind", "owner_id") > 1), checked=checked_owner())
    return _or_known(owners, "id_dup", duplicates.owners)


def _or_known(frame: pl.DataFrame, flag: str, known: pl.DataFrame) -> pl.DataFrame:
    """``flag`` set also on the rows whose ids (``known``'s columns) repeat in another batch; a null id matches none.

    Most reads know of no such id: then nothing is joined (two joins a batch, 1 ms)."""
    if known.is_empty():
        return frame
    found = known.unique().with_columns(known=pl.lit(True))
    return (
        frame.join(found, on=known.columns, how="left", maintain_order="left")
        .with_columns(pl.col(flag) | pl.col("known").fill_null(False))
        .drop("known")
    )


#: an owner's columns each of its rows carries: where it comes from, for the report
_OWNER_CONTEXT = ("kind", "file", "task_id", "owner_id", "annotator", "doc_id", "doc_known")


def _owner_columns(frame: pl.DataFrame, owners: pl.DataFrame) -> pl.DataFrame:
    """Where each row comes from, for the report."""
    return frame.join(owners.select("key", *_OWNER_CONTEXT), on="key", how="left", maintain_order="left")


def _spans(raw: RawExport, owners: pl.DataFrame, relations: pl.DataFrame, choices: pl.DataFrame, scheme: Scheme) -> pl.DataFrame:
    """Every region of the checked owners, with the flags the span rules read."""
    attribution = scheme.attribution
    spans = _span_rows(raw, owners, choices, scheme).pipe(_with_offsets).pipe(_with_field_checks, scheme).pipe(_with_placement)
    spans = _with_duplicates(spans)
    # entities nest but never cross; zones never overlap
    spans = _with_pairs(spans, scheme.entity.name, "crosses", crossing=True)
    spans = _with_pairs(spans, scheme.zone.name, "overlaps", crossing=False)
    spans = _with_links(spans, relations, attribution.source_relation.label, attribution.cue_relation.label)
    spans = _with_other_labels(spans)
    return _with_proclitics(spans, raw.documents.get_column("text"), scheme.entity.name)


def _quotes(choices: pl.DataFrame) -> pl.DataFrame:
    """Per region: how many well-formed quote_type choices it has, the value when there is one, and all of them."""
    # a malformed choice (reported by well_formed) gives its region no quote_type
    return choices.filter(pl.col("problem").is_null()).group_by("key", "region_id").agg(
        quote_count=pl.len(),
        quote_single=pl.col("choice").first(),
        quote_values=pl.coalesce("choice", "raw").fill_null("?").str.join(", "),
    )


def _span_rows(raw: RawExport, owners: pl.DataFrame, choices: pl.DataFrame, scheme: Scheme) -> pl.DataFrame:
    """The regions of the checked owners, numbered, with their owner, document, quote_type and role in the scheme."""
    anchor = scheme.attribution.quote_type
    cue_rule = scheme.attribution.cue_relation
    quotes = _quotes(choices)
    texts = raw.documents.get_column("text")
    # each span's text by its owner's row in the corpus (``doc_row``, kept for the proclitic test), not by a join on
    # doc_id: hashing a string key per span, and measuring every corpus text, took a third of this function's time
    owner_context = (
        owners.select("key", *_OWNER_CONTEXT)
        .join(raw.documents.select("doc_id").with_row_index("doc_row"), on="doc_id", how="left", maintain_order="left")
        .with_columns(doc_row=pl.when(pl.col("doc_known")).then(pl.col("doc_row")))
        .with_columns(doc_len=pl.lit(texts).gather(pl.col("doc_row")).str.len_chars().cast(pl.Int64))
    )
    regions = _of_owners(raw.regions, owners)
    return (
        _beside(_beside(regions, owner_context, on="key"), quotes, on=["key", "region_id"])
        .pipe(_numbered)
        .with_columns(
            doc_text=pl.lit(texts).gather(pl.col("doc_row")),
            quote_count=pl.col("quote_count").fill_null(0).cast(pl.Int64),
            quote_type=pl.when(pl.col("quote_count") == 1).then(pl.col("quote_single")),
            quote_choices=pl.lit(", ".join(anchor.choices)), quote_name=pl.lit(anchor.name), content_label=pl.lit(anchor.label),
            is_content=(pl.col("layer") == anchor.layer) & (pl.col("label") == anchor.label),
            is_cue=(pl.col("layer") == cue_rule.layer) & (pl.col("label") == cue_rule.to_label),
        )
        .pipe(_with_region_count)
    )


def _all_distinct(frame: pl.DataFrame, columns: list[str]) -> bool:
    """Whether no two rows of ``frame`` have the same values in ``columns``, when a hash of them says so at once.

    Equal values hash alike, so distinct hashes prove distinct rows, from one integer column; a
    repeated hash (equal rows, a null twice, or two rows that merely collide) is False, for the caller's
    exact test. The count or the rank of a group by a window, on a string column among others, took
    twice as long (4-5 against 2-2.6 ms for the 60,000 spans of a batch)."""
    return bool(frame.select(pl.struct(columns).hash().n_unique()).item() == frame.height)


def _with_region_count(spans: pl.DataFrame) -> pl.DataFrame:
    """``region_count``: how many regions of the span's annotation have its id."""
    ids = ["key", "region_id"]
    return spans.with_columns(region_count=pl.lit(1, pl.UInt32) if _all_distinct(spans, ids) else pl.len().over(ids))


def _with_offsets(spans: pl.DataFrame) -> pl.DataFrame:
    """``offsets_ok``; where they hold in a known document, the ``expected`` text there and the ``next_char`` after it."""
    return (
        spans.with_columns(
            offsets_ok=(
                pl.col("start").is_not_null() & pl.col("end").is_not_null() & (pl.col("start") >= 0)
                & (pl.col("start") < pl.col("end")) & (pl.col("doc_len").is_null() | (pl.col("end") <= pl.col("doc_len")))
            ).fill_null(False),
        )
        .with_columns(
            # the span and the character after it ("" at the end of the text), from one walk into the text: from its
            # end when the span starts in the text's second half (a negative offset), so a walk is at most half the text
            # (0.55 → 0.41 s of CPU for 1.36M random spans)
            window=pl.when(pl.col("offsets_ok") & pl.col("doc_text").is_not_null()).then(
                pl.col("doc_text").str.slice(
                    pl.when(pl.col("start") * 2 > pl.col("doc_len")).then(pl.col("start") - pl.col("doc_len")).otherwise(pl.col("start")),
                    pl.col("end") - pl.col("start") + 1,
                )
            ),
        )
        .with_columns(
            # the window ends a character past the span unless the span ends the text: cut by one character, not by
            # each span's length (3.9 → 2.2 ms a batch)
            expected=pl.when(pl.col("end") == pl.col("doc_len")).then("window").otherwise(pl.col("window").str.head(-1)),
            next_char=pl.when(pl.col("window").is_null()).then(None)
            .when(pl.col("end") == pl.col("doc_len")).then(pl.lit(""))
            .otherwise(pl.col("window").str.tail(1)),
        )
        .drop("window")
    )


def _with_field_checks(spans: pl.DataFrame, scheme: Scheme) -> pl.DataFrame:
    """``text_ok``, ``label_ok``, ``quote_ok`` and ``doc_found``; the document text is dropped after them."""
    anchor = scheme.attribution.quote_type
    layer_pairs = [f"{layer.name}\x1f{label}" for layer in scheme.layers for label in layer.labels]
    return spans.with_columns(
        text_ok=(pl.col("expected").is_null() | (pl.col("text") == pl.col("expected"))).fill_null(False),
        label_ok=pl.concat_str("layer", "label", separator="\x1f").is_in(layer_pairs).fill_null(False),
        quote_ok=(
            pl.col("label").is_null()
            | pl.when(pl.col("is_content"))
            .then((pl.col("quote_count") == 1) & pl.col("quote_type").is_in(list(anchor.choices)).fill_null(False))
            .otherwise(pl.col("quote_count") == 0)
        ).fill_null(False),
        doc_found=pl.col("doc_text").is_not_null(),
    ).drop("doc_text").pipe(_with_editor_newlines).pipe(_with_layer_labels, scheme)  # one copy of the text per span would dominate memory


def _with_editor_newlines(spans: pl.DataFrame) -> pl.DataFrame:
    """``text_ok`` also where value.text is the expected text with each newline written as the two characters \\n,
    as the editor writes it: looked for among the spans whose text is not the expected one, which hold those two
    characters (the newlines replaced in every span's expected text took 2.5 ms a batch)."""
    text, expected = pl.col("text"), pl.col("expected")
    # two filters, the second on the few rows the first leaves (one predicate searched every span's text)
    edited = spans.select("row", "text", "expected", "text_ok").filter(~pl.col("text_ok")).filter(text.str.contains("\\n", literal=True))
    if edited.is_empty():
        return spans
    found = edited.select("row", edited=text == expected.str.replace_all("\n", "\\n", literal=True))
    return _beside(spans, found).with_columns(text_ok=pl.col("text_ok") | pl.col("edited").fill_null(False)).drop("edited")


def _with_layer_labels(spans: pl.DataFrame, scheme: Scheme) -> pl.DataFrame:
    """``layer_labels``, the labels of the span's layer, for the label_in_layer failure to name: on the spans that fail it
    alone (a string per span took 3 ms a batch)."""
    layers = pl.DataFrame(
        {"layer": [layer.name for layer in scheme.layers], "layer_labels": [", ".join(layer.labels) for layer in scheme.layers]}
    )
    failing = spans.select("row", "layer", "label_ok").filter(~pl.col("label_ok")).join(layers, on="layer", how="inner")
    return _beside(spans, failing.select("row", "layer_labels"))


def _with_placement(spans: pl.DataFrame) -> pl.DataFrame:
    """``placed_text`` where the text checks out, whether either end cuts a letter from its marks, and ``edge_ok``."""
    return (
        # where the span really is: the hygiene and overlap rules look only at spans whose text checks out
        spans.with_columns(placed_text=pl.when(pl.col("text_ok")).then(pl.col("expected")))
        .with_columns(
            # a text may itself begin with a mark: offset 0 is always a boundary
            cuts_start=(pl.col("placed_text").str.contains(f"^{CLUSTER_EXTEND}") & (pl.col("start") > 0)).fill_null(False),
            cuts_end=(pl.col("placed_text").is_not_null() & pl.col("next_char").str.contains(f"^{CLUSTER_EXTEND}")).fill_null(False),
        )
        .pipe(_with_edges)
    )


def _holds(text: pl.Expr, mark: str, times: int) -> pl.Expr:
    return text.str.count_matches(mark, literal=True) >= times


def clean_edges(text: pl.Expr) -> pl.Expr:
    """No white space at either edge, and no punctuation unless it is a bracket or quote whose partner is inside.

    «تنظيم (داعش)» may end with ")" because "(" is inside; «(داعش)» may not, the
    brackets wrap the whole span and belong outside it.
    """
    opened = pl.lit(False)
    closed = pl.lit(False)
    for opener, closer in PAIRS:
        twice = 2 if opener == closer else 1
        opened = opened | (text.str.starts_with(opener) & ~text.str.ends_with(closer) & _holds(text, closer, twice))
        closed = closed | (text.str.ends_with(closer) & ~text.str.starts_with(opener) & _holds(text, opener, twice))
    bad_start = text.str.contains(r"^\s") | (text.str.contains(f"^{EDGE_PUNCTUATION}") & ~opened)
    bad_end = text.str.contains(r"\s$") | (text.str.contains(f"{EDGE_PUNCTUATION}$") & ~closed)
    return ~(bad_start | bad_end)


def _with_edges(spans: pl.DataFrame) -> pl.DataFrame:
    """``edge_ok`` per span: :func:`clean_edges`, true where there is no placed text.

    Only spans with white space or punctuation at an edge can fail it, so only they are
    checked: its bracket counting over every span took a fifth of the checks' time.
    """
    text = pl.col("placed_text")
    # two anchored searches (one reads the text's start, the other its end backwards), not a search of its first
    # and last characters cut out and joined: 0.14 → 0.11 s of CPU at 1M span results
    edge = rf"(?:\s|{EDGE_PUNCTUATION})"
    suspects = spans.select("row", "placed_text", "kind").filter(
        (text.str.contains(f"^{edge}") | text.str.contains(f"{edge}$")).fill_null(False) & _BY_PEOPLE
    )
    if suspects.is_empty():  # a clean batch: clean_edges' three dozen expressions cost 1.6 ms even on no row
        return spans.with_columns(edge_ok=pl.lit(True))
    checked = suspects.select("row", edge_ok=clean_edges(text))
    return _beside(spans, checked).with_columns(pl.col("edge_ok").fill_null(True))


def _with_duplicates(spans: pl.DataFrame) -> pl.DataFrame:
    """Every copy after the first of a (layer, label, start, end) in one annotation names the first."""
    group = ["key", "layer", "label", "start", "end"]
    complete = pl.all_horizontal(pl.col(c).is_not_null() for c in group)
    if _all_distinct(spans, group):
        return spans.with_columns(duplicate_of=pl.lit(None, pl.String))
    spans = spans.with_columns(is_copy=complete & ~pl.struct(group).is_first_distinct())
    if not spans["is_copy"].any():
        return spans.with_columns(duplicate_of=pl.lit(None, pl.String)).drop("is_copy")
    keyed = spans.select(*group, "region_id", "is_copy")
    copies = keyed.filter("is_copy").select(group)
    firsts = keyed.filter(~pl.col("is_copy")).join(copies.unique(), on=group, how="semi").select(*group, duplicate_of="region_id")
    # a null in the group matches nothing (a row with one is never a copy)
    duplicate_of = keyed.join(firsts, on=group, how="left", maintain_order="left", nulls_equal=False).select(
        duplicate_of=pl.when("is_copy").then("duplicate_of")
    )
    return spans.drop("is_copy").hstack(duplicate_of)


#: width of the position buckets that keep the overlap self-join linear: two
#: overlapping spans share at least one bucket, so only spans of one bucket are paired
PAIR_BUCKET = 64


def _with_pairs(spans: pl.DataFrame, layer: str, name: str, *, crossing: bool) -> pl.DataFrame:
    """Flag both regions of every crossing (entity) or overlapping (zone) pair."""
    regions = (
        spans.lazy()
        .filter((pl.col("layer") == layer) & pl.col("placed_text").is_not_null())
        .select("row", "key", "start", "end")
    )
    # the annotation and the bucket as one integer (a bucket is below 2**24: a text of 1G characters): a join on
    # one integer key, not on two (polars encodes several keys into bytes to hash them): 0.35 → 0.27 s CPU at 1M
    ends = (
        regions.with_columns(bucket=pl.int_ranges(pl.col("start") // PAIR_BUCKET, (pl.col("end") - 1) // PAIR_BUCKET + 1))
        .explode("bucket")
        .select("row", "start", "end", place=pl.col("key") * (1 << 24) + pl.col("bucket"))
    )
    # a pair's second region starts inside the first (a.start <= b.start < a.end, in both conditions below), so it is
    # found in the first's buckets by its start's bucket alone: each pair once, no unique (0.32 → 0.24 s CPU at 1M)
    starts = regions.select("row", "start", "end", place=pl.col("key") * (1 << 24) + pl.col("start") // PAIR_BUCKET)
    a_first = (pl.col("start") < pl.col("start_b")) | ((pl.col("start") == pl.col("start_b")) & (pl.col("row") < pl.col("row_b")))
    if crossing:
        condition = (pl.col("start") < pl.col("start_b")) & (pl.col("start_b") < pl.col("end")) & (pl.col("end") < pl.col("end_b"))
    else:
        condition = a_first & (pl.col("start_b") < pl.col("end"))
    # lazily: the join's pairs are filtered as they are made, not first gathered whole (0.3 s of CPU at 1M span results);
    # rows and offsets alone, the region ids of the pairs found taken after (most batches have none: the ids of the
    # 150,000 candidate pairs of a batch, and sorting nothing, took 3 ms of the entities' 8)
    pairs = ends.join(starts, on="place", suffix="_b").filter(condition).select("row", "row_b").collect()
    columns = {f"{name}_region": pl.String, f"{name}_span": pl.String}
    if pairs.is_empty():
        return _beside(spans, pl.DataFrame(schema={"row": pl.Int64, **columns}))
    first, second = (spans[rows].select("region_id", span=pl.format("{}-{}", "start", "end")) for rows in (pairs["row"], pairs["row_b"]))
    both = (
        pl.concat([
            pl.DataFrame({"row": pairs["row"], "partner": second["region_id"], "partner_span": second["span"]}),
            pl.DataFrame({"row": pairs["row_b"], "partner": first["region_id"], "partner_span": first["span"]}),
        ])
        .sort("row", "partner_span")
        .group_by("row", maintain_order=True)
        .agg(pl.col("partner").first().alias(f"{name}_region"), pl.col("partner_span").first().alias(f"{name}_span"))
    )
    return _beside(spans, both)


def _with_links(spans: pl.DataFrame, relations: pl.DataFrame, source: str, cue: str) -> pl.DataFrame:
    """``has_source`` (a source relation starts at the region) and ``has_cue_link`` (a cue relation ends at it): the
    region's (key, region_id) among the relations' ends, as structs (a join of the regions with the relations that
    name them took 2.9 ms a batch, these 2.0); an end that is missing (a malformed relation) names no region."""
    label = pl.col("label")

    def ends(name: str, end: str) -> pl.Series:
        named = relations.filter((label == name) & pl.col(end).is_not_null())
        return named.select(pl.struct("key", region_id=end)).to_series().implode()

    region = pl.struct("key", "region_id")
    return spans.with_columns(has_source=region.is_in(ends(source, "from_region")), has_cue_link=region.is_in(ends(cue, "to_region")))


def _with_other_labels(spans: pl.DataFrame) -> pl.DataFrame:
    """``other_labels``: the other labels the span's text has in its layer and annotation, on the few spans that have any."""
    group = ["key", "layer", "placed_text"]
    placed = spans.select("row", *group, "label", "kind").filter(pl.col("placed_text").is_not_null() & _BY_PEOPLE).drop("kind")
    # first by a hash of the annotation, layer and text, one integer: equal texts hash alike, so a group of one label
    # by its hash has one label by its text, and only the rows of the other groups are grouped again by their text
    # (0.25 → 0.20 s of CPU at 1M span results; the key in the hash and a filter for the semi join: 4.2 → 3.2 ms a batch)
    hashed = placed.with_columns(text_hash=pl.struct(group).hash())
    maybe = (
        hashed.filter(pl.col("label").is_not_null()).group_by("text_hash").agg(labels=pl.col("label").n_unique())
        .filter(pl.col("labels") > 1).get_column("text_hash")
    )
    placed = hashed.filter(pl.col("text_hash").is_in(maybe.implode())).drop("text_hash")
    labelled = placed.filter(pl.col("label").is_not_null())
    mixed = labelled.group_by(group).agg(pl.col("label").n_unique().alias("labels")).filter(pl.col("labels") > 1).drop("labels")
    labels = labelled.join(mixed, on=group, how="semi").group_by(group).agg(all_labels=pl.col("label").unique().sort())
    # the lists are made for the spans of those texts alone (a span without a label too: it has every label of its
    # text): over every span they took half of this function's time
    other = placed.join(labels, on=group, how="inner").select(
        "row", other_labels=pl.col("all_labels").list.set_difference(pl.concat_list("label")).list.sort().list.join(", ")
    )
    return _beside(spans, other)


def _with_proclitics(spans: pl.DataFrame, texts: pl.Series, entity_layer: str) -> pl.DataFrame:
    """Flag entities that start with a one-letter proclitic (و ف ب ل ك) kept inside by mistake.

    Many names begin with these letters (واشنطن، بغداد، لبنان، كردستان), so the
    first letter alone proves nothing. An entity is flagged only when the rest
    of it (after that letter) is itself a plausible word, by one of:

    - the rest starts with the article ال and has at least two letters after it
      (بالعراق → العراق);
    - the rest is the text of another entity in the same annotation (وبغداد when
      بغداد is annotated elsewhere);
    - the rest's first word (of at least :data:`MIN_WORD` letters) appears as a
      separate word elsewhere in the same document (وبغداد when the page also
      says «في بغداد»).

    So واشنطن، بغداد، لبنان، كردستان are not flagged unless, say, اشنطن or
    ردستان stood alone in the page.

    A span that starts with ل right after a ل (للعراق → لعراق) is never flagged:
    there the first ل is the proclitic, already outside, and the second is the
    article's, whose alef is dropped (guidelines rule B4).

    ``texts`` are the corpus's, a span's document at its ``doc_row``: taken there, not joined by doc_id (a join
    hashed every corpus document's id twice a batch, 0.7 ms each at 13,000 documents, and more with the corpus).
    """
    candidates = _with_rest_settled(_proclitic_candidates(spans, texts, entity_layer), spans, entity_layer)
    words = _separate_words(candidates, texts).select(pl.struct("doc_row", "first_word")).to_series()
    found = (
        # a struct among a few hundred, not a left join on two keys (1.8 → 0.9 ms a batch)
        candidates.with_columns(as_word=pl.struct("doc_row", "first_word").is_in(words.implode()))
        .filter(pl.col("with_article") | pl.col("annotated") | pl.col("as_word"))
        .select(
            "row",
            proclitic_rest=pl.col("rest"),
            proclitic_reason=pl.when("with_article").then(pl.lit("it starts with the article ال"))
            .when("annotated").then(pl.lit("it is annotated as an entity elsewhere"))
            .otherwise(pl.format("«{}» is a separate word in the document", "first_word")),
        )
    )
    return _beside(spans, found)


def _proclitic_candidates(spans: pl.DataFrame, texts: pl.Series, entity_layer: str) -> pl.DataFrame:
    """Entities of two letters or more after a proclitic first letter, but not a ل right after a ل; with that ``rest``."""
    rest = pl.col("placed_text").str.slice(1)
    candidates = spans.select("row", "key", "doc_row", "kind", "layer", "placed_text", "start").filter(
        _BY_PEOPLE
        & (pl.col("layer") == entity_layer)
        # a proclitic and two characters more, by one search anchored at the text's start
        & pl.col("placed_text").str.contains(f"(?s)^[{PROCLITICS}]..").fill_null(False)
    )
    after_lam = (
        candidates.filter(pl.col("placed_text").str.starts_with(LAM) & (pl.col("start") > 0))
        .filter(pl.lit(texts).gather(pl.col("doc_row")).str.slice(pl.col("start") - 1, 1) == LAM)
        .select("row")
    )
    return candidates.join(after_lam, on="row", how="anti", maintain_order="left").select(
        "row", "key", "doc_row", rest=rest, first_word=rest.str.extract(f"^([{WORD_CHARS}]+)", 1)
    )


def _with_rest_settled(candidates: pl.DataFrame, spans: pl.DataFrame, entity_layer: str) -> pl.DataFrame:
    """The two tests that need no document words: ``with_article`` and ``annotated`` (the rest is an entity of the annotation)."""
    entity_texts = (
        spans.select("key", "layer", "placed_text")
        .filter((pl.col("layer") == entity_layer) & pl.col("placed_text").is_in(candidates["rest"].unique().implode()))
        .select(pl.struct("key", rest="placed_text"))
        .to_series()
    )
    return candidates.with_columns(
        with_article=pl.col("rest").str.starts_with(ARTICLE) & (pl.col("rest").str.len_chars() >= len(ARTICLE) + 2),
        # a struct among the entities' texts, not a left join on two keys (1.05 → 0.45 ms a batch)
        annotated=pl.struct("key", "rest").is_in(entity_texts.implode()),
    )


def _separate_words(candidates: pl.DataFrame, texts: pl.Series) -> pl.DataFrame:
    """The (``doc_row``, first word) of candidates not settled yet where the word stands alone somewhere in the document.

    A candidate's own occurrence follows its proclitic, a letter: a text that holds the word once holds it
    only there. Any other text is split at the word, and occurrence i stands alone when piece i ends, and
    piece i+1 begins, with a character that is not a letter or mark (or is the text's start, or end). The
    split finds occurrences left to right without overlap; one it skips starts inside another, after a
    letter, so never stands alone. Splitting only the texts that hold the word twice, against every word of
    every such document by a regular expression: 0.35 → 0.25 s of CPU at 1M span results.
    """
    open_ = candidates.filter(~pl.col("with_article") & ~pl.col("annotated") & (pl.col("first_word").str.len_chars() >= MIN_WORD))
    word = pl.col("first_word")
    pairs = (
        open_.select("doc_row", "first_word").unique()
        .with_columns(text=pl.lit(texts).gather(pl.col("doc_row")))
        .filter(pl.col("text").str.count_matches(word, literal=True) > 1)
        .with_row_index("pair")
    )
    outside = f"^[^{WORD_CHARS}]$"
    piece = pl.col("piece")
    pieces = (
        pairs.select("pair", piece=pl.col("text").str.split(word))
        .with_columns(at=pl.int_ranges(piece.list.len()), last=piece.list.len() - 1)
        .explode("piece", "at")
        .with_columns(
            ends_apart=pl.when(piece == "").then(pl.col("at") == 0).otherwise(piece.str.tail(1).str.contains(outside)),
            begins_apart=pl.when(piece == "").then(pl.col("at") == pl.col("last")).otherwise(piece.str.head(1).str.contains(outside)),
        )
    )
    # the next row is the next piece of the same text unless this piece is its last: windows over each pair (a rank and
    # a shift) took 3 of this function's 11 ms a batch
    alone = pieces.filter(pl.col("ends_apart") & pl.col("begins_apart").shift(-1) & (pl.col("at") < pl.col("last"))).get_column("pair")
    return pairs.filter(pl.col("pair").is_in(alone.implode())).select("doc_row", "first_word", as_word=pl.lit(True))


def _relations(owners: pl.DataFrame, relations: pl.DataFrame, spans: pl.DataFrame, scheme: Scheme) -> pl.DataFrame:
    rules = pl.DataFrame(
        {
            "label": [r.label for r in scheme.relations],
            "rule_layer": [r.layer for r in scheme.relations],
            "rule_from": [r.from_label for r in scheme.relations],
            "rule_to": [r.to_label for r in scheme.relations],
        }
    )
    named = pl.concat([relations.select("key", region_id="from_region"), relations.select("key", region_id="to_region")]).unique()
    ends = (
        spans.select("key", "region_id", "layer", "label")
        .join(named, on=["key", "region_id"], how="semi")
        .group_by("key", "region_id")
        .agg(count=pl.len(), layer=pl.col("layer").first(), label_of=pl.col("label").first())
    )
    frame = _numbered(_owner_columns(relations, owners))
    for end in ("from", "to"):
        renamed = ends.rename({"region_id": f"{end}_region", "count": f"{end}_count", "layer": f"{end}_layer", "label_of": f"{end}_label"})
        frame = frame.join(renamed, on=["key", f"{end}_region"], how="left", maintain_order="left")
    dup_group = ["key", "from_region", "to_region", "label"]
    return (
        frame.join(rules, on="label", how="left", maintain_order="left")
        .with_columns(
            pl.col("from_count").fill_null(0).cast(pl.Int64),
            pl.col("to_count").fill_null(0).cast(pl.Int64),
            relation_labels=pl.lit(", ".join(scheme.relation_labels)),
            # a rank in each group by a window (int_range over the group) took 3 ms a batch, against 0.35
            repeated=~pl.struct(dup_group).is_first_distinct(),
        )
        .with_columns(
            ends_ok=(
                pl.col("rule_from").is_not_null() & (pl.col("from_count") == 1) & (pl.col("to_count") == 1)
                & (pl.col("from_layer") == pl.col("rule_layer")) & (pl.col("to_layer") == pl.col("rule_layer"))
                & (pl.col("from_label") == pl.col("rule_from")) & (pl.col("to_label") == pl.col("rule_to"))
            ).fill_null(False)
        )
    )


def _choices(owners: pl.DataFrame, choices: pl.DataFrame, spans: pl.DataFrame) -> pl.DataFrame:
    # the choice's (key, region_id) among the regions' that choices name, as structs: two joins took 2.7 ms a batch, this 2.1
    region = pl.struct("key", "region_id")
    named = spans.filter(pl.col("region_id").is_in(choices.get_column("region_id").implode())).select(region).to_series()
    return _owner_columns(choices, owners).with_columns(region_exists=region.is_in(named.implode())).pipe(_numbered)
