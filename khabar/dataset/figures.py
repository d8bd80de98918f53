"""The figures of the datasheet's generated block and the build report, from what :mod:`khabar.dataset.compute` computed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict

import polars as pl
import pyarrow as pa

from khabar.annotation.scheme import Scheme
from khabar.dataset.agreement import Agreement, PredictionQuality
from khabar.dataset.card import Shard
from khabar.dataset.configs import with_zones
from khabar.dataset.datasheet import Figures, SourceFigures
from khabar.dataset.features import zone_names
from khabar.dataset.iob import ALIGNMENTS
from khabar.dataset.layout import ConfigName
from khabar.dataset.release import Release
from khabar.dataset.splits import SplitPlan
from khabar.dataset.stats import label_counts
from khabar.gold.adjudicate import POLICY, Gold, Policy
from khabar.gold.inputs import BuildInputs


class TokenCounts:
    """The sentences and, per document, the tokens of the ``tokens`` config, counted as its rows are made."""

    def __init__(self) -> None:
        self.sentences = 0
        self.per_document: Counter[str] = Counter()

    def add(self, rows: pa.Table) -> None:
        """Count rows of the ``tokens`` config."""
        self.sentences += rows.num_rows
        for doc_id, length in zip(rows["doc_id"].to_pylist(), rows["tokens"].combine_chunks().value_lengths().to_pylist()):
            self.per_document[doc_id] += length


def alignment_totals(alignment: Counter) -> list[tuple[str, int]]:
    """(how, entities) over all labels, in :data:`~khabar.dataset.iob.ALIGNMENTS` order, zeros left out."""
    return [(how, n) for how in ALIGNMENTS if (n := sum(c for (_, h), c in alignment.items() if h == how))]


def per_label(alignment: Counter, how: str) -> str:
    """`` (GPE 47, ORG 19)``: the labels of the entities aligned ``how``, most first; nothing for exact ones."""
    if how == "exact":
        return ""
    counts = Counter({label: n for (label, h), n in alignment.items() if h == how})
    return " (" + ", ".join(f"{label} {n}" for label, n in sorted(counts.items(), key=lambda item: (-item[1], item[0]))) + ")"


def alignment_report(alignment: Counter, scheme: Scheme) -> dict:
    """Per label (the scheme's order), how its gold entities came onto the tokens."""
    return {label: {how: alignment[label, how] for how in ALIGNMENTS} for label in scheme.entity.labels if any(alignment[label, h] for h in ALIGNMENTS)}


def datasheet_figures(release: Release, scheme: Scheme, inputs: BuildInputs, gold: Gold, plan: SplitPlan, splits: list[str],
             tokens: TokenCounts, agree: Agreement, quality: tuple[PredictionQuality, ...], alignment: Counter) -> Figures:
    """The numbers of the datasheet's generated block."""
    docs = inputs.documents
    split_of = plan.split_of
    policies = Counter(d.policy for d in gold.decisions)
    counts = label_counts(gold.spans, scheme)
    tokens_per_doc = tokens.per_document
    spans_per = Counter(zip(gold.spans["doc_id"].to_list(), gold.spans["layer"].to_list()))
    per_source = []
    for source in sorted(set(docs["source"].to_list())):
        ids = docs.filter(pl.col("source") == source)["doc_id"].to_list()
        per_source.append(
            SourceFigures(
                source,
                len(ids),
                sum(tokens_per_doc[i] for i in ids),
                tuple((layer, sum(spans_per[i, layer] for i in ids)) for layer in scheme.layer_names),
            )
        )
    choices = scheme.attribution.quote_type
    contents = gold.spans.filter((pl.col("layer") == choices.layer) & (pl.col("label") == choices.label))
    quote_counts = Counter(contents[choices.name].fill_null("unset").to_list())
    relation_counts = Counter(gold.relations["label"].to_list())
    return Figures(
        version=release.version,
        documents=docs.height,
        annotated_documents=sum(1 for d in gold.decisions if d.policy is not Policy.NOT_ANNOTATED),
        annotations=inputs.annotations.height,
        annotators=inputs.annotations["annotator"].n_unique(),
        sentences=tokens.sentences,
        tokens=sum(tokens_per_doc.values()),
        per_source=tuple(per_source),
        labels=counts,
        relations=tuple((label, relation_counts[label]) for label in scheme.relation_labels),
        quotes=tuple((c, quote_counts[c]) for c in (*choices.choices, "unset") if quote_counts[c]),
        splits=tuple((s, sum(1 for v in split_of.values() if v == s)) for s in splits),
        split_reason=plan.reason,
        groups=len(plan.groups),
        near_duplicate_pairs=len(plan.near_duplicates),
        policies=tuple(sorted(policies.items())),
        review=tuple(d.doc_id for d in gold.review),
        agreement=agree,
        prediction=quality,
        model_versions=tuple(sorted(set(inputs.predictions_spans["model_version"].drop_nulls().to_list()))),
        alignment=tuple((label, tuple(counts.items())) for label, counts in alignment_report(alignment, scheme).items()),
        zones=_zone_counts(gold.spans, scheme),
    )


def _zone_counts(spans: pl.DataFrame, scheme: Scheme) -> tuple[tuple[str, tuple[tuple[str, int], ...]], ...]:
    """Per layer but the zones, and for CONTENT alone, the gold spans in each zone (BODY first)."""
    zoned = with_zones(spans, scheme)
    choices = scheme.attribution.quote_type
    groups = [(layer, pl.col("layer") == layer) for layer in scheme.layer_names if layer != scheme.zone.name]
    groups.append((choices.label, (pl.col("layer") == choices.layer) & (pl.col("label") == choices.label)))
    counted = []
    for name, where in groups:
        per_zone = Counter(zoned.filter(where)["zone"].to_list())
        counted.append((name, tuple((zone, per_zone[zone]) for zone in zone_names(scheme) if per_zone[zone])))
    return tuple(counted)


def build_report(release: Release, inputs: BuildInputs, gold: Gold, plan: SplitPlan, agree: Agreement,
            quality: tuple[PredictionQuality, ...], shards: Mapping[ConfigName, Sequence[Shard]], *, per_annotator: bool) -> dict:
    """``build_report.json``: what was read, decided and measured."""
    return {
        "name": release.name,
        "version": release.version,
        "per_annotator": per_annotator,
        "inputs": {
            "documents": inputs.documents.height,
            "annotations": inputs.annotations.height,
            "spans": inputs.spans.height,
            "relations": inputs.relations.height,
            "predicted_spans": inputs.predictions_spans.height,
        },
        "gold": {"spans": gold.spans.height, "relations": gold.relations.height},
        "adjudication": {"policy": POLICY, "decisions": [asdict(d) for d in gold.decisions]},
        "splits": {
            "assignment": dict(plan.assignment),
            "groups": [list(g) for g in plan.groups],
            "near_duplicates": [list(p) for p in plan.near_duplicates],
            "reason": plan.reason,
        },
        "agreement": agree.report(),
        "pre_annotator": [asdict(p) | {"precision": p.precision, "recall": p.recall} for p in quality],
        "rows": {config: {shard.split: shard.rows for shard in parts} for config, parts in shards.items()},
    }

