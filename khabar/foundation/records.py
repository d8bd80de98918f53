"""What a corpus record must hold beyond the types of its fields, each rule declared once.

A corpus record is a :class:`khabar.annotation.ingest.DocumentRecord`. The rules are polars
expressions over a frame of records, a column per field, true on the records that break
them. They are checked wherever records are read (:func:`khabar.annotation.ingest.framed_blocks`,
which every reader of ``documents.jsonl`` goes through), on a page's metadata before it
becomes a record (``pages.csv``, :func:`khabar.annotation.ingest.read_metadata`: the rules
of the fields it gives), and by the model of the corpus table
(:class:`khabar.foundation.tables.CorpusTable`); :data:`PAGE_RULES` only by ``khabar ingest``, the one
reader of ``file``. A title may be empty (a page without one), an empty ``url`` is released
as a null one, and the doc_id is not checked against its text's digest: every writer of
records gives that one, and a task without a doc_id that finds no record by its text's
digest is reported by the validation.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

#: the language of every corpus text (the scheme's labels and guidelines are for Arabic news)
LANGUAGE = "ar"


def is_day(values: pl.Expr) -> pl.Expr:
    """Whether each value is a day of the calendar written YYYY-MM-DD (2024-13-45, 2024-02-30 and 2024-9-24 are not)."""
    written = values.str.contains(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$") & ~values.str.starts_with("0000")  # no year 0 in ISO dates Python reads
    return written & values.str.to_date("%Y-%m-%d", strict=False).is_not_null()


def _blank(field: str) -> pl.Expr:
    return pl.col(field).str.strip_chars() == ""


@dataclass(frozen=True)
class RecordRule:
    """One rule of a record's ``field``: ``breaks`` is true on the records that break it, and a record that does is
    told ``problem``, a phrase after the field's name (``{value}``: the value, quoted)."""

    field: str
    breaks: pl.Expr
    problem: str


_CURRENT = pl.col("superseded_by").is_null()

#: The rules of one record, in the order a record's problems are reported.
FIELD_RULES = (
    RecordRule("doc_id", _blank("doc_id"), "is empty"),
    RecordRule("file", _blank("file"), "is empty"),
    RecordRule("text", pl.col("text") == "", "is empty"),
    RecordRule("source", _blank("source"), "is empty"),
    RecordRule("story", _blank("story"), "is empty"),  # the splits keep a story's documents together
    RecordRule("published", pl.col("published").is_not_null() & ~is_day(pl.col("published")), "is {value}, not a date written YYYY-MM-DD"),
    RecordRule(
        "published_evidence", pl.col("published").is_null() & _blank("published_evidence"),
        "is empty while 'published' is not given: a page without its date needs the evidence of when it was published",
    ),
    RecordRule("language", pl.col("language") != LANGUAGE, f"is {{value}}, not the corpus's language, {LANGUAGE!r}"),
    RecordRule("superseded_by", pl.col("superseded_by") == pl.col("doc_id"), "is {value}, the record's own doc_id"),
)

#: The rules between the records of one file, in the order they are reported: each needs every record. A chain of
#: ``superseded_by`` that never reaches a current record is refused by the reader, which follows it.
FILE_RULES = (
    RecordRule("doc_id", ~pl.col("doc_id").is_first_distinct(), "is {value}, which an earlier record has too: a doc_id names one record"),
    RecordRule("superseded_by", _CURRENT.not_() & ~pl.col("superseded_by").is_in(pl.col("doc_id").implode()), "is {value}, which is no record's doc_id"),
)

#: The rule of ``khabar ingest``, which keeps a page's records by the page's ``file``: it reads and writes no file
#: with two current records of one page. The other readers do not read ``file`` (it is not released), so a corpus
#: made elsewhere may give its records any names.
PAGE_RULES = (
    RecordRule(
        "file", _CURRENT & ~pl.col("file").is_first_distinct().over(_CURRENT),
        "is {value}, which an earlier current record (superseded_by null) has too: a page has one current record",
    ),
)


def first_broken(frame: pl.DataFrame, rules: tuple[RecordRule, ...]) -> tuple[int, RecordRule] | None:
    """The first row of ``frame`` that breaks one of ``rules`` (those of the fields it has), with the first rule it
    breaks; None when every row keeps them. One polars query, whatever the number of rules."""
    applied = [rule for rule in rules if rule.field in frame.columns]
    if not applied or frame.height == 0:
        return None
    rows = frame.select(rule.breaks.fill_null(False).arg_true().first().alias(str(i)) for i, rule in enumerate(applied)).row(0)
    found = [(row, i) for i, row in enumerate(rows) if row is not None]
    if not found:
        return None
    row, i = min(found)
    return row, applied[i]
