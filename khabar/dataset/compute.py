"""What a build computes from its inputs: adjudication, splits, the three configs (their shards written as they are made), agreement, figures and report."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import pyarrow as pa
import pyarrow.compute as pc

from khabar.annotation.scheme import Scheme
from khabar.dataset.agreement import agreement, prediction_quality
from khabar.dataset.card import Shard
from khabar.dataset.configs import annotator_document_table, document_table, quote_table, token_table
from khabar.dataset.datasheet import Figures
from khabar.dataset.figures import TokenCounts, alignment_report, alignment_totals, build_report, datasheet_figures, per_label
from khabar.dataset.iob import Alignment
from khabar.dataset.layout import CONFIG_NAMES, ConfigName, data_file
from khabar.dataset.links import read_ambiguous_sources, read_clusters, read_links
from khabar.dataset.release import Release
from khabar.dataset.shards import ShardWriter
from khabar.dataset.splits import SplitPlan, plan_splits
from khabar.foundation.memory import cycle_collector_paused
from khabar.gold.adjudicate import Gold, Policy, adjudicate_ranges, committed_reasons
from khabar.gold.inputs import BuildInputs

LOG = logging.getLogger(__name__)


#: Documents per range: the configs are made (and adjudicated) one range of whole documents at a time, so
#: no config is ever whole in memory. 1M span results (12,966 documents): … MB peak at 2,000, … at 13,000.
RANGE_DOCUMENTS = 2_000


@dataclass(frozen=True)
class Built:
    """Everything computed from the inputs; the configs' shards are written (or only counted) as they are made."""

    release: Release
    scheme: Scheme
    inputs: BuildInputs
    gold: Gold
    plan: SplitPlan
    shards: dict[ConfigName, list[Shard]]  # config → its shard per split, in split order (an empty split: 0 rows, no file)
    figures: Figures
    report: dict


def _ordered_splits(release: Release, plan: SplitPlan) -> list[str]:
    present = set(plan.split_of.values())
    return [name for name, _ in release.splits if name in present]


def document_ranges(doc_ids: Sequence[str], size: int) -> list[tuple[str, str]]:
    """(first, last) doc_id of each run of ``size`` documents, in doc_id order."""
    ordered = sorted(doc_ids)
    return [(ordered[i], ordered[min(i + size, len(ordered)) - 1]) for i in range(0, len(ordered), size)]


@cycle_collector_paused()
def compute(inputs: BuildInputs, release: Release, scheme: Scheme, *, per_annotator: bool = False, folder: Path | None = None) -> Built:
    """Adjudicate, plan the splits, make the three configs (their shards written into ``folder``, or only
    counted when it is None) and measure agreement; progress goes to the log."""
    docs = inputs.documents.sort("doc_id")
    LOG.info(f"read {docs.height} documents, {inputs.annotations.height} annotations, {inputs.spans.height} spans, {inputs.relations.height} relations")
    ranges = document_ranges(docs["doc_id"].to_list(), RANGE_DOCUMENTS)
    gold = adjudicate_ranges(inputs, ranges)
    policies = Counter(d.policy for d in gold.decisions)
    LOG.info("adjudicated: " + ", ".join(f"{policy} {n}" for policy, n in sorted(policies.items())) + f"; {len(gold.review)} for review")
    texts = dict(docs.select("doc_id", "text").iter_rows())
    stories = dict(docs.select("doc_id", "story").iter_rows())
    plan = plan_splits(texts, stories, release)
    del texts, stories
    splits = _ordered_splits(release, plan)
    LOG.info("splits: " + ", ".join(f"{s} {sum(1 for v in plan.split_of.values() if v == s)}" for s in splits) + (f" ({plan.reason})" if plan.reason else ""))

    agree = agreement(inputs, scheme.layer_names, gold=gold, reasons=committed_reasons())
    annotated = [d.doc_id for d in gold.decisions if d.policy is not Policy.NOT_ANNOTATED]
    quality = prediction_quality(inputs.predictions_spans, gold.spans, annotated, scheme.layer_names)
    configs = _make_configs(inputs, gold, scheme, plan.split_of, splits, ranges, folder, per_annotator=per_annotator)
    figures = datasheet_figures(release, scheme, inputs, gold, plan, splits, configs.tokens, agree, quality, configs.alignment)
    report = build_report(release, inputs, gold, plan, agree, quality, configs.shards, per_annotator=per_annotator)
    report["tokens_alignment"] = alignment_report(configs.alignment, scheme)
    return Built(release, scheme, inputs, gold, plan, configs.shards, figures, report)


class Configs(NamedTuple):
    """What making the configs leaves: their shards, the ``tokens`` config's counts (for the figures) and how
    the entities came onto its tokens."""

    shards: dict[ConfigName, list[Shard]]
    tokens: TokenCounts
    alignment: Counter[tuple[str, Alignment]]


class _SplitWriters:
    """A :class:`ShardWriter` per config and split; each config's rows of a range are cut into their splits."""

    def __init__(self, split_of: dict[str, str], splits: list[str], folder: Path | None) -> None:
        self.members = {split: pa.array(sorted(d for d, s in split_of.items() if s == split), pa.string()) for split in splits}
        self.writers = {
            config: [ShardWriter(split, folder / data_file(config, split) if folder is not None else None) for split in splits]
            for config in CONFIG_NAMES
        }

    def append(self, config: ConfigName, rows: pa.Table, doc_key: str) -> None:
        for writer in self.writers[config]:
            # pyarrow.compute makes its functions at import time: mypy cannot see is_in
            writer.append(rows.filter(pc.is_in(rows[doc_key], value_set=self.members[writer.split])))  # type: ignore[attr-defined]

    def close(self) -> dict[ConfigName, list[Shard]]:
        return {config: [writer.close() for writer in writers] for config, writers in self.writers.items()}


def _make_configs(inputs: BuildInputs, gold: Gold, scheme: Scheme, split_of: dict[str, str], splits: list[str],
                  ranges: Sequence[tuple[str, str]], folder: Path | None, *, per_annotator: bool) -> Configs:
    """The three configs, one range of documents at a time, each range's rows appended to their split's shard."""
    links, clusters, ambiguous = read_links(), read_clusters(), read_ambiguous_sources()
    writers = _SplitWriters(split_of, splits, folder)
    tokens = TokenCounts()
    alignment: Counter[tuple[str, Alignment]] = Counter()
    for first, last in ranges:
        part, gold_part = inputs.between(first, last), gold.between(first, last)
        docs = part.documents.sort("doc_id")
        if per_annotator:
            documents = annotator_document_table(docs, part.annotations, part.spans, part.relations, scheme, links)
        else:
            documents = document_table(docs, gold_part.spans, gold_part.relations, scheme, links)
        writers.append("documents", documents, "id")
        made = token_table(docs, gold_part.spans, scheme)
        tokens.add(made.table)
        alignment.update(made.alignment)
        writers.append("tokens", made.table, "doc_id")
        writers.append("quotes", quote_table(gold_part.spans, gold_part.relations, scheme, links, clusters, ambiguous), "doc_id")
    LOG.info("entities on tokens: " + (", ".join(f"{how} {n}{per_label(alignment, how)}" for how, n in alignment_totals(alignment)) or "none"))
    shards = writers.close()
    rows = {config: sum(shard.rows for shard in parts) for config, parts in shards.items()}
    LOG.info(f"configs: documents {rows['documents']}, tokens {rows['tokens']} sentences, quotes {rows['quotes']}")
    return Configs(shards, tokens, alignment)
