"""One gold annotation per document, by a declared policy.

1. An annotation marked ``ground_truth`` wins (the most recently updated one
   when several are; the document is then listed for review).
2. Otherwise a document's single annotation is gold.
3. Otherwise (one latest annotation per annotator) the spans that a majority of
   annotators drew identically (layer, label, start, end, quote_type) are kept,
   with the relations a majority drew between kept spans; the document is
   listed for review.

Documents without annotations get no spans and are reported as not annotated.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import polars as pl

from annotation.tables import RELATIONS, SPANS
from dataset.inputs import BuildInputs

POLICY = (
    "an annotation marked ground_truth wins; otherwise a single annotation is gold; otherwise the spans and "
    "relations that a majority of annotators drew identically are kept and the document is listed for review"
)
GOLD_SPANS = pl.Schema({name: dtype for name, dtype in SPANS.items() if name != "annotation_id"})
GOLD_RELATIONS = pl.Schema({name: dtype for name, dtype in RELATIONS.items() if name != "annotation_id"})

SpanKey = tuple[str, str, int, int, str | None]


@dataclass(frozen=True)
class Decision:
    doc_id: str
    policy: str  # ground_truth | single | majority | not_annotated
    annotation_ids: tuple[int, ...]
    annotators: tuple[str, ...]
    review: bool
    note: str = ""


@dataclass(frozen=True)
class Gold:
    spans: pl.DataFrame  # GOLD_SPANS, sorted by doc_id, layer, start, end, label
    relations: pl.DataFrame  # GOLD_RELATIONS
    decisions: tuple[Decision, ...]

    @property
    def review(self) -> tuple[Decision, ...]:
        return tuple(d for d in self.decisions if d.review)


def _key(span: dict) -> SpanKey:
    return (span["layer"], span["label"], span["start"], span["end"], span["quote_type"])


def latest_per_annotator(annotations: pl.DataFrame) -> pl.DataFrame:
    """Each annotator's most recently updated annotation of each document."""
    return (
        annotations.sort(["doc_id", "annotator", "updated_at", "annotation_id"])
        .group_by(["doc_id", "annotator"], maintain_order=True)
        .last()
        .sort(["doc_id", "annotation_id"])
    )


def _majority(doc_id: str, chosen: list[int], spans: dict[int, list[dict]], relations: dict[int, list[dict]]) -> tuple[list[dict], list[dict]]:
    needed = len(chosen) // 2 + 1
    counts = Counter(_key(s) for a in chosen for s in {_key(s): s for s in spans.get(a, [])}.values())
    kept: dict[SpanKey, dict] = {}
    for annotation_id in chosen:  # the lowest annotation id lends its region id
        for span in spans.get(annotation_id, []):
            if counts[_key(span)] >= needed and _key(span) not in kept:
                kept[_key(span)] = span
    relation_counts: Counter = Counter()
    for annotation_id in chosen:
        by_region = {s["region_id"]: _key(s) for s in spans.get(annotation_id, [])}
        drawn = {(r["label"], by_region.get(r["from_region"]), by_region.get(r["to_region"])) for r in relations.get(annotation_id, [])}
        relation_counts.update(drawn)
    kept_relations = [
        {"doc_id": doc_id, "from_region": kept[a]["region_id"], "to_region": kept[b]["region_id"], "label": label}
        for (label, a, b), count in relation_counts.items()
        if count >= needed and a in kept and b in kept
    ]
    return list(kept.values()), kept_relations


def adjudicate(inputs: BuildInputs) -> Gold:
    spans_by_annotation: dict[int, list[dict]] = {}
    for row in inputs.spans.sort(["annotation_id", "start", "end", "layer", "label"]).to_dicts():
        spans_by_annotation.setdefault(row["annotation_id"], []).append(row)
    relations_by_annotation: dict[int, list[dict]] = {}
    for row in inputs.relations.to_dicts():
        relations_by_annotation.setdefault(row["annotation_id"], []).append(row)
    annotations_by_doc: dict[str, list[dict]] = {}
    for row in inputs.annotations.sort(["doc_id", "annotation_id"]).to_dicts():
        annotations_by_doc.setdefault(row["doc_id"], []).append(row)
    latest = latest_per_annotator(inputs.annotations)

    gold_spans: list[dict] = []
    gold_relations: list[dict] = []
    decisions: list[Decision] = []
    for doc_id in sorted(inputs.documents["doc_id"].to_list()):
        annotations = annotations_by_doc.get(doc_id, [])
        truth = sorted((a for a in annotations if a["ground_truth"]), key=lambda a: (a["updated_at"] or "", a["annotation_id"]))
        if not annotations:
            decisions.append(Decision(doc_id, "not_annotated", (), (), review=False))
            continue
        if truth or len(annotations) == 1:
            winner = (truth or annotations)[-1]
            aid = winner["annotation_id"]
            note = f"{len(truth)} annotations are marked ground_truth; the latest wins" if len(truth) > 1 else ""
            decisions.append(
                Decision(doc_id, "ground_truth" if truth else "single", (aid,), (winner["annotator"],), review=len(truth) > 1, note=note)
            )
            gold_spans += spans_by_annotation.get(aid, [])
            gold_relations += relations_by_annotation.get(aid, [])
            continue
        chosen_rows = latest.filter(pl.col("doc_id") == doc_id).to_dicts()
        chosen = [a["annotation_id"] for a in chosen_rows]
        if len(chosen) == 1:  # one annotator, several annotations: the latest is theirs
            decisions.append(Decision(doc_id, "single", tuple(chosen), (chosen_rows[0]["annotator"],), review=False, note="latest of one annotator's annotations"))
            gold_spans += spans_by_annotation.get(chosen[0], [])
            gold_relations += relations_by_annotation.get(chosen[0], [])
            continue
        spans, relations = _majority(doc_id, chosen, spans_by_annotation, relations_by_annotation)
        gold_spans += spans
        gold_relations += relations
        decisions.append(
            Decision(
                doc_id,
                "majority",
                tuple(chosen),
                tuple(a["annotator"] for a in chosen_rows),
                review=True,
                note=f"kept {len(spans)} spans and {len(relations)} relations agreed by at least {len(chosen) // 2 + 1} of {len(chosen)} annotators",
            )
        )
    spans_frame = pl.DataFrame(gold_spans, schema=SPANS).select(GOLD_SPANS.names()) if gold_spans else pl.DataFrame(schema=GOLD_SPANS)
    relations_frame = (
        pl.DataFrame(gold_relations, schema=RELATIONS).select(GOLD_RELATIONS.names()) if gold_relations else pl.DataFrame(schema=GOLD_RELATIONS)
    )
    return Gold(
        spans=spans_frame.sort(["doc_id", "layer", "start", "end", "label", "region_id"]),
        relations=relations_frame.sort(["doc_id", "from_region", "to_region", "label"]),
        decisions=tuple(decisions),
    )


def annotator_versions(inputs: BuildInputs) -> list[tuple[str, str, int, pl.DataFrame, pl.DataFrame]]:
    """Every annotator's own version of each document: (doc_id, annotator, annotation_id, spans, relations)."""
    versions = []
    for row in latest_per_annotator(inputs.annotations).sort(["doc_id", "annotator"]).to_dicts():
        aid = row["annotation_id"]
        spans = inputs.spans.filter(pl.col("annotation_id") == aid).select(GOLD_SPANS.names())
        relations = inputs.relations.filter(pl.col("annotation_id") == aid).select(GOLD_RELATIONS.names())
        versions.append((row["doc_id"], row["annotator"], aid, spans.sort(["layer", "start", "end", "label"]), relations))
    return versions
