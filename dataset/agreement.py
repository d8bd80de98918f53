"""Inter-annotator agreement and the pre-annotator's quality.

- Pairwise span F1 per layer and label, over every pair of annotators of every
  document two or more annotators labeled: exact match (same start, end and
  label) and overlap match (same label, overlapping; matched one to one).
  An annotation marked ``ground_truth`` is an adjudication made after seeing the
  others, not an independent pass, so it takes no part in agreement.
- Krippendorff's alpha (nominal) over tokens per layer: each token's value is
  the label of the outermost span covering it, or O.
- Precision and recall of the stored predictions against gold, exact match.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import polars as pl

from dataset.adjudicate import latest_per_annotator
from dataset.inputs import BuildInputs
from dataset.segment import tokenize

Span = tuple[int, int, str]  # start, end, label


@dataclass(frozen=True)
class F1:
    layer: str
    label: str  # "*" for the whole layer
    match: str  # exact | overlap
    matched: int
    left: int
    right: int

    @property
    def f1(self) -> float | None:
        total = self.left + self.right
        return 2 * self.matched / total if total else None


@dataclass(frozen=True)
class Agreement:
    documents: int  # documents with two or more annotators
    pairs: int
    f1: tuple[F1, ...]
    alpha: tuple[tuple[str, float | None], ...]  # layer → alpha (None when undefined)


@dataclass(frozen=True)
class PredictionQuality:
    layer: str
    predicted: int
    gold: int
    correct: int

    @property
    def precision(self) -> float | None:
        return self.correct / self.predicted if self.predicted else None

    @property
    def recall(self) -> float | None:
        return self.correct / self.gold if self.gold else None


def krippendorff_alpha_nominal(units: Sequence[Sequence[object | None]]) -> float | None:
    """Nominal alpha; each unit lists one value per coder (None = missing). None when undefined."""
    coincidences: Counter = Counter()
    for unit, repeats in Counter(map(tuple, units)).items():  # units with the same values count alike
        pattern = Counter(v for v in unit if v is not None).items()
        pairable = sum(n for _, n in pattern)
        if pairable < 2:
            continue
        for c, n_c in pattern:
            for k, n_k in pattern:
                pairs = n_c * (n_c - 1) if c == k else n_c * n_k
                if pairs:
                    coincidences[c, k] += repeats * pairs / (pairable - 1)
    totals: Counter = Counter()
    for (c, _), count in coincidences.items():
        totals[c] += count
    n = sum(totals.values())
    observed = sum(count for (c, k), count in coincidences.items() if c != k)
    expected = sum(totals[c] * totals[k] for c in totals for k in totals if c != k)
    if n <= 1 or expected == 0:
        return None
    return 1 - (n - 1) * observed / expected


def _overlap_matches(left: list[Span], right: list[Span]) -> int:
    used: set[int] = set()
    matched = 0
    for start, end, label in sorted(left):
        for j, (s, e, l) in enumerate(sorted(right)):
            if j not in used and l == label and s < end and start < e:
                used.add(j)
                matched += 1
                break
    return matched


def _outermost_labels(text_length: int, tokens: list[tuple[int, int]], spans: list[Span]) -> list[str]:
    """Each token's label in one annotator's version: the outermost span covering it, or O."""
    labels = ["O"]
    painted = [0] * (text_length + 1)  # index into labels, per character
    for start, end, label in sorted(spans, key=lambda s: (s[1] - s[0], s[0], s[2])):  # longest painted last
        labels.append(label)
        painted[start:end] = [len(labels) - 1] * (end - start)
    return [labels[painted[start]] for start, _ in tokens]


def agreement(inputs: BuildInputs, layers: Sequence[str]) -> Agreement:
    latest = latest_per_annotator(inputs.annotations.filter(~pl.col("ground_truth")))
    multi = latest.group_by("doc_id").agg(pl.col("annotation_id").sort()).filter(pl.col("annotation_id").list.len() >= 2).sort("doc_id")
    spans: dict[tuple[int, str], list[Span]] = defaultdict(list)
    for row in inputs.spans.iter_rows(named=True):
        spans[row["annotation_id"], row["layer"]].append((row["start"], row["end"], row["label"]))
    texts = dict(inputs.documents.select("doc_id", "text").iter_rows())

    counts: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    units: dict[str, list[tuple[str, ...]]] = defaultdict(list)  # per layer, one tuple of labels per token
    pairs = 0
    for doc_id, annotation_ids in multi.iter_rows():
        pairs += len(annotation_ids) * (len(annotation_ids) - 1) // 2
        for layer in layers:
            for a, b in combinations(annotation_ids, 2):
                left, right = spans.get((a, layer), []), spans.get((b, layer), [])
                for label in sorted({s[2] for s in left + right}):
                    left_l = [s for s in left if s[2] == label]
                    right_l = [s for s in right if s[2] == label]
                    exact = len(set(left_l) & set(right_l))
                    overlap = _overlap_matches(left_l, right_l)
                    for key, matched in (((layer, label, "exact"), exact), ((layer, label, "overlap"), overlap)):
                        for k in (key, (layer, "*", key[2])):
                            counts[k][0] += matched
                            counts[k][1] += len(left_l)
                            counts[k][2] += len(right_l)
            versions = [spans.get((a, layer), []) for a in annotation_ids]
            tokens = tokenize(texts[doc_id], {b for version in versions for s in version for b in s[:2]})
            columns = [_outermost_labels(len(texts[doc_id]), tokens, version) for version in versions]
            units[layer].extend(zip(*columns))
    f1 = tuple(F1(layer, label, match, *values) for (layer, label, match), values in sorted(counts.items()))
    alpha = tuple((layer, krippendorff_alpha_nominal(units[layer]) if units[layer] else None) for layer in layers)
    return Agreement(documents=multi.height, pairs=pairs, f1=f1, alpha=alpha)


def prediction_quality(predictions: pl.DataFrame, gold_spans: pl.DataFrame, annotated_docs: Sequence[str], layers: Sequence[str]) -> tuple[PredictionQuality, ...]:
    """Per layer, the stored pre-annotations against gold, exact match, over documents that have both."""
    key = ["doc_id", "layer", "label", "start", "end"]
    docs = sorted(set(annotated_docs) & set(predictions["doc_id"].to_list()))
    predicted = predictions.filter(pl.col("doc_id").is_in(docs)).select(key).unique()
    gold = gold_spans.filter(pl.col("doc_id").is_in(docs)).select(key).unique()
    correct = predicted.join(gold, on=key, how="inner")
    return tuple(
        PredictionQuality(
            layer,
            predicted.filter(pl.col("layer") == layer).height,
            gold.filter(pl.col("layer") == layer).height,
            correct.filter(pl.col("layer") == layer).height,
        )
        for layer in layers
    )
