"""The knowledge base and the links of ``annotation/kb/``, read as polars frames.

``entities.csv`` (entity_id, type, canonical_name, aliases, wikidata): one row per
real-world entity, aliases ``|``-separated. ``links.csv`` (doc_id, start, end, label,
entity_id): the entry an entity span names, :data:`NOT_IN_BASE` when it names none
on purpose. ``quote_clusters.csv`` (doc_id, start, end, cluster_id): the statement a
CONTENT reports. A missing file is an empty frame (a corpus not linked yet); a file
that is there but unreadable or lacks a column is a :class:`KhabarError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import polars as pl

from khabar.annotation.errors import EXIT_UNUSABLE_INPUT, KhabarError
from khabar.annotation.paths import repo

#: The entity_id of a link that says "this mention names nothing in the base".
NOT_IN_BASE = "-"
ENTITIES_FILE = "entities.csv"
LINKS_FILE = "links.csv"
CLUSTERS_FILE = "quote_clusters.csv"

ENTITIES_SCHEMA: dict[str, type[pl.DataType]] = {"entity_id": pl.String, "type": pl.String, "canonical_name": pl.String, "aliases": pl.String, "wikidata": pl.String}
LINKS_SCHEMA: dict[str, type[pl.DataType]] = {"doc_id": pl.String, "start": pl.Int64, "end": pl.Int64, "label": pl.String, "entity_id": pl.String}
CLUSTERS_SCHEMA: dict[str, type[pl.DataType]] = {"doc_id": pl.String, "start": pl.Int64, "end": pl.Int64, "cluster_id": pl.String}


def kb_dir() -> Path:
    return repo().root / "annotation" / "kb"


def _read(path: Path, schema: Mapping[str, type[pl.DataType]]) -> pl.DataFrame:
    if not path.exists():
        return pl.DataFrame(schema=schema)
    try:
        frame = pl.read_csv(path, schema_overrides=schema, infer_schema=False)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise KhabarError(f"cannot read the table: {str(exc).splitlines()[0]}", file=str(path), exit_status=EXIT_UNUSABLE_INPUT) from None
    missing = [name for name in schema if name not in frame.columns]
    if missing:
        raise KhabarError(f"missing column(s) {', '.join(missing)}; expected {','.join(schema)}", file=str(path), exit_status=EXIT_UNUSABLE_INPUT)
    try:
        frame = frame.select(pl.col(name).cast(dtype) for name, dtype in schema.items())
    except pl.exceptions.PolarsError as exc:
        raise KhabarError(f"a value of the wrong type: {str(exc).splitlines()[0]}", file=str(path), exit_status=EXIT_UNUSABLE_INPUT) from None
    # an empty cell is a missing value, uniformly null (never '')
    return frame.with_columns(pl.col(name).replace("", None) for name, dtype in schema.items() if dtype == pl.String)


def read_entities(folder: Path | None = None) -> pl.DataFrame:
    """The knowledge base: one row per entity."""
    return _read((folder or kb_dir()) / ENTITIES_FILE, ENTITIES_SCHEMA)


def read_links(folder: Path | None = None) -> pl.DataFrame:
    """Entity span → entity_id (or :data:`NOT_IN_BASE`)."""
    return _read((folder or kb_dir()) / LINKS_FILE, LINKS_SCHEMA)


def read_clusters(folder: Path | None = None) -> pl.DataFrame:
    """CONTENT span → cluster_id."""
    return _read((folder or kb_dir()) / CLUSTERS_FILE, CLUSTERS_SCHEMA)


AMBIGUOUS_SCHEMA: dict[str, type[pl.DataType]] = {"doc_id": pl.String, "start": pl.Int64, "end": pl.Int64}


def read_ambiguous_sources(folder: Path | None = None) -> pl.DataFrame:
    """The CONTENT spans (doc_id, start, end) whose source link has two plausible readings, read by the base's
    one reader (:func:`khabar.kb.files.read`); no file, no flag."""
    from khabar.kb.files import AmbiguousSource, read

    rows = read(AmbiguousSource, folder)
    return pl.DataFrame([(r.doc_id, r.start, r.end) for r in rows], schema=AMBIGUOUS_SCHEMA, orient="row")


def released_entity_ids(links: pl.DataFrame) -> pl.DataFrame:
    """``links`` as the configs carry them: doc_id, start, end, label, entity_id, with
    :data:`NOT_IN_BASE` as null (a released id always names an entry of the base)."""
    return links.select("doc_id", "start", "end", "label", pl.col("entity_id").replace(NOT_IN_BASE, None)).unique(
        ["doc_id", "start", "end", "label"], keep="first", maintain_order=True
    )
