"""Rows read from exports → the public tables of :mod:`khabar.foundation.tables`.

- :func:`project_tables` gives the tables of the owners, regions and relations a
  caller kept (validation keeps those no rule excluded, batch by batch);
- :func:`read_exports` reads exports into the tables without checking their
  content; it refuses (KhabarError) an export with structural problems rather
  than leaving rows out.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from khabar.foundation.errors import KhabarError
from khabar.foundation.tables import ANNOTATIONS, PREDICTION_RELATIONS, PREDICTION_SPANS, RELATIONS, SPANS
from khabar.validation.reader import ANNOTATION, DRAFT, PREDICTION, RawExport, Tables, read_raw


def attach_quote_types(regions: pl.DataFrame, choices: pl.DataFrame) -> pl.DataFrame:
    """Regions with the ``quote_type`` of their (single) per-region choice."""
    single = (
        choices.filter(pl.col("choice").is_not_null())
        .group_by("key", "region_id")
        .agg(pl.col("choice").first().alias("quote_type"), pl.len().alias("quote_count"))
        .filter(pl.col("quote_count") == 1)
        .drop("quote_count")
    )
    return regions.join(single, on=["key", "region_id"], how="left", maintain_order="left")


def project_tables(raw: RawExport, owners: pl.DataFrame, regions: pl.DataFrame, relations: pl.DataFrame, *, corpus_text: bool = False) -> Tables:
    """The public tables for the given (already selected) owners, regions and relations.

    A span's ``text`` is the corpus text at its offsets, not value.text (the editor writes newlines as the
    two characters "\\n"): the regions' ``text`` is that already, or with ``corpus_text`` it is cut here.
    """
    docs = raw.tasks.select("file", "task_pos", "doc_id")
    owners = owners.join(docs, on=["file", "task_pos"], how="left", maintain_order="left")
    annotations = owners.filter(pl.col("kind") == ANNOTATION).rename({"owner_id": "annotation_id"})
    predictions = owners.filter(pl.col("kind") == PREDICTION).rename({"owner_id": "prediction_id", "annotator": "model_version"})
    doc_text = raw.documents.select("doc_id", pl.col("text").alias("doc_text"))

    def spans_of(owner_frame: pl.DataFrame, id_name: str, extra: list[str]) -> pl.DataFrame:
        frame = regions.join(owner_frame.select("key", id_name, "doc_id", *extra), on="key", how="inner", maintain_order="left")
        if corpus_text:
            frame = frame.join(doc_text, on="doc_id", how="left", maintain_order="left").with_columns(
                pl.col("doc_text").str.slice(pl.col("start"), pl.col("end") - pl.col("start")).alias("text")
            )
        return frame

    def relations_of(owner_frame: pl.DataFrame, id_name: str, extra: list[str]) -> pl.DataFrame:
        return relations.join(owner_frame.select("key", id_name, "doc_id", *extra), on="key", how="inner", maintain_order="left")

    return Tables(
        documents=raw.documents,
        annotations=annotations.select(ANNOTATIONS.names()),
        spans=spans_of(annotations, "annotation_id", []).select(SPANS.names()),
        relations=relations_of(annotations, "annotation_id", []).select(RELATIONS.names()),
        predictions_spans=spans_of(predictions, "prediction_id", ["task_id", "model_version"]).select(PREDICTION_SPANS.names()),
        predictions_relations=relations_of(predictions, "prediction_id", ["model_version"]).select(PREDICTION_RELATIONS.names()),
    )


def read_exports(paths: list[Path], documents: pl.DataFrame | Path) -> Tables:
    """Read exports into the tables without checking their content.

    Every annotation is kept (``was_cancelled`` says which were cancelled);
    drafts are not annotations and are left out. A structurally broken export
    (a result that is not an object, offsets that are not integers…) is
    refused with a :class:`KhabarError`: use :func:`khabar.validation.api.validate_exports`
    to get every problem reported and the usable rows.
    """
    raw = read_raw(paths, documents)
    where = raw.owners.select("key", "file", "task_id")
    for name, frame in (("owner", raw.owners), ("region", raw.regions), ("choice", raw.choices), ("relation", raw.relations)):
        bad = pl.col("problem").is_not_null() | (pl.col("raw").is_not_null() if "raw" in frame.columns else pl.lit(False))
        broken = frame.filter(bad)
        if broken.height:
            first = broken.join(where, on="key", how="left", suffix="_owner").row(0, named=True)
            raise KhabarError(
                f"{broken.height} malformed {name}(s), the first: {first['problem'] or first['raw']}; "
                "khabar validate reports all of them",
                file=first["file"], task=first["task_id"], region=first.get("region_id"),
            )
    owners = raw.owners.filter(pl.col("kind") != DRAFT)
    regions = attach_quote_types(raw.regions, raw.choices)
    return project_tables(raw, owners, regions, raw.relations, corpus_text=True)
