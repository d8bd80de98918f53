"""The figures of the datasheet's generated block and the build report, from what :mod:`khabar.dataset.compute` computed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, fields
from functools import cached_property

import polars as pl
import pyarrow as pa

from khabar.annotation.scheme import Scheme
from khabar.dataset.agreement import Agreement, PredictionQuality
from khabar.dataset.card import Shard
from khabar.dataset.datasheet import Figures, SourceFigures
from khabar.dataset.features import zone_names
from khabar.dataset.iob import ALIGNMENTS
from khabar.dataset.layout import ConfigName
from khabar.dataset.release import Release
from khabar.dataset.splits import SplitPlan
from khabar.dataset.stats import counted_labels
from khabar.gold.adjudicate import POLICY, Decision, Gold, Policy
from khabar.gold.inputs import InputCounts, Inputs


class TokenCounts:
    """The sentences and, per document, the tokens of the ``tokens`` config, counted as its rows are made."""

    def __init__(self) -> None:
        self.sentences = 0
        self.parts: list[pl.DataFrame] = []  # doc_id, tokens: one row per sentence, a frame per range

    def add(self, rows: pa.Table) -> None:
        """Count rows of the ``tokens`` config."""
        self.sentences += rows.num_rows
        lengths = pl.from_arrow(rows["tokens"].combine_chunks().value_lengths()).cast(pl.Int64)
        self.parts.append(pl.DataFrame({"doc_id": pl.from_arrow(rows["doc_id"]), "tokens": lengths}))

    @property
    def per_document(self) -> pl.DataFrame:
        """doc_id, tokens: one row per sentence counted."""
        return pl.concat(self.parts) if self.parts else pl.DataFrame(schema={"doc_id": pl.String, "tokens": pl.Int64})


def _counts(frame: pl.DataFrame, *columns: str) -> dict:
    """The rows of ``frame`` per value of ``columns`` (a tuple of values when there are several), counted by polars."""
    counted = frame.group_by(*columns).len().iter_rows()
    return {row[0]: row[-1] for row in counted} if len(columns) == 1 else {row[:-1]: row[-1] for row in counted}


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


#: The fields of a decision in the report (``asdict`` copies each value: 13k decisions, 0.22 → 0.01 s).
DECISION_FIELDS = tuple(f.name for f in fields(Decision))
#: A frame of decisions: their fields (the policy its value, the tuples lists).
DECISION_SCHEMA = pl.Schema(zip(DECISION_FIELDS, (pl.String, pl.String, pl.List(pl.Int64), pl.List(pl.String), pl.Boolean, pl.String), strict=True))


class GoldCounts:
    """What the figures and the report say of the gold, added up one range of documents at a time."""

    def __init__(self, scheme: Scheme) -> None:
        self.scheme = scheme
        self.decided: list[pl.DataFrame] = []  # a range's decisions as a frame of their fields (see decisions)
        self.spans = 0
        self.relations = 0
        self.labels: Counter[tuple[str, str]] = Counter()  # (layer, label)
        self.parts: list[pl.DataFrame] = []  # doc_id, layer, spans: a frame per range
        self.quote_types: Counter[str] = Counter()
        self.relation_labels: Counter[str] = Counter()
        self.zones: Counter[tuple[str, str]] = Counter()  # (layer, or CONTENT alone; zone)

    def add(self, gold: Gold, placed: pl.DataFrame) -> None:
        """Count the gold of a range of documents (``placed``: its spans as :func:`~khabar.dataset.configs.placed_spans` gives them)."""
        spans, scheme, choices = gold.spans, self.scheme, self.scheme.attribution.quote_type
        self.__dict__.pop("decisions", None)  # made again, with this range's, when next read
        self.decided.append(pl.DataFrame([[getattr(d, name) for d in gold.decisions] for name in DECISION_FIELDS], schema=DECISION_SCHEMA, orient="col"))
        self.spans += spans.height
        self.relations += gold.relations.height
        self.parts.append(spans.group_by("doc_id", "layer").agg(spans=pl.len().cast(pl.Int64)))
        self.relation_labels.update(_counts(gold.relations, "label"))
        # labels, zones and quote types from one count of the spans (``placed`` holds each span once, with its
        # zone), not four (1M news: GoldCounts.add 0.10 → 0.05 s CPU)
        zones = zone_names(scheme)
        for layer, label, zone, choice, n in placed.group_by("layer", "label", "zone", choices.name).len().iter_rows():
            self.labels[layer, label] += n
            if layer != scheme.zone.name:
                self.zones[layer, zones[zone]] += n
            if (layer, label) == (choices.layer, choices.label):
                self.zones[choices.label, zones[zone]] += n
                self.quote_types[choice if choice is not None else "unset"] += n

    @property
    def per_document(self) -> pl.DataFrame:
        """doc_id, layer, spans: the gold spans counted per document and layer."""
        return pl.concat(self.parts) if self.parts else pl.DataFrame(schema={"doc_id": pl.String, "layer": pl.String, "spans": pl.Int64})

    @cached_property
    def decisions(self) -> tuple[Decision, ...]:
        """Every range's decisions, made objects once the last range is added: kept as frames until then, so the
        ranges' memory does not grow by their objects (see :attr:`~khabar.dataset.agreement.AgreementSums.passes`)."""
        return tuple(
            Decision(doc_id, Policy(policy), tuple(ids), tuple(annotators), review, note)
            for part in self.decided for doc_id, policy, ids, annotators, review, note in part.iter_rows()
        )

    @property
    def review(self) -> tuple[Decision, ...]:
        return tuple(d for d in self.decisions if d.review)

    def zone_figures(self) -> tuple[tuple[str, tuple[tuple[str, int], ...]], ...]:
        """Per layer but the zones, and for CONTENT alone, the gold spans in each zone (BODY first)."""
        scheme = self.scheme
        names = [layer for layer in scheme.layer_names if layer != scheme.zone.name] + [scheme.attribution.quote_type.label]
        return tuple((name, tuple((zone, self.zones[name, zone]) for zone in zone_names(scheme) if self.zones[name, zone])) for name in names)


def datasheet_figures(release: Release, scheme: Scheme, inputs: Inputs, counts: InputCounts, gold: GoldCounts, plan: SplitPlan, splits: list[str],
             tokens: TokenCounts, agree: Agreement, quality: tuple[PredictionQuality, ...], alignment: Counter) -> Figures:
    """The numbers of the datasheet's generated block."""
    docs = inputs.documents
    split_of = plan.split_of
    policies = Counter(d.policy for d in gold.decisions)
    sources = docs.select("doc_id", "source")
    documents = dict(sources.group_by("source").len().iter_rows())
    tokens_per_document = tokens.per_document
    token_sums = dict(sources.join(tokens_per_document, on="doc_id").group_by("source").agg(pl.col("tokens").sum()).iter_rows())
    span_sums = {(source, layer): n for source, layer, n in sources.join(gold.per_document, on="doc_id").group_by("source", "layer").agg(pl.col("spans").sum()).iter_rows()}
    per_source = [
        SourceFigures(source, documents[source], token_sums.get(source, 0), tuple((layer, span_sums.get((source, layer), 0)) for layer in scheme.layer_names))
        for source in sorted(documents)
    ]
    choices = scheme.attribution.quote_type
    return Figures(
        version=release.version,
        documents=docs.height,
        annotated_documents=sum(1 for d in gold.decisions if d.policy is not Policy.NOT_ANNOTATED),
        annotations=inputs.annotations.height,
        annotators=inputs.annotations["annotator"].n_unique(),
        sentences=tokens.sentences,
        tokens=int(tokens_per_document["tokens"].sum()),
        per_source=tuple(per_source),
        labels=counted_labels(gold.labels, scheme),
        relations=tuple((label, gold.relation_labels[label]) for label in scheme.relation_labels),
        quotes=tuple((c, gold.quote_types[c]) for c in (*choices.choices, "unset") if gold.quote_types[c]),
        splits=tuple((s, sum(1 for v in split_of.values() if v == s)) for s in splits),
        split_reason=plan.reason,
        groups=len(plan.groups),
        near_duplicate_pairs=len(plan.near_duplicates),
        policies=tuple(sorted(policies.items())),
        review=tuple(d.doc_id for d in gold.review),
        agreement=agree,
        prediction=quality,
        model_versions=counts.model_versions,
        alignment=tuple((label, tuple(counts.items())) for label, counts in alignment_report(alignment, scheme).items()),
        zones=gold.zone_figures(),
    )


def build_report(release: Release, inputs: Inputs, counts: InputCounts, gold: GoldCounts, plan: SplitPlan, agree: Agreement,
            quality: tuple[PredictionQuality, ...], shards: Mapping[ConfigName, Sequence[Shard]], *, per_annotator: bool) -> dict:
    """``build_report.json``: what was read, decided and measured."""
    return {
        "name": release.name,
        "version": release.version,
        "per_annotator": per_annotator,
        "inputs": {
            "documents": inputs.documents.height,
            "annotations": inputs.annotations.height,
            "spans": counts.spans,
            "relations": counts.relations,
            "predicted_spans": counts.predicted_spans,
        },
        "gold": {"spans": gold.spans, "relations": gold.relations},
        "adjudication": {"policy": POLICY, "decisions": [{name: getattr(d, name) for name in DECISION_FIELDS} for d in gold.decisions]},
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

