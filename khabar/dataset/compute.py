"""What a build computes from its inputs, before anything is written: adjudication, splits, the three configs, agreement, figures and report."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from khabar.annotation.scheme import Scheme
from khabar.dataset.agreement import agreement, prediction_quality
from khabar.dataset.configs import annotator_document_table, document_table, quote_table, token_table
from khabar.dataset.datasheet import Figures
from khabar.dataset.figures import alignment_report, alignment_totals, build_report, datasheet_figures, per_label
from khabar.dataset.iob import Alignment
from khabar.dataset.layout import ConfigName
from khabar.dataset.links import read_ambiguous_sources, read_clusters, read_links
from khabar.dataset.release import Release
from khabar.dataset.splits import SplitPlan, plan_splits
from khabar.foundation.memory import cycle_collector_paused
from khabar.gold.adjudicate import Gold, Policy, adjudicate, committed_reasons
from khabar.gold.inputs import BuildInputs

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class Built:
    """Everything computed from the inputs, before anything is written."""

    release: Release
    scheme: Scheme
    inputs: BuildInputs
    gold: Gold
    plan: SplitPlan
    tables: dict[ConfigName, dict[str, pa.Table]]  # config → split → rows, as written
    figures: Figures
    report: dict


def _ordered_splits(release: Release, plan: SplitPlan) -> list[str]:
    present = set(plan.split_of.values())
    return [name for name, _ in release.splits if name in present]


def _by_split(table: pa.Table, doc_key: str, split_of: dict[str, str], splits: list[str]) -> dict[str, pa.Table]:
    """The rows of each split, in table order."""

    def documents_of(split: str) -> pa.Array:
        return pa.array([doc_id for doc_id, name in split_of.items() if name == split], pa.string())

    # pyarrow.compute makes its functions at import time: mypy cannot see is_in
    return {name: table.filter(pc.is_in(table[doc_key], value_set=documents_of(name))) for name in splits}  # type: ignore[attr-defined]


@cycle_collector_paused()
def compute(inputs: BuildInputs, release: Release, scheme: Scheme, *, per_annotator: bool = False) -> Built:
    """Adjudicate, plan the splits, make the three configs and measure agreement; progress goes to the log."""
    docs = inputs.documents.sort("doc_id")
    LOG.info(f"read {docs.height} documents, {inputs.annotations.height} annotations, {inputs.spans.height} spans, {inputs.relations.height} relations")
    gold = adjudicate(inputs)
    policies = Counter(d.policy for d in gold.decisions)
    LOG.info("adjudicated: " + ", ".join(f"{policy} {n}" for policy, n in sorted(policies.items())) + f"; {len(gold.review)} for review")
    texts = dict(docs.select("doc_id", "text").iter_rows())
    stories = dict(docs.select("doc_id", "story").iter_rows())
    plan = plan_splits(texts, stories, release)
    splits = _ordered_splits(release, plan)
    split_of = plan.split_of
    LOG.info("splits: " + ", ".join(f"{s} {sum(1 for v in split_of.values() if v == s)}" for s in splits) + (f" ({plan.reason})" if plan.reason else ""))

    # agreement before the configs, and only the configs' split tables kept: agreement's joins then peak
    # without the configs beside them (1M span results: the build's peak RSS 1.78 → 1.52 GB)
    agree = agreement(inputs, scheme.layer_names, gold=gold, reasons=committed_reasons())
    annotated = [d.doc_id for d in gold.decisions if d.policy is not Policy.NOT_ANNOTATED]
    quality = prediction_quality(inputs.predictions_spans, gold.spans, annotated, scheme.layer_names)
    tables, tokens, alignment = _split_configs(inputs, gold, scheme, split_of, splits, per_annotator=per_annotator)
    figures = datasheet_figures(release, scheme, inputs, gold, plan, splits, tokens, agree, quality, alignment)
    report = build_report(release, inputs, gold, plan, agree, quality, tables, per_annotator=per_annotator)
    report["tokens_alignment"] = alignment_report(alignment, scheme)
    return Built(release, scheme, inputs, gold, plan, tables, figures, report)


def _split_configs(inputs: BuildInputs, gold: Gold, scheme: Scheme, split_of: dict[str, str], splits: list[str], *,
                   per_annotator: bool) -> tuple[dict[ConfigName, dict[str, pa.Table]], pa.Table, Counter[tuple[str, Alignment]]]:
    """The three configs cut into their splits (config → split → rows), the whole ``tokens`` config (for the
    figures) and how the entities came onto its tokens; the whole ``documents`` and ``quotes`` are dropped once cut."""
    docs = inputs.documents.sort("doc_id")
    links, clusters = read_links(), read_clusters()
    rows: dict[ConfigName, int] = {}

    def cut(config: ConfigName, table: pa.Table, doc_key: str) -> dict[str, pa.Table]:
        rows[config] = table.num_rows
        return _by_split(table, doc_key, split_of, splits)

    if per_annotator:
        documents = annotator_document_table(docs, inputs.annotations, inputs.spans, inputs.relations, scheme, links)
    else:
        documents = document_table(docs, gold.spans, gold.relations, scheme, links)
    tables: dict[ConfigName, dict[str, pa.Table]] = {"documents": cut("documents", documents, "id")}
    del documents  # the whole table is not kept beside its splits
    tokens, alignment = token_table(docs, gold.spans, scheme)
    LOG.info("entities on tokens: " + (", ".join(f"{how} {n}{per_label(alignment, how)}" for how, n in alignment_totals(alignment)) or "none"))
    tables["tokens"] = cut("tokens", tokens, "doc_id")
    tables["quotes"] = cut("quotes", quote_table(gold.spans, gold.relations, scheme, links, clusters, read_ambiguous_sources()), "doc_id")
    LOG.info(f"configs: documents {rows['documents']}, tokens {rows['tokens']} sentences, quotes {rows['quotes']}")
    return tables, tokens, alignment
