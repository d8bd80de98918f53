"""What a build computes from its inputs: splits, then one range of documents at a time adjudication, agreement
and the three configs (their shards written as they are made), then the figures and the report."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from khabar.annotation.scheme import Scheme
from khabar.dataset.agreement import AgreementSums, Override, PredictionSums, agreement_sums, prediction_sums
from khabar.dataset.card import Shard
from khabar.dataset.configs import Texts, annotator_document_table, document_table, placed_spans, quote_table, token_table
from khabar.dataset.datasheet import Figures
from khabar.dataset.figures import GoldCounts, TokenCounts, alignment_report, alignment_totals, build_report, datasheet_figures, per_label
from khabar.dataset.iob import Alignment
from khabar.dataset.layout import CONFIG_NAMES, ConfigName, data_file
from khabar.dataset.links import read_ambiguous_sources, read_clusters, read_links
from khabar.dataset.release import Release
from khabar.dataset.segment import Words
from khabar.dataset.shards import ShardWriter
from khabar.dataset.splits import SplitPlan, plan_splits
from khabar.foundation.files import temporary_folder
from khabar.foundation.memory import cycle_collector_paused
from khabar.gold.adjudicate import Gold, Policy, Reason, adjudicated_ranges, committed_reasons
from khabar.gold.inputs import BuildInputs, FrameTexts, Inputs
from khabar.kb.files import AmbiguousSource, Cluster, Link

if TYPE_CHECKING:
    from khabar.kb.check import BaseCheck

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class Built:
    """Everything computed from the inputs; the configs' shards are written (or only counted) as they are made."""

    release: Release
    scheme: Scheme
    inputs: Inputs
    plan: SplitPlan
    shards: dict[ConfigName, list[Shard]]  # config → its shard per split, in split order (an empty split: 0 rows, no file)
    figures: Figures
    report: dict


def _ordered_splits(release: Release, plan: SplitPlan) -> list[str]:
    present = set(plan.split_of.values())
    return [name for name, _ in release.splits if name in present]


@cycle_collector_paused()
def compute(inputs: Inputs, release: Release, scheme: Scheme, *, per_annotator: bool = False, folder: Path | None = None,
            base: BaseCheck | None = None) -> Built:
    """Plan the splits, then one range of documents at a time adjudicate, measure agreement and make the
    three configs (their shards written into ``folder``, or only counted when it is None); progress goes
    to the log. Only the documents and annotations are ever whole in memory. Each range's gold is checked first
    against the knowledge base (``base``): once a range fails, the rest are only checked, not built, and the build
    is refused when every range is done (every failure counted, as ``khabar validate`` counts them)."""
    counts = inputs.counts()
    LOG.info(f"read {inputs.documents.height} documents, {inputs.annotations.height} annotations, {counts.spans} spans, {counts.relations} relations")
    plan = plan_splits(FrameTexts(inputs.texts()), dict(inputs.documents.select("doc_id", "story").sort("doc_id").iter_rows()), release)
    splits = _ordered_splits(release, plan)
    LOG.info("splits: " + ", ".join(f"{s} {sum(1 for v in plan.split_of.values() if v == s)}" for s in splits) + (f" ({plan.reason})" if plan.reason else ""))

    agree, quality = AgreementSums.empty(scheme.layer_names), PredictionSums.empty(scheme.layer_names)
    configs = _Configs(scheme, plan.split_of, splits, folder, per_annotator=per_annotator, base=base)
    reasons = committed_reasons()
    for part, gold_part in adjudicated_ranges(inputs):
        if base is not None:
            base.add(gold_part)
            if base.failing():
                continue  # refused once every range is checked (to count every failure), so not built
        words = configs.add(part, gold_part)
        agree += agreement_sums(part, scheme.layer_names, gold=gold_part, reasons=reasons, words=words)
        annotated = [d.doc_id for d in gold_part.decisions if d.policy is not Policy.NOT_ANNOTATED]
        quality += prediction_sums(part.predictions_spans, gold_part.spans, annotated, scheme.layer_names)
    if base is not None:
        base.refuse()
    gold = configs.gold
    policies = Counter(d.policy for d in gold.decisions)
    LOG.info("adjudicated: " + ", ".join(f"{policy} {n}" for policy, n in sorted(policies.items())) + f"; {len(gold.review)} for review")
    shards = configs.close()
    agreed, predicted = agree.result(), quality.result()
    _say_unused(reasons, agreed.log)
    figures = datasheet_figures(release, scheme, inputs, counts, gold, plan, splits, configs.tokens, agreed, predicted, configs.alignment)
    report = build_report(release, inputs, counts, gold, plan, agreed, predicted, shards, per_annotator=per_annotator)
    report["tokens_alignment"] = alignment_report(configs.alignment, scheme)
    return Built(release, scheme, inputs, plan, shards, figures, report)


def _say_unused(reasons: Sequence[Reason], log: Sequence[Override]) -> None:
    """Name the adjudicator's reasons that are the guideline of no entry of the log (a typo in an offset, a departure
    gone since): left out without a word, the entry they were meant for read "(none recorded)"."""
    logged = {(o.doc_id, o.layer, o.label, o.start, o.end, o.change) for o in log}
    unused = [reason for reason in reasons if reason.departure not in logged]
    if unused:
        named = "; ".join(f"{r.where} ({r.doc_id} {r.layer} {r.label} [{r.start}:{r.end}] {r.change})" for r in unused[:3])
        more = f" and {len(unused) - 3} more" if len(unused) > 3 else ""
        LOG.info(f"adjudication log: {len(unused)} reason(s) name no departure of the gold from its passes, so are not used: {named}{more}")


#: The order of a range's documents in the configs made from it: each document's split (as its number), then its id.
_SPLIT_ORDER = ("split", "doc_id")


class _RangeSplits(NamedTuple):
    """The documents of a range (doc_id, as the texts order them) and each one's split, as its number in the build's splits."""

    doc_ids: pa.Array
    numbers: np.ndarray


class _Configs:
    """The three configs, made one range of documents at a time: each range's rows cut into their splits and
    appended to that split's :class:`ShardWriter`; the gold and the ``tokens`` config counted for the figures."""

    def __init__(self, scheme: Scheme, split_of: dict[str, str], splits: list[str], folder: Path | None, *, per_annotator: bool,
                 base: BaseCheck | None) -> None:
        self.scheme, self.per_annotator = scheme, per_annotator
        if base is None:
            self.links, self.clusters, self.ambiguous = read_links(), read_clusters(), read_ambiguous_sources()
        else:  # the rows the check read, not read and held again (3M span results' 778,544 links: +60 MB at the peak)
            self.links, self.clusters = read_links(rows=base.rows(Link)), read_clusters(rows=base.rows(Cluster))
            self.ambiguous = read_ambiguous_sources(rows=base.rows(AmbiguousSource))
        number = {split: i for i, split in enumerate(splits)}
        self.split_number = {doc_id: number[split] for doc_id, split in split_of.items()}
        self.unsplit = len(splits)  # the number of a document in no split
        #: the rows waiting for their row group, removed when the configs are closed (or the process ends)
        self.waiting = temporary_folder("shards")
        self.writers = {
            config: [
                ShardWriter(split, folder / data_file(config, split) if folder is not None else None, Path(self.waiting.name) / f"{config}-{split}")
                for split in splits
            ]
            for config in CONFIG_NAMES
        }
        self.tokens, self.gold = TokenCounts(), GoldCounts(scheme)
        self.alignment: Counter[tuple[str, Alignment]] = Counter()

    def add(self, part: BuildInputs, gold: Gold) -> Words:
        """The rows of a range of documents (``part``, and its ``gold``); the tokens of its texts, which agreement
        counts too (1M news: agreement's tokenizing 0.15 s CPU, done again before)."""
        scheme, docs = self.scheme, part.documents.sort("doc_id")
        # each document's split as its number (past the last: in none), and the texts in split order, then by id: the
        # ``tokens`` and ``documents`` configs then come split after split (see _append)
        numbers = np.array([self.split_number.get(d, self.unsplit) for d in docs["doc_id"].to_list()], np.int64)
        with_splits = docs.with_columns(split=numbers)
        texts = Texts.of(with_splits, order=_SPLIT_ORDER)
        split_of = _RangeSplits(texts.documents["doc_id"].to_arrow(), np.sort(numbers))
        # the base's rows of this range's documents: each range deduplicated and joined the whole base's (a committed
        # 3M-span export's 778,544 links, 31 ranges: the build's peak 997 → 818 MB, 70.6 → 59.8 s CPU; 762 MB without a base)
        in_range = pl.col("doc_id").is_in(docs["doc_id"].implode())
        links, clusters, ambiguous = (rows.filter(in_range) for rows in (self.links, self.clusters, self.ambiguous))
        placed = placed_spans(gold.spans, scheme, links)
        self.gold.add(gold, placed)
        if self.per_annotator:
            documents = annotator_document_table(docs, part.annotations, part.spans, part.relations, scheme, links, texts)
        else:
            # in split order, a large split's rows are sliced, not copied by a filter (1M news, without the parquet
            # write: appending the documents rows 0.105 → 0.056 s CPU, the shards' row groups made 0.107 → 0.073 s)
            documents = document_table(with_splits, gold.spans, gold.relations, scheme, links, texts, placed, _SPLIT_ORDER)
        self._append("documents", documents, "id", split_of)
        tokens = token_table(docs, gold.spans, scheme, texts, placed)
        self.tokens.add(tokens.table)
        self.alignment.update(tokens.alignment)
        self._append("tokens", tokens.table, "doc_id", split_of)
        self._append("quotes", quote_table(gold.spans, gold.relations, scheme, links, clusters, ambiguous, placed), "doc_id", split_of)
        return tokens.words

    def _append(self, config: ConfigName, rows: pa.Table, doc_key: str, split_of: _RangeSplits) -> None:
        # each row's split, by its document's position in the range; a document not in the range is in no split, as
        # one in no split (pyarrow.compute makes its functions at import time: mypy cannot see index_in)
        found = pc.index_in(rows[doc_key], value_set=split_of.doc_ids)  # type: ignore[attr-defined]
        position = pc.fill_null(found, len(split_of.numbers)).to_numpy()
        numbers = np.append(split_of.numbers, self.unsplit)[position]
        contiguous = bool((numbers[1:] >= numbers[:-1]).all())
        bounds = np.searchsorted(numbers, np.arange(len(self.writers[config]) + 1)) if contiguous else None
        for number, writer in enumerate(self.writers[config]):
            # rows that come split after split are sliced, not copied by a filter (1M news, the configs without the
            # parquet write: 1.67 → 1.54 s CPU, best of 4); a slice keeps the whole table alive while it waits in
            # the writer, so only one that is at least half of the table
            if bounds is not None and 2 * (bounds[number + 1] - bounds[number]) >= rows.num_rows:
                writer.append(rows.slice(bounds[number], bounds[number + 1] - bounds[number]))
            else:
                writer.append(rows.filter(numbers == number))

    def close(self) -> dict[ConfigName, list[Shard]]:
        """Write what is left of every shard; the shards as written."""
        alignment = self.alignment
        LOG.info("entities on tokens: " + (", ".join(f"{how} {n}{per_label(alignment, how)}" for how, n in alignment_totals(alignment)) or "none"))
        shards = {config: [writer.close() for writer in writers] for config, writers in self.writers.items()}
        self.waiting.cleanup()
        rows = {config: sum(shard.rows for shard in parts) for config, parts in shards.items()}
        LOG.info(f"configs: documents {rows['documents']}, tokens {rows['tokens']} sentences, quotes {rows['quotes']}")
        return shards
