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

from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from khabar.dataset.adjudicate import latest_per_annotator
from khabar.dataset.inputs import BuildInputs
from khabar.dataset.segment import tokenize

#: What makes two spans of one document the same span.
SPAN_KEY = ["layer", "label", "start", "end"]


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
    return _alpha(Counter(map(tuple, units)))


def _alpha(patterns: Mapping[tuple[object | None, ...], int]) -> float | None:
    """Nominal alpha of units given as pattern (one value per coder) → how many units have it.

    The sums run in the mapping's order: floats summed in the same order give the same bits.
    """
    coincidences: Counter = Counter()
    for unit, repeats in patterns.items():
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


def agreement(inputs: BuildInputs, layers: Sequence[str]) -> Agreement:
    """Span F1 and token alpha of the independent annotations of ``layers`` (see the module docstring)."""
    versions = _independent_versions(inputs.annotations)
    spans = (
        inputs.spans.filter(pl.col("layer").is_in(layers))
        .select("annotation_id", *SPAN_KEY)
        .join(versions, on="annotation_id")
    )
    pairs = (
        versions.join(versions, on="doc_id", suffix="_right")
        .filter(pl.col("annotation_id") < pl.col("annotation_id_right"))
        .select(left="annotation_id", right="annotation_id_right")
        .with_row_index("pair")
    )
    texts = inputs.documents.join(versions, on="doc_id", how="semi").select("doc_id", "text")
    return Agreement(
        documents=versions["doc_id"].n_unique(),
        pairs=pairs.height,
        f1=_span_f1(pairs, spans),
        alpha=_token_alpha(versions, spans, texts, layers),
    )


def _independent_versions(annotations: pl.DataFrame) -> pl.DataFrame:
    """doc_id, annotation_id: each annotator's latest independent annotation, of documents with two or more."""
    latest = latest_per_annotator(annotations.filter(~pl.col("ground_truth")))
    return latest.filter(pl.len().over("doc_id") >= 2).select("doc_id", "annotation_id")


def _span_f1(pairs: pl.DataFrame, spans: pl.DataFrame) -> tuple[F1, ...]:
    """Matched spans and the spans of either side per layer and label ("*": all labels), summed over the pairs."""
    # one row per span of each side of each pair; its index names it in the one-to-one matching
    left = pairs.join(spans, left_on="left", right_on="annotation_id").select("pair", *SPAN_KEY).with_row_index("mention")
    right = pairs.join(spans, left_on="right", right_on="annotation_id").select("pair", *SPAN_KEY).with_row_index("mention")
    by_label = ["layer", "label"]
    # lazy, so that polars tests the overlap as it joins instead of first making every same-label pair
    overlapping = (
        left.lazy()
        .join(right.lazy(), on=["pair", *by_label], suffix="_right")
        .filter((pl.col("start") < pl.col("end_right")) & (pl.col("start_right") < pl.col("end")))
        .collect()
    )
    # spans are never empty (validation), so spans that match exactly overlap too
    exact = (
        overlapping.filter((pl.col("start") == pl.col("start_right")) & (pl.col("end") == pl.col("end_right")))
        .unique(["pair", *SPAN_KEY])
        .group_by(by_label)
        .agg(exact=pl.len())
    )
    counts = (
        left.group_by(by_label).agg(left=pl.len())
        .join(right.group_by(by_label).agg(right=pl.len()), on=by_label, how="full", coalesce=True)
        .join(exact, on=by_label, how="left")
        .join(_one_to_one(overlapping).group_by(by_label).agg(overlap=pl.len()), on=by_label, how="left")
        .fill_null(0)
    )
    counts = pl.concat([counts, counts.group_by("layer").agg(pl.lit("*").alias("label"), pl.exclude("label").sum())], how="diagonal")
    f1 = (
        F1(layer, label, match, matched, n_left, n_right)
        for layer, label, n_left, n_right, n_exact, n_overlap in counts.select(*by_label, "left", "right", "exact", "overlap").iter_rows()
        for match, matched in (("exact", n_exact), ("overlap", n_overlap))
    )
    return tuple(sorted(f1, key=lambda f: (f.layer, f.label, f.match)))


def _one_to_one(overlapping: pl.DataFrame) -> pl.DataFrame:
    """The overlap matches made, one to one, of each pair and label: each left span in order of start and
    end takes the first right span, in the same order, that it overlaps and no earlier left span took."""
    # a candidate that is the only one of both its spans is made in any order; only the others need the greedy pass
    alone = (pl.len().over("mention") == 1) & (pl.len().over("mention_right") == 1)
    contested = overlapping.filter(~alone).sort("pair", "layer", "label", "start", "end", "mention", "start_right", "end_right", "mention_right")
    taken_left: set[int] = set()
    taken_right: set[int] = set()
    made = []
    for a, b in zip(contested["mention"].to_list(), contested["mention_right"].to_list()):
        made.append(a not in taken_left and b not in taken_right)
        if made[-1]:
            taken_left.add(a)
            taken_right.add(b)
    return pl.concat([overlapping.filter(alone), contested.filter(pl.Series(made, dtype=pl.Boolean))])


def _token_alpha(versions: pl.DataFrame, spans: pl.DataFrame, texts: pl.DataFrame, layers: Sequence[str]) -> tuple[tuple[str, float | None], ...]:
    """Alpha per layer over the tokens of the documents, each version's value of a token being its outermost label.

    From one span boundary of a document's layer to the next, every version's label stays the same, and
    the tokens are cut at those boundaries: units are counted per such stretch, not token by token.
    """
    coders = versions.sort("doc_id", "annotation_id").with_columns(coder=pl.int_range(pl.len()).over("doc_id"))
    # a track is one layer of one document; tracks, and stretches across all tracks, are numbered in the order of the tokens
    tracks = (
        texts.join(pl.DataFrame({"layer": layers}), how="cross")
        .join(coders.group_by("doc_id").agg(coders=pl.len()), on="doc_id")
        .sort("doc_id", "layer")
        .with_row_index("track")
    )
    spans = (
        spans.join(tracks.select("doc_id", "layer", "track"), on=["doc_id", "layer"])
        .join(coders.select("annotation_id", "coder"), on="annotation_id")
        .select("track", "coder", "label", "start", "end")
    )
    stretches = _stretches(tracks, spans)
    labelled = _outermost_labels(spans, stretches).group_by("stretch").agg("coder", "label")
    # a stretch's pattern is told by how many coders its document has and which of them label it how
    units = (
        stretches.filter(pl.col("tokens") > 0)
        .join(labelled, on="stretch", how="left", maintain_order="left")
        .join(tracks.select("track", "layer", "coders"), on="track", maintain_order="left")
        .group_by("layer", "coders", "coder", "label", maintain_order=True)
        .agg(pl.col("tokens").sum())
    )
    # patterns in the order they first occur; one may come in several rows (its coders listed in another order)
    patterns: dict[str, Counter[tuple[str, ...]]] = {layer: Counter() for layer in layers}
    for layer, n_coders, coder, label, count in units.iter_rows():
        pattern = ["O"] * n_coders
        for c, value in zip(coder or (), label or ()):
            pattern[c] = value
        patterns[layer][tuple(pattern)] += count
    return tuple((layer, _alpha(patterns[layer])) for layer in layers)


def _stretches(tracks: pl.DataFrame, spans: pl.DataFrame) -> pl.DataFrame:
    """stretch, track, position, tokens: each track cut at 0 and at its span boundaries, and how many tokens each stretch has."""
    boundaries = pl.concat(
        [tracks.select("track", position=pl.lit(0, pl.Int64)), spans.select("track", position="start"), spans.select("track", position="end")]
    )
    cut = tracks.join(boundaries.group_by("track").agg(pl.col("position").unique().sort()), on="track", maintain_order="left")
    # the tracks of a document together, to tokenize its text once
    documents = cut.group_by("doc_id", maintain_order=True).agg(pl.col("text").first(), "position")
    tokens = [counts for text, cuts in documents.select("text", "position").iter_rows() for counts in _tokens_per_stretch(text, cuts)]
    return cut.select("track", "position", tokens=pl.Series(tokens, dtype=pl.List(pl.Int64))).explode("position", "tokens").with_row_index("stretch")


def _tokens_per_stretch(text: str, cuts: list[list[int]]) -> list[list[int]]:
    """For each list of sorted positions, how many tokens of ``text`` cut at them start from each position to the next.

    ``tokenize`` cuts a word (a token of the uncut text) at every boundary inside it, so each stretch
    has one token for every word that overlaps it.
    """
    words = tokenize(text)
    starts = [start for start, _ in words]
    ends = [end for _, end in words]
    return [
        [bisect_left(starts, stop) - bisect_right(ends, start) for start, stop in zip(positions, [*positions[1:], len(text)])]
        for positions in cuts
    ]


def _outermost_labels(spans: pl.DataFrame, stretches: pl.DataFrame) -> pl.DataFrame:
    """coder, stretch, label: the outermost span of each version over each stretch it labels."""
    index = stretches.select("track", "position", "stretch")
    return (
        spans.join(index.rename({"position": "start", "stretch": "first"}), on=["track", "start"])
        .join(index.rename({"position": "end", "stretch": "stop"}), on=["track", "end"])
        .with_columns(stretch=pl.int_ranges("first", "stop"))
        .explode("stretch")
        .group_by("coder", "stretch")
        # outermost: the longest; between equally long ones, the later start, then the greater label
        .agg(pl.col("label").sort_by(pl.col("end") - pl.col("start"), "start", "label").last())
    )


def prediction_quality(predictions: pl.DataFrame, gold_spans: pl.DataFrame, annotated_docs: Sequence[str], layers: Sequence[str]) -> tuple[PredictionQuality, ...]:
    """Per layer, the stored pre-annotations against gold, exact match, over documents that have both."""
    key = ["doc_id", *SPAN_KEY]
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
