"""The four tables every stage speaks (documents, annotations, spans, relations), as polars schemas.

Readers produce them, pandera validates them (``validation/schemas.py``) and
the builder consumes them. Offsets are Python ``str`` indices (code points)
into ``documents.text``.
"""

from __future__ import annotations

import polars as pl

DOCUMENTS = pl.Schema(
    {
        "doc_id": pl.String,
        "text": pl.String,
        "source": pl.String,
        "url": pl.String,
        "published": pl.String,  # ISO date, or null when the page does not say
        "title": pl.String,
        "story": pl.String,
        "language": pl.String,
    }
)

ANNOTATIONS = pl.Schema(
    {
        "annotation_id": pl.Int64,
        "task_id": pl.Int64,
        "doc_id": pl.String,
        "annotator": pl.String,  # a pseudonym, never an email or a name
        "created_at": pl.String,
        "updated_at": pl.String,
        "lead_time": pl.Float64,
        "was_cancelled": pl.Boolean,
        "ground_truth": pl.Boolean,
    }
)

SPANS = pl.Schema(
    {
        "annotation_id": pl.Int64,
        "doc_id": pl.String,
        "region_id": pl.String,
        "layer": pl.String,
        "label": pl.String,
        "start": pl.Int64,
        "end": pl.Int64,
        "text": pl.String,
        "quote_type": pl.String,  # CONTENT only
    }
)

RELATIONS = pl.Schema(
    {
        "annotation_id": pl.Int64,
        "doc_id": pl.String,
        "from_region": pl.String,
        "to_region": pl.String,
        "label": pl.String,
    }
)


def empty(schema: pl.Schema) -> pl.DataFrame:
    """A table with no rows and the right columns."""
    return pl.DataFrame(schema=schema)
