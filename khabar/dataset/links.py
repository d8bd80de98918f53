"""The knowledge base of ``annotation/kb/`` as polars frames, for the build.

What the files hold, their columns and their one reader are :mod:`khabar.kb.files`;
this module only turns those rows into frames keyed the way the configs join them
(doc_id, start, end[, label]). A missing file is an empty frame (a corpus not linked
yet); an empty cell is null, never ``''``.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from khabar.kb.files import NOT_IN_BASE, AmbiguousSource, Cluster, Entity, Link, Row, read_frame, schema

LINKS_SCHEMA = schema(Link)
CLUSTERS_SCHEMA = schema(Cluster)
#: what the quotes config joins on: the flagged CONTENT spans
AMBIGUOUS_SCHEMA = {name: dtype for name, dtype in schema(AmbiguousSource).items() if name != "readings"}


def frame(kind: type[Row], folder: Path | None = None, *, rows: pl.DataFrame | None = None) -> pl.DataFrame:
    """The rows of a file of the base (read from ``folder``, or ``rows`` as :func:`read_frame` gave them), an empty
    cell null. A column without an empty cell is kept as it is, not copied: a base that passes its checks, the only
    one a build writes, has none."""
    rows = read_frame(kind, folder) if rows is None else rows
    empty = [name for name, dtype in rows.schema.items() if dtype == pl.String and (rows[name] == "").any()]
    return rows.with_columns(pl.col(name).replace("", None) for name in empty)


def read_entities(folder: Path | None = None) -> pl.DataFrame:
    """The knowledge base: one row per entity."""
    return frame(Entity, folder)


def read_links(folder: Path | None = None, *, rows: pl.DataFrame | None = None) -> pl.DataFrame:
    """Entity span → entity_id (or :data:`NOT_IN_BASE`)."""
    return frame(Link, folder, rows=rows)


def read_clusters(folder: Path | None = None, *, rows: pl.DataFrame | None = None) -> pl.DataFrame:
    """CONTENT span → cluster_id."""
    return frame(Cluster, folder, rows=rows)


def read_ambiguous_sources(folder: Path | None = None, *, rows: pl.DataFrame | None = None) -> pl.DataFrame:
    """The CONTENT spans (doc_id, start, end) whose source link has two plausible readings; no file, no flag."""
    return frame(AmbiguousSource, folder, rows=rows).select(list(AMBIGUOUS_SCHEMA))


def released_entity_ids(links: pl.DataFrame) -> pl.DataFrame:
    """``links`` as the configs carry them: doc_id, start, end, label, entity_id, with
    :data:`NOT_IN_BASE` as null (a released id always names an entry of the base)."""
    return links.select("doc_id", "start", "end", "label", pl.col("entity_id").replace(NOT_IN_BASE, None)).unique(
        ["doc_id", "start", "end", "label"], keep="first", maintain_order=True
    )
