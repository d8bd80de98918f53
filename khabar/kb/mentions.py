"""What the knowledge base must cover: the gold's linkable mentions and its CONTENT spans.

The gold is the adjudicated gold of the committed export (:mod:`khabar.gold.adjudicate`).
A linkable mention is an entity span of a linkable type that does not lie inside a zone
excluded from linking (the teasers of other stories). Every CONTENT, wherever it lies,
gets a quote cluster.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from khabar.annotation.scheme import Scheme, load_scheme
from khabar.foundation.errors import KhabarError
from khabar.gold.adjudicate import Gold, adjudicated_ranges
from khabar.gold.inputs import FrameTexts, Inputs

#: the entity types that name one real-world thing (people, groups, organisations, places, buildings)
LINKABLE = ("PERS", "NORP", "ORG", "GPE", "FAC")
#: the zone whose spans belong to other stories: their entities are not linked
EXCLUDED_ZONE = "RELATED"
MENTIONS = pl.Schema({"doc_id": pl.String, "start": pl.Int64, "end": pl.Int64, "label": pl.String, "text": pl.String})


#: what a row of links.csv and of quote_clusters.csv names: a gold mention by offsets and label, a CONTENT by offsets
LINK_KEY = ["doc_id", "start", "end", "label"]
SPAN_KEY = ["doc_id", "start", "end"]
#: gold rows taken at once with a file's rows of the same documents (:func:`document_slices`). Joined whole, the
#: 778,544 linkable mentions of a 3M-span export and the rows of links.csv took 350 MB more (polars' joins on the
#: four key columns), past 1 GB for ``khabar build``; a slice at a time, 33 MB. Sorting both frames by document
#: to slice them, instead of finding each row's slice, took 170 MB (the sorted copies)
SLICE_ROWS = 50_000


def document_slices(gold: pl.DataFrame, rows: pl.DataFrame) -> Iterator[tuple[pl.DataFrame, pl.DataFrame]]:
    """``gold`` and a file's ``rows`` a slice of documents at a time, each row with its place in its own frame
    (``place``): a span's rows and its gold are those of its document, so the documents are cut into slices of
    about :data:`SLICE_ROWS` gold rows and every row of either frame lies in one slice (in its frame's order
    within it; slice after slice in the frame's order when it is sorted by document, as :func:`gold_frames`'s are)."""
    # the document every SLICE_ROWS gold rows in, by document: a slice's first (a sort of the ids alone, 27 MB at
    # 3M; counted by a group_by on the documents, 80 MB)
    cuts = gold["doc_id"].sort().gather_every(SLICE_ROWS, offset=SLICE_ROWS).unique(maintain_order=True)
    gold, rows = (frame.with_row_index("place").with_columns(slice=cuts.search_sorted(frame["doc_id"], side="right")) for frame in (gold, rows))
    for number in range(cuts.len() + 1):
        yield gold.filter(pl.col("slice") == number).drop("slice"), rows.filter(pl.col("slice") == number).drop("slice")


def in_frame_order(slices: list[pl.DataFrame]) -> pl.DataFrame:
    """Rows taken from :func:`document_slices`' slices of one frame, back in that frame's order (``place`` dropped)."""
    return pl.concat(slices).sort("place").drop("place")


@dataclass(frozen=True)
class Roles:
    """The scheme's names this module relies on, checked against the scheme once."""

    content: str
    source: str
    attribution: str
    source_relation: str  # from a content to who said it
    entity: str
    zone: str

    @classmethod
    def of(cls, scheme: Scheme) -> Roles:
        missing = [label for label in LINKABLE if label not in scheme.entity.labels]
        if EXCLUDED_ZONE not in scheme.zone.labels:
            missing.append(EXCLUDED_ZONE)
        if missing:
            raise KhabarError(f"the scheme lacks {', '.join(missing)}, which the knowledge base links by")
        roles = scheme.attribution
        return cls(
            content=roles.content, source=roles.source, attribution=roles.layer.name, source_relation=roles.source_relation.label,
            entity=scheme.entity.name, zone=scheme.zone.name,
        )


def _outside_excluded_zones(spans: pl.DataFrame, gold_spans: pl.DataFrame, zone_layer: str) -> pl.DataFrame:
    zones = gold_spans.filter(pl.col("layer") == zone_layer, pl.col("label") == EXCLUDED_ZONE).select("doc_id", zone_start="start", zone_end="end")
    inside = (
        spans.with_row_index("row")
        .join(zones, on="doc_id")
        .filter(pl.col("start") >= pl.col("zone_start"), pl.col("end") <= pl.col("zone_end"))
        .select("row")
    )
    return spans.with_row_index("row").join(inside, on="row", how="anti").drop("row")


def linkable_mentions(gold: Gold) -> pl.DataFrame:
    """doc_id, start, end, label, text of every gold mention that needs a link, sorted."""
    roles = Roles.of(load_scheme())
    entities = gold.spans.filter(pl.col("layer") == roles.entity, pl.col("label").is_in(LINKABLE))
    return _outside_excluded_zones(entities, gold.spans, roles.zone).select(MENTIONS.names()).unique().sort(["doc_id", "start", "end", "label"])


def contents(gold: Gold, roles: Roles) -> pl.DataFrame:
    """doc_id, start, end, text of every gold CONTENT, with source_start/source_end of its sources (lists), sorted."""
    attribution = gold.spans.filter(pl.col("layer") == roles.attribution)
    content = attribution.filter(pl.col("label") == roles.content).select("doc_id", "region_id", "start", "end", "text")
    sources = (
        gold.relations.filter(pl.col("label") == roles.source_relation)
        .join(attribution.filter(pl.col("label") == roles.source).select("doc_id", to_region="region_id", source_start="start", source_end="end"),
              on=["doc_id", "to_region"])
        .group_by("doc_id", region_id="from_region")
        .agg("source_start", "source_end")
    )
    return (
        content.join(sources, on=["doc_id", "region_id"], how="left")
        .drop("region_id")
        .unique(["doc_id", "start", "end"], keep="first", maintain_order=True)
        .sort(["doc_id", "start", "end"])
    )


#: a gold CONTENT span with its sources' offsets, as :func:`contents` gives it
CONTENTS = pl.Schema({
    "doc_id": pl.String(), "start": pl.Int64(), "end": pl.Int64(), "text": pl.String(),
    "source_start": pl.List(pl.Int64), "source_end": pl.List(pl.Int64),
})


def range_frames(gold: Gold, roles: Roles) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The linkable mentions (:func:`linkable_mentions`) and the CONTENT spans (:func:`contents`) of a gold, in the
    schemas :data:`MENTIONS` and :data:`CONTENTS`."""
    return linkable_mentions(gold).cast(MENTIONS), contents(gold, roles).select(CONTENTS.names()).cast(CONTENTS)


def gold_frames(inputs: Inputs, roles: Roles) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The linkable mentions and the CONTENT spans (:func:`range_frames`) of the gold of ``inputs``, adjudicated a
    range of documents at a time as the build does (a document's mentions and contents depend on its own gold
    alone; the ranges come in doc_id order, so the frames are in the same order as if made whole). Made whole, the
    gold of 1M span results with a base covering it took ``khabar validate``'s peak to 0.96 GB (0.71 GB so)."""
    mentions, found = [pl.DataFrame(schema=MENTIONS)], [pl.DataFrame(schema=CONTENTS)]
    for _, gold in adjudicated_ranges(inputs):
        these, their_contents = range_frames(gold, roles)
        mentions.append(these)
        found.append(their_contents)
    return pl.concat(mentions), pl.concat(found)


def committed_gold() -> tuple[FrameTexts, pl.DataFrame, pl.DataFrame]:
    """The texts (a Python string only when asked for), the linkable mentions and the CONTENT spans
    (:func:`gold_frames`) of the repository's committed exports: the tables ``khabar validate`` kept for them, or
    validated here (without the base: it is what is being made). Validating them each time, ``khabar link
    propose`` after ``khabar validate`` took 11.9 s CPU for a committed export of 1M span results."""
    from khabar.foundation.export_files import export_paths
    from khabar.foundation.paths import repo
    from khabar.gold.load import load_ranged_inputs

    exports = export_paths(None)
    if not exports:
        raise KhabarError("no committed export to link", file=str(repo().exports_dir))
    inputs = load_ranged_inputs(exports, repo().documents_file)
    return (FrameTexts(inputs.texts()), *gold_frames(inputs, Roles.of(load_scheme())))


def export_paths_are_committed(paths: list[Path], documents_file: Path) -> bool:
    """Whether a validation reads the repository's own corpus and only its committed exports: the knowledge base describes those."""
    from khabar.foundation.paths import repo

    exports = repo().exports_dir.resolve()
    return bool(paths) and documents_file.resolve() == repo().documents_file.resolve() and all(p.resolve().parent == exports for p in paths)
