"""Inter-annotator agreement and the pre-annotator's quality.

- Pairwise span F1 per layer and label, over every pair of annotators of every
  document two or more annotators labeled: exact match (same start, end and
  label) and overlap match (same label, overlapping; matched one to one).
  An annotation marked ``ground_truth`` is an adjudication made after seeing the
  others, not an independent pass, so it takes no part in agreement.
- Krippendorff's alpha (nominal) over tokens per layer: each token's value is
  the label of the outermost span covering it, or O.
- Relation F1 per relation label: a relation matches when its label and both its
  ends (layer, label, start, end) match.
- Quote types: on the CONTENT spans both sides of a pair drew identically, how
  many got the same quote type, and nominal alpha over them.
- Entity span F1 per nesting level (0: inside no other entity; 1: inside one; 2: deeper),
  exact match with the same level on both sides; and token alpha per level, each
  token's value being the label of the coder's span at that level over it, or O
  (the layer's alpha above sees only the outermost span).
- Each independent pass against the gold, per layer, exact match, on documents
  whose gold is another annotation (a ground truth, or a majority).
- The adjudication log: on documents with a ground truth and two or more
  independent passes, every span all passes drew identically that the gold
  dropped, every gold span no pass drew, and every quote type all passes agreed
  on that the gold changed; each with the guideline the adjudicator recorded.
- Precision and recall of the stored predictions against gold, exact match.

Each measure is first a sum of whole numbers over documents (:class:`AgreementSums`, :class:`PredictionSums`),
turned into floats only at the end: a build can measure a batch of documents at a time and add the batches up,
with the same figures, to the bit, as over all documents at once.
"""

from __future__ import annotations

import operator
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import TypeVar

import numpy as np
import polars as pl
import pyarrow as pa

from khabar.annotation.scheme import load_scheme
from khabar.dataset.segment import Words, word_frame
from khabar.foundation.tables import RELATIONS, empty
from khabar.gold.adjudicate import Change, Gold, Policy, Reason, latest_per_annotator
from khabar.gold.inputs import BuildInputs

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
class QuoteTypes:
    shared: int  # CONTENT spans both sides of a pair drew identically, summed over the pairs
    agreed: int  # of which both sides gave the same quote type
    alpha: float | None

    @property
    def agreement(self) -> float | None:
        return self.agreed / self.shared if self.shared else None


@dataclass(frozen=True)
class PassScore:
    """One independent pass (an annotator's latest annotation of a document) against the gold, one layer."""

    doc_id: str
    annotator: str
    layer: str
    matched: int
    drawn: int
    gold: int

    @property
    def f1(self) -> float | None:
        total = self.drawn + self.gold
        return 2 * self.matched / total if total else None


#: The columns of a frame of passes (:attr:`AgreementSums.passes`), in the order :class:`PassScore` takes them.
PASS_FIELDS = tuple(f.name for f in fields(PassScore))


@dataclass(frozen=True)
class Override:
    """A gold decision that differs from what the independent passes agreed on."""

    doc_id: str
    layer: str
    label: str
    start: int
    end: int
    text: str
    change: Change  # removed: all passes drew it, the gold does not; added: no pass drew it; quote_type: changed
    passes: str  # the quote type the passes agreed on (quote_type changes), else ""
    gold: str  # the gold's quote type (quote_type changes), else ""
    guideline: str  # as recorded by the adjudicator; "" when none is recorded


@dataclass(frozen=True)
class Agreement:
    documents: int  # documents with two or more annotators
    pairs: int
    f1: tuple[F1, ...]
    alpha: Mapping[str, float | None]  # layer → alpha (None when undefined), in the layers' order
    relations: tuple[F1, ...] = ()  # layer "relation", label the relation label or "*", match "exact"
    quote_types: QuoteTypes = QuoteTypes(0, 0, None)
    nesting: tuple[F1, ...] = ()  # layer "entity", label "level 0" / "level 1" / "level 2+", match "exact"
    nesting_alpha: Mapping[str, float | None] = field(default_factory=dict)  # level → token alpha of the entity spans at that level
    passes: tuple[PassScore, ...] = ()
    log: tuple[Override, ...] = ()

    def report(self) -> dict:
        """The ``agreement`` object of ``build_report.json``."""
        def scores(rows: tuple[F1, ...] | tuple[PassScore, ...]) -> list[dict]:
            return [_fields(row, f1=row.f1) for row in rows]

        return {
            "documents": self.documents,
            "pairs": self.pairs,
            "span_f1": scores(self.f1),
            "krippendorff_alpha_tokens": dict(self.alpha),
            "relation_f1": scores(self.relations),
            "quote_type": _fields(self.quote_types, agreement=self.quote_types.agreement),
            "entity_f1_by_nesting_level": scores(self.nesting),
            "krippendorff_alpha_tokens_by_nesting_level": dict(self.nesting_alpha),
            "passes_against_gold": scores(self.passes),
            "adjudication_log": [_fields(o) for o in self.log],
        }


def _fields(row: F1 | PassScore | QuoteTypes | Override, **more: object) -> dict[str, object]:
    """A row's fields by name, in order, then ``more``: ``asdict`` without its deep copy, which these fields (numbers and strings) do
    not need (1M span results: the report's 44,000 rows 0.28 → 0.07 s). A dataclass's ``__init__`` sets its fields
    in order, and these rows hold nothing else, so their ``__dict__`` is that (50,000 passes: 0.059 → 0.020 s CPU,
    against a ``getattr`` per field)."""
    return vars(row) | more


@dataclass(frozen=True)
class PredictionQuality:
    layer: str
    predicted: int
    gold: int
    correct: int

    def __add__(self, other: PredictionQuality) -> PredictionQuality:
        """The counts of one layer (``self``'s) over the documents of both."""
        return PredictionQuality(self.layer, self.predicted + other.predicted, self.gold + other.gold, self.correct + other.correct)

    @property
    def precision(self) -> float | None:
        return self.correct / self.predicted if self.predicted else None

    @property
    def recall(self) -> float | None:
        return self.correct / self.gold if self.gold else None


#: A unit's values, one per coder (None: missing).
Pattern = TypeVar("Pattern", bound=tuple)


def krippendorff_alpha_nominal(units: Sequence[Sequence[object | None]]) -> float | None:
    """Nominal alpha; each unit lists one value per coder (None = missing). None when undefined."""
    return _alpha(Counter(map(tuple, units)))


def _alpha(patterns: Mapping[Pattern, int]) -> float | None:
    """Nominal alpha of units given as pattern (one value per coder) → how many units have it.

    The sums run in the mapping's order: floats summed in the same order give the same bits.
    """
    coincidences: dict[tuple[object, object], float] = defaultdict(float)
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
    totals: dict[object, float] = defaultdict(float)
    for (c, _), count in coincidences.items():
        totals[c] += count
    n = sum(totals.values())
    observed = sum(count for (c, k), count in coincidences.items() if c != k)
    expected = sum(totals[c] * totals[k] for c in totals for k in totals if c != k)
    if n <= 1 or expected == 0:
        return None
    return 1 - (n - 1) * observed / expected


@dataclass(frozen=True)
class PairCounts:
    """Summed over the pairs of versions: items both sides hold, items of the left sides, of the right sides."""

    matched: int
    left: int
    right: int

    def __add__(self, other: PairCounts) -> PairCounts:
        return PairCounts(self.matched + other.matched, self.left + other.left, self.right + other.right)


@dataclass(frozen=True)
class SpanCounts:
    """One layer and label's spans summed over the pairs: of the left sides, of the right sides, matched exactly and by overlap."""

    left: int
    right: int
    exact: int
    overlap: int

    def __add__(self, other: SpanCounts) -> SpanCounts:
        return SpanCounts(self.left + other.left, self.right + other.right, self.exact + other.exact, self.overlap + other.overlap)


#: pattern (one value per coder) → how many units have it, in the order the patterns first occur
Patterns = Mapping[tuple[str, ...], int]
Key = TypeVar("Key")
Value = TypeVar("Value")


def _merged(first: Mapping[Key, Value], second: Mapping[Key, Value], add: Callable[[Value, Value], Value]) -> dict[Key, Value]:
    """``first`` and then the keys ``second`` adds, values of a key in both added: the order of first occurrence is kept."""
    merged = dict(first)
    for key, value in second.items():
        merged[key] = add(merged[key], value) if key in merged else value
    return merged


def _merged_patterns(first: Mapping[str, Patterns], second: Mapping[str, Patterns]) -> dict[str, Patterns]:
    return _merged(first, second, lambda a, b: _merged(a, b, operator.add))


@dataclass(frozen=True, eq=False)
class AgreementSums:
    """What :class:`Agreement` is computed from, as sums over documents: ``a + b`` is the sums of the documents of
    both, and :meth:`result` the agreement over them, the same to the bit as over all of them at once.

    Every measure is a whole count until :meth:`result`; alpha's are counts of patterns, whose floats add up
    in the order the patterns first occur: add the sums of batches in the documents' order (doc_id), and
    the passes and the log come out in that order too.
    """

    documents: int  # documents with two or more annotators
    pairs: int
    spans: Mapping[tuple[str, str], SpanCounts]  # (layer, label) → counts
    alpha: Mapping[str, Patterns]  # layer → the token units' patterns, in the layers' order
    relations: Mapping[tuple[str, str], PairCounts]  # ("relation", relation label) → counts
    quote_types: Mapping[tuple[str, str], int]  # the two sides' quote types → CONTENT spans both sides of a pair drew identically
    nesting: Mapping[tuple[str, str], PairCounts]  # (entity layer, level) → counts
    nesting_alpha: Mapping[str, Patterns]  # level → the token units' patterns
    # each batch's passes, as a frame of :class:`PassScore`'s fields: made objects by :meth:`result` alone, so that the
    # sums of a build's ranges do not grow by four Python objects a pass and layer (with the decisions kept as frames
    # too, 3M news: the Python objects each range leaves, ``sys.getallocatedblocks``, about 34,000 → 500)
    passes: tuple[pl.DataFrame, ...]
    log: tuple[Override, ...]

    @classmethod
    def empty(cls, layers: Sequence[str]) -> AgreementSums:
        """The sums over no document: what the sums of batches start from."""
        nested = load_scheme().entity.name in layers
        return cls(0, 0, {}, {layer: {} for layer in layers}, {}, {}, {}, {level: {} for level in LEVELS} if nested else {}, (), ())

    def __add__(self, other: AgreementSums) -> AgreementSums:
        return AgreementSums(
            documents=self.documents + other.documents,
            pairs=self.pairs + other.pairs,
            spans=_merged(self.spans, other.spans, operator.add),
            alpha=_merged_patterns(self.alpha, other.alpha),
            relations=_merged(self.relations, other.relations, operator.add),
            quote_types=_merged(self.quote_types, other.quote_types, operator.add),
            nesting=_merged(self.nesting, other.nesting, operator.add),
            nesting_alpha=_merged_patterns(self.nesting_alpha, other.nesting_alpha),
            passes=self.passes + other.passes,
            log=self.log + other.log,
        )

    def __eq__(self, other: object) -> bool:
        """The same sums: every field equal, the passes as the rows of their frames (a frame has no truth value)."""
        if not isinstance(other, AgreementSums):
            return NotImplemented
        same = all(getattr(self, f.name) == getattr(other, f.name) for f in fields(self) if f.name != "passes")
        return same and [row for part in self.passes for row in part.iter_rows()] == [row for part in other.passes for row in part.iter_rows()]

    def result(self) -> Agreement:
        shared = sum(self.quote_types.values())
        agreed = sum(n for (left, right), n in self.quote_types.items() if left == right)
        return Agreement(
            documents=self.documents,
            pairs=self.pairs,
            f1=_span_f1(self.spans),
            alpha={layer: _alpha(patterns) for layer, patterns in self.alpha.items()},
            relations=_exact_f1(self.relations),
            quote_types=QuoteTypes(shared, agreed, _alpha(self.quote_types) if shared else None),
            nesting=_exact_f1(self.nesting),
            nesting_alpha={level: _alpha(patterns) for level, patterns in self.nesting_alpha.items()},
            passes=tuple(PassScore(*row) for part in self.passes for row in part.iter_rows()),
            log=self.log,
        )


def agreement(inputs: BuildInputs, layers: Sequence[str], gold: Gold | None = None, reasons: Sequence[Reason] = ()) -> Agreement:
    """The measures of the module docstring over ``layers``; the passes against the gold and the
    adjudication log only when ``gold`` is given, the log's guidelines from ``reasons``."""
    return agreement_sums(inputs, layers, gold=gold, reasons=reasons).result()


def agreement_sums(inputs: BuildInputs, layers: Sequence[str], gold: Gold | None = None, reasons: Sequence[Reason] = (),
                   words: Words | None = None) -> AgreementSums:
    """The sums :func:`agreement` is computed from, over the documents of ``inputs`` (and ``gold``): its tables may
    hold a batch of whole documents, the sums of the batches then add up to those of all of them. ``reasons``
    may be all of them: each document looks up its own. ``words``: the tokens of the documents' texts when
    they are made already (else they are made here)."""
    inputs, gold = _keyed(inputs, gold)
    latest = _latest_passes(inputs.annotations)
    versions = _independent_versions(latest)
    ranked = _ranked(versions)
    # every span with its version's document and ranks, joined once for every measure
    spans = inputs.spans.select("annotation_id", *SPAN_KEY).filter(pl.col("layer").is_in(layers)).join(ranked, on="annotation_id")
    coders = ranked.group_by("doc_id").agg(coders=pl.len())
    texts = inputs.documents.join(coders, on="doc_id").select("doc_id", "text", "coders").sort("doc_id").with_row_index("document")
    # tokenized once for both alphas (1M span results in batches of 2,000 documents: with the report's rows made
    # without a deep copy, agreement's CPU 6.0 → 5.1 s)
    words_frame = word_frame(texts["text"]) if words is None else words.frame(texts["doc_id"].cast(pl.String).to_list())
    relations = inputs.relations if inputs.relations.width else empty(RELATIONS)
    nested = load_scheme().entity.name  # its spans nest (rule B7) and get F1 per nesting level
    leveled = _leveled(spans.filter(pl.col("layer") == nested))
    return AgreementSums(
        documents=versions["doc_id"].n_unique(),
        pairs=int(ranked["later"].sum()),
        spans=_span_counts(spans),
        alpha=_token_patterns(spans, texts, words_frame, layers),
        relations=_relation_counts(ranked, _relation_keys(inputs.spans, relations, versions)),
        quote_types=_quote_type_patterns(inputs.spans.select("annotation_id", "doc_id", *SPAN_KEY, "quote_type").join(versions.select("annotation_id"), on="annotation_id")),
        nesting=_nesting_counts(leveled, nested) if nested in layers else {},
        nesting_alpha=_nesting_patterns(leveled, texts, words_frame) if nested in layers else {},
        passes=(_passes(inputs, gold, layers, latest),) if gold is not None else (),
        log=_log(inputs, gold, layers, reasons, versions) if gold is not None else (),
    )


def _keyed(inputs: BuildInputs, gold: Gold | None) -> tuple[BuildInputs, Gold | None]:
    """The inputs and the gold (of their documents) with their string keys cast to the inputs' enums
    (:attr:`BuildInputs.enums`; a relation's label is not a span's: only their doc_id is). 1M span results:
    agreement's CPU 3.45 → 3.07 s with its keys coded, 0.16 s of it the coding, since shared with adjudication."""
    coded = replace(
        inputs,
        documents=inputs.keyed(inputs.documents),
        annotations=inputs.keyed(inputs.annotations),
        spans=inputs.keyed_spans,
        relations=inputs.keyed(inputs.relations, ("doc_id",)),
    )
    return coded, replace(gold, spans=inputs.keyed(gold.spans)) if gold is not None else None


#: the levels reported: 0 inside no other span, 1 inside one, the last one and deeper
LEVELS = ("level 0", "level 1", "level 2+")


def _ranked(versions: pl.DataFrame) -> pl.DataFrame:
    """doc_id, annotation_id, later, earlier: of how many pairs each version is the left side (the other versions of
    its document with a greater id) and the right side (with a smaller id).

    Counting a span once per pair it takes part in, by these numbers, gives the sums over all pairs
    without making the pairs: a join of pairs with spans grows with the square of the annotators per document.
    """
    rank = pl.col("annotation_id").rank("ordinal").over("doc_id").cast(pl.Int64)
    return versions.select("doc_id", "annotation_id", later=pl.len().over("doc_id").cast(pl.Int64) - rank, earlier=rank - 1)


def _pair_counts(items: pl.DataFrame, by: Sequence[str], key: Sequence[str]) -> pl.DataFrame:
    """*by, left, right, exact: summed over every pair of versions, the ``items`` (annotation_id, *by, *key and their
    version's :func:`_ranked` columns) of its left side, of its right side, and the distinct keys both sides hold
    (items with an equal key, nulls included, match).

    A key held by c versions of a document is held by both sides of c·(c−1)/2 pairs. (For spans, the join
    this replaced counted a match only where the two overlap: the same for every span validation lets through,
    none being empty.)
    """
    sides = items.group_by(by).agg(left=pl.col("later").sum(), right=pl.col("earlier").sum())
    # the versions holding each key counted as they are grouped, not after a unique pass (1M span results: 0.33 → 0.23 s CPU)
    holders = items.group_by("doc_id", *by, *key).agg(c=pl.col("annotation_id").n_unique().cast(pl.Int64))
    exact = holders.group_by(by).agg(exact=(pl.col("c") * (pl.col("c") - 1) // 2).sum())
    return sides.join(exact, on=by, how="left").fill_null(0)


def _exact_counts(items: pl.DataFrame, layer: str, key: Sequence[str]) -> dict[tuple[str, str], PairCounts]:
    """(layer, group) → the exact matches of each ``group`` of ``items`` (annotation_id, group, *key, their version's
    :func:`_ranked` columns; no row twice), summed over the pairs."""
    counts = _pair_counts(items, ["group"], key)
    return {(layer, group): PairCounts(matched, n_left, n_right) for group, n_left, n_right, matched in counts.select("group", "left", "right", "exact").iter_rows()}


def _layer_totals(counts: Mapping[tuple[str, str], Value], add: Callable[[Value, Value], Value]) -> dict[tuple[str, str], Value]:
    """The counts and, for each layer, their sum over its labels as label "*"."""
    totals: dict[tuple[str, str], Value] = {}
    for (layer, _), value in counts.items():
        totals[layer, "*"] = add(totals[layer, "*"], value) if (layer, "*") in totals else value
    return {**counts, **totals}


def _exact_f1(counts: Mapping[tuple[str, str], PairCounts]) -> tuple[F1, ...]:
    """Exact F1 per layer and group, and "*" over all groups of a layer, in that order."""
    rows = _layer_totals(counts, operator.add)
    return tuple(F1(layer, group, "exact", rows[layer, group].matched, rows[layer, group].left, rows[layer, group].right) for layer, group in sorted(rows))


def _relation_keys(spans: pl.DataFrame, relations: pl.DataFrame, versions: pl.DataFrame) -> pl.DataFrame:
    """annotation_id, group (the relation label) and both ends' layer, label, start and end, of the versions' relations.

    A region with several labels stands for its last span, as in adjudication.
    """
    relations = relations.join(versions.select("annotation_id"), on="annotation_id")
    regions = pl.concat(relations.select("annotation_id", region_id=end) for end in ("from_region", "to_region"))
    ends = (
        # only the regions the versions' relations name are looked up and sorted (1M span results, a range of 2,000
        # documents: 0.030 → 0.017 s CPU; all ranges, without joining every span with the versions first: 0.14 → 0.10 s)
        spans.select("annotation_id", "region_id", *SPAN_KEY)
        .join(regions, on=["annotation_id", "region_id"], how="semi")
        .sort("annotation_id", "start", "end", "layer", "label")
        .unique(["annotation_id", "region_id"], keep="last", maintain_order=True)
    )
    return (
        relations.join(ends.rename({c: f"from_{c}" for c in SPAN_KEY}), left_on=["annotation_id", "from_region"], right_on=["annotation_id", "region_id"])
        .join(ends.rename({c: f"to_{c}" for c in SPAN_KEY}), left_on=["annotation_id", "to_region"], right_on=["annotation_id", "region_id"])
        .select("annotation_id", pl.col("label").alias("group"), *(f"{side}_{c}" for side in ("from", "to") for c in SPAN_KEY))
    )


def _relation_counts(ranked: pl.DataFrame, keyed: pl.DataFrame) -> dict[tuple[str, str], PairCounts]:
    # two relations of one annotation may have the same label and ends: they count once
    return _exact_counts(keyed.unique().join(ranked, on="annotation_id"), "relation", [c for c in keyed.columns if c not in ("annotation_id", "group")])


def _quote_type_patterns(spans: pl.DataFrame) -> dict[tuple[str, str], int]:
    """(one side's, the other's quote type; the smaller first) → of how many pairs both sides drew one of the spans
    (with a quote type) identically, with these types.

    Counted from how many versions gave a span each type, without making the pairs, which grow with the
    square of the annotators per document. Which side's type comes first makes no difference to alpha:
    every unit has two values, so its sums are of whole numbers, exact in any order.
    """
    typed = spans.filter(pl.col("quote_type").is_not_null()).unique(["annotation_id", *SPAN_KEY], keep="first", maintain_order=True)
    held = typed.group_by("doc_id", *SPAN_KEY, "quote_type").agg(n=pl.len().cast(pl.Int64))
    same = held.select("quote_type", quote_type_right="quote_type", pairs=pl.col("n") * (pl.col("n") - 1) // 2)
    across = (
        held.join(held, on=["doc_id", *SPAN_KEY], suffix="_right")
        .filter(pl.col("quote_type") < pl.col("quote_type_right"))
        .select("quote_type", "quote_type_right", pairs=pl.col("n") * pl.col("n_right"))
    )
    units = pl.concat([same, across]).filter(pl.col("pairs") > 0).group_by("quote_type", "quote_type_right").agg(pl.col("pairs").sum())
    return {(a, b): n for a, b, n in units.sort("quote_type", "quote_type_right").iter_rows()}


def nesting_levels(extents: Sequence[tuple[int, int]]) -> list[int]:
    """For each extent (start, end) of one annotation's layer, how many other extents strictly contain it."""
    order = sorted(range(len(extents)), key=lambda i: (extents[i][0], -extents[i][1]))
    levels = [0] * len(extents)
    stack: list[tuple[int, int]] = []
    for i in order:
        start, end = extents[i]
        while stack and stack[-1][1] <= start:
            stack.pop()  # ended before this one starts: contains nothing from here on
        levels[i] = len({extent for extent in stack if extent[1] >= end and extent != (start, end)})
        stack.append((start, end))
    return levels


def capped_levels(owner: np.ndarray, end: np.ndarray, cap: int = len(LEVELS) - 1) -> np.ndarray:
    """:func:`nesting_levels`, capped at ``cap`` (one or two), of distinct extents sorted by owner, then start, then
    end descending: each extent's level is how many earlier extents of its owner end at or after its end.

    Whether one does is the owner's running maximum of the earlier ends; whether two do, the running maximum of
    the earlier ends less one occurrence of the largest, which is the running maximum of min(end, the ends'
    maximum before it). Numbered ``owner`` · 2³² + end, an owner's values exceed all earlier owners', so one running
    maximum over every owner restarts at each (1M span results, a range of 2,000 documents: the levels
    0.061 → 0.024 s CPU, with a Python stack per annotation before).
    """
    if not 1 <= cap <= 2:
        raise ValueError(f"capped_levels counts up to one or two containing extents, not {cap}")
    keyed = owner.astype(np.int64) << 32
    ends = keyed + end.astype(np.int64)
    first = np.ones(len(ends), dtype=bool)
    first[1:] = owner[1:] != owner[:-1]
    nothing = keyed - 1  # below every end of the owner: no earlier extent

    def before(values: np.ndarray) -> np.ndarray:
        """The running maximum of the owner's earlier values (``nothing`` for its first extent)."""
        shifted = np.empty_like(values)
        shifted[:1], shifted[1:] = nothing[:1], values[:-1]
        return np.maximum.accumulate(np.where(first, nothing, shifted))

    largest = before(ends)
    levels = (largest >= ends).astype(np.int64)
    if cap == 2:
        levels += before(np.minimum(ends, largest)) >= ends
    return levels


def _leveled(spans: pl.DataFrame) -> pl.DataFrame:
    """The spans (of the nested layer), one per annotation, label and extent, with their ``level`` (one of LEVELS)."""
    spans = spans.sort(["annotation_id", "start", "end", "label"], descending=[False, False, True, False])
    ids, starts, ends, labels = (spans[name].to_physical().to_numpy() for name in ("annotation_id", "start", "end", "label"))
    owner = np.ones(len(ids), dtype=bool)
    owner[1:] = ids[1:] != ids[:-1]
    # identical extents (of different labels, adjacent in this order) count once as containers (nesting_levels' set)
    extent = owner.copy()
    extent[1:] |= (starts[1:] != starts[:-1]) | (ends[1:] != ends[:-1])
    # one span per annotation, label and extent: a repeat is adjacent in this order (1M span results: with the levels
    # taken from an enum rather than made as strings, 0.28 → 0.07 s CPU, against a unique pass first)
    distinct = extent.copy()
    distinct[1:] |= labels[1:] != labels[:-1]
    levels = capped_levels(np.cumsum(owner)[extent], ends[extent])[np.cumsum(extent) - 1]
    return spans.filter(pl.Series(distinct)).with_columns(level=pl.Series(LEVELS, dtype=pl.Enum(LEVELS)).gather(levels[distinct]))


def _nesting_counts(leveled: pl.DataFrame, layer: str) -> dict[tuple[str, str], PairCounts]:
    """Exact matches of the spans per nesting level (the same level on both sides); ``leveled`` holds each span once."""
    return _exact_counts(leveled.select("annotation_id", "doc_id", "later", "earlier", "label", "start", "end", group="level"), layer, ["label", "start", "end"])


def _nesting_patterns(leveled: pl.DataFrame, texts: pl.DataFrame, words: pl.DataFrame) -> dict[str, Patterns]:
    """The units of token alpha per nesting level: a token's value is the label of the coder's span at that level over it, or O
    (for the last level, the outermost of its spans)."""
    # each level is a track of its own, so that each document is tokenized once for all of them
    return _token_patterns(leveled.with_columns(layer="level"), texts, words, LEVELS)


def _compared_passes(latest: pl.DataFrame, gold: Gold) -> pl.DataFrame:
    """doc_id, annotation_id, annotator: the independent passes (``latest``, :func:`_latest_passes`) that are not themselves the gold."""
    whole = [aid for d in gold.decisions if d.policy in (Policy.GROUND_TRUTH, Policy.SINGLE) for aid in d.annotation_ids]
    return latest.filter(~pl.col("annotation_id").is_in(whole))


def _passes(inputs: BuildInputs, gold: Gold, layers: Sequence[str], latest: pl.DataFrame) -> pl.DataFrame:
    """doc_id, annotator, layer, matched, drawn, gold: :class:`PassScore`'s fields, a row each."""
    passes = _compared_passes(latest, gold).lazy()
    # semi joins, and no annotator carried along (1M span results, one range: 0.054 → 0.051 s CPU); one lazy query,
    # whose drawn and gold spans are made once for the three counts that read them (two ranges: 0.078 → 0.068 s CPU)
    drawn = (
        inputs.spans.lazy().filter(pl.col("layer").is_in(layers)).join(passes, on=["doc_id", "annotation_id"], how="semi")
        .select("doc_id", "annotation_id", *SPAN_KEY).unique()
    )
    gold_spans = gold.spans.lazy().filter(pl.col("layer").is_in(layers)).select("doc_id", *SPAN_KEY).unique()
    grid = passes.join(pl.LazyFrame({"layer": list(layers)}, schema={"layer": inputs.spans.schema["layer"]}), how="cross")
    table = (
        grid.join(drawn.group_by("annotation_id", "layer").agg(drawn=pl.len()), on=["annotation_id", "layer"], how="left")
        .join(drawn.join(gold_spans, on=["doc_id", *SPAN_KEY], how="semi").group_by("annotation_id", "layer").agg(matched=pl.len()), on=["annotation_id", "layer"], how="left")
        .join(gold_spans.group_by("doc_id", "layer").agg(gold=pl.len()), on=["doc_id", "layer"], how="left")
        .fill_null(0)
        .sort("doc_id", "annotator", "layer")
        .select(*PASS_FIELDS)
    )
    return table.collect()


def _log(inputs: BuildInputs, gold: Gold, layers: Sequence[str], reasons: Sequence[Reason], versions: pl.DataFrame) -> tuple[Override, ...]:
    """Where a ground truth departs from what all independent passes (``versions``, :func:`_independent_versions`) of
    its document agreed on."""
    adjudicated = [d.doc_id for d in gold.decisions if d.policy is Policy.GROUND_TRUTH]
    if not adjudicated:  # nothing to log, and no query over the gold's spans to find it (1M news: 0.045 → 0.00 s CPU)
        return ()
    versions = versions.filter(pl.col("doc_id").is_in(adjudicated))
    n_passes = versions.group_by("doc_id").agg(n=pl.len())
    drawn = (
        # the passes' spans picked before they are joined, not every span filtered by layer first: most documents have
        # no ground truth, so no spans here (with the other tables narrowed to their columns first, 1M news: agreement
        # 1.93 → 1.81 s CPU)
        inputs.spans.filter(pl.col("annotation_id").is_in(versions["annotation_id"].implode()), pl.col("layer").is_in(layers))
        .join(versions, on=["doc_id", "annotation_id"])
        .unique(["annotation_id", *SPAN_KEY], keep="first", maintain_order=True)
        .group_by("doc_id", *SPAN_KEY)
        .agg(pl.len().alias("by"), pl.col("text").first(), pl.col("quote_type").unique().alias("types"))
        .join(n_passes, on="doc_id")
    )
    agreed = drawn.filter(pl.col("by") == pl.col("n"))
    golden = gold.spans.filter(pl.col("layer").is_in(layers), pl.col("doc_id").is_in(versions["doc_id"].unique().to_list()))
    gold_keys = golden.select("doc_id", *SPAN_KEY, "text", gold_type="quote_type").unique(["doc_id", *SPAN_KEY])
    removed = agreed.join(gold_keys, on=["doc_id", *SPAN_KEY], how="anti").select("doc_id", *SPAN_KEY, "text")
    added = gold_keys.join(drawn, on=["doc_id", *SPAN_KEY], how="anti").select("doc_id", *SPAN_KEY, "text")
    retyped = (
        agreed.filter(pl.col("types").list.len() == 1)
        .with_columns(passes=pl.col("types").list.first())
        .join(gold_keys.drop("text"), on=["doc_id", *SPAN_KEY])
        .filter(pl.col("passes").is_not_null(), pl.col("passes") != pl.col("gold_type"))
    )
    why = {r.departure: r.guideline for r in reasons}
    entries: list[tuple[Change, tuple, str, str]] = [
        *(("removed", row, "", "") for row in removed.rows()),
        *(("added", row, "", "") for row in added.rows()),
        *(("quote_type", row[:6], row[6], row[7] or "") for row in retyped.select("doc_id", *SPAN_KEY, "text", "passes", "gold_type").rows()),
    ]
    log = [
        Override(doc_id, layer, label, start, end, text, change, passes, gold_type, why.get((doc_id, layer, label, start, end, change), ""))
        for change, (doc_id, layer, label, start, end, text), passes, gold_type in entries
    ]
    return tuple(sorted(log, key=lambda o: (o.doc_id, o.start, o.end, o.layer, o.label, o.change)))


def _latest_passes(annotations: pl.DataFrame) -> pl.DataFrame:
    """doc_id, annotation_id, annotator: each annotator's latest independent annotation (none marked ground_truth) of
    each document; made once for the versions, the passes and the log (1M news: 0.02 s CPU a time)."""
    return latest_per_annotator(annotations.filter(~pl.col("ground_truth"))).select("doc_id", "annotation_id", "annotator")


def _independent_versions(latest: pl.DataFrame) -> pl.DataFrame:
    """doc_id, annotation_id: the independent passes (``latest``, :func:`_latest_passes`) of documents with two or more."""
    return latest.filter(pl.len().over("doc_id") >= 2).select("doc_id", "annotation_id")


#: Rows of the pairwise overlap join (a span once per pair it takes part in) per batch of documents: bounds the
#: memory of the overlap matching whatever the number of annotators per document.
OVERLAP_BATCH_ROWS = 1_000_000


def _span_counts(spans: pl.DataFrame) -> dict[tuple[str, str], SpanCounts]:
    """(layer, label) → matched spans and the spans of either side, summed over the pairs."""
    by_label = ["layer", "label"]
    counts = (
        _pair_counts(spans, by_label, ["start", "end"])
        .join(_overlap_matches(spans), on=by_label, how="left")
        .fill_null(0)
    )
    return {(layer, label): SpanCounts(*row) for layer, label, *row in counts.select(*by_label, "left", "right", "exact", "overlap").iter_rows()}


def _span_f1(counts: Mapping[tuple[str, str], SpanCounts]) -> tuple[F1, ...]:
    """Span F1 per layer and label ("*": all labels of the layer), exact and overlap, in that order."""
    f1 = (
        F1(layer, label, match, matched, c.left, c.right)
        for (layer, label), c in _layer_totals(counts, operator.add).items()
        for match, matched in (("exact", c.exact), ("overlap", c.overlap))
    )
    return tuple(sorted(f1, key=lambda f: (f.layer, f.label, f.match)))


def _overlap_matches(spans: pl.DataFrame) -> pl.DataFrame:
    """layer, label, overlap: the one-to-one overlap matches of every pair, made per batch of whole documents.

    The spans are ordered by document, layer, label and start by one numpy sort of two numbers, a document's
    being a run of rows, so a batch of documents is a slice of them (1M news: the overlap matching 0.24 → 0.18 s
    CPU, against polars sorting each batch's frame on the four columns after a join that cut the batches).
    """
    doc, layer, label = (spans[name].to_physical().to_numpy().astype(np.int64) for name in ("doc_id", "layer", "label"))
    codes = layer * (int(label.max(initial=0)) + 1) + label  # each span's layer and label
    order = np.lexsort((spans["start"].to_numpy(), doc * (int(codes.max(initial=0)) + 1) + codes))
    doc, code = doc[order], codes[order]
    start, end = spans["start"].to_numpy()[order], spans["end"].to_numpy()[order]
    coder = spans["earlier"].to_numpy().astype(np.int64)[order]
    # a document's rows in the matching: each of its spans once per other version
    rows = coder + spans["later"].to_numpy()[order]
    coders = int(rows.max(initial=0)) + 1
    # a track: one document's spans of one layer and label, numbered from 0 in this order
    new = np.ones(len(doc), dtype=bool)
    new[1:] = (doc[1:] != doc[:-1]) | (code[1:] != code[:-1])
    track = np.cumsum(new) - 1
    # the batches: the documents in order, cut where their rows in the matching pass a multiple of OVERLAP_BATCH_ROWS
    last = np.ones(len(doc), dtype=bool)
    last[:-1] = doc[1:] != doc[:-1]
    ends = np.flatnonzero(last) + 1
    batch = np.cumsum(rows)[ends - 1] // OVERLAP_BATCH_ROWS
    cuts = [0, *ends[np.flatnonzero(batch[1:] != batch[:-1])], len(doc)] if len(doc) else []
    made = np.zeros(int(code.max(initial=0)) + 1, dtype=np.int64)
    for low, high in zip(cuts, cuts[1:]):
        made += _overlaps_made(track[low:high], start[low:high], end[low:high], coder[low:high], code[low:high], coders, len(made))
    # each layer and label of the spans, with its matches
    labels = spans.select("layer", "label", code=pl.Series(codes)).unique("code")
    return labels.select("layer", "label", overlap=pl.Series(made, dtype=pl.UInt32).gather(labels["code"]))


def _overlaps_made(track: np.ndarray, start: np.ndarray, end: np.ndarray, coder: np.ndarray, code: np.ndarray, coders: int, codes: int) -> np.ndarray:
    """How many overlap matches are made between every two versions, per layer and label (``code``, under ``codes``),
    of spans sorted by ``track`` (one document's layer and label) and start (``coder``: the rank of a span's version
    among its document's, under ``coders``).

    The spans that overlap a span and start no earlier are the ones after it in its track that start before its
    end: one search each finds them (numbered track · 2³² + offset, as in :func:`_stretches`). So only spans that
    overlap are ever paired (team of 40, 1M span results: the overlap matching's CPU 4.0 → 1.4 s, with a join of
    every two spans of a label in a pair before; news: 0.24 → 0.25 s).
    """
    after = np.searchsorted((track << 32) + start, (track << 32) + end, side="left") - np.arange(len(track)) - 1
    count = np.maximum(after, 0)
    one = np.repeat(np.arange(len(track)), count)
    other = np.arange(len(one)) - np.repeat(np.cumsum(count) - count, count) + one + 1
    keep = (coder[one] != coder[other]) & (start[one] < end[other]) & (start[other] < end[one])
    one, other = one[keep], other[keep]
    # the side of the smaller annotation id (the earlier coder) is the left one, as in every pair
    first = coder[one] < coder[other]
    left, right = np.where(first, one, other), np.where(first, other, one)
    # a group: one track's spans of one pair of versions; a mention: one span in one pair, numbered by the span and
    # the other side's coder
    group = (track[left] * coders + coder[left]) * coders + coder[right]
    made = left[_one_to_one(group, left * coders + coder[right], right * coders + coder[left], start, end, left, right)]
    return np.bincount(code[made], minlength=codes)


def _one_to_one(group: np.ndarray, mention: np.ndarray, mention_right: np.ndarray, start: np.ndarray, end: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Which candidates (spans ``left`` and ``right`` that overlap, each named in its pair by ``mention`` and
    ``mention_right``, in a ``group``: a pair's spans of one label) make the overlap matches, one to one: each left
    span in order of start and end takes the first right span, in the same order, that it overlaps and no earlier
    left span took (``start`` and ``end``: every span's).

    Groups share no span, so the greedy pass runs on all of them at once, one round per place of a left span in its
    group: round k gives the k-th left span of every group the first of its right spans not taken in an earlier
    round, which is the one the greedy pass over that group alone gives it (team of 40, 1M span results, three
    ranges: 0.24 → 0.10 s CPU, against a Python loop over the candidates; 4 to 9 rounds).
    """
    # a candidate that is the only one of both its spans is made in any order; only the others need the greedy pass
    alone = (np.bincount(mention)[mention] == 1) & (np.bincount(mention_right)[mention_right] == 1)
    made = alone.copy()
    others = np.flatnonzero(~alone)
    if not len(others):
        return made
    # the contested candidates in the greedy pass's order: group, left span (start, end, mention), right span (the same)
    extent = (start.astype(np.int64) << 32) | end  # start, then end, as one number (offsets are below 2³²)
    a, b = mention[others], mention_right[others]
    contested = others[np.lexsort((b, extent[right[others]], a, extent[left[others]], group[others]))]
    group, a, b = group[contested], mention[contested], mention_right[contested]
    new_group = np.ones(len(contested), dtype=bool)
    new_group[1:] = group[1:] != group[:-1]
    new_left = new_group.copy()
    new_left[1:] |= a[1:] != a[:-1]
    left_number = np.cumsum(new_left) - 1
    place = left_number - left_number[new_group][np.cumsum(new_group) - 1]  # of the left span in its group, from 0
    # the rounds: each one's candidates together, each left span's still in order
    by_place = np.argsort(place, kind="stable")
    rounds = np.searchsorted(place[by_place], np.arange(int(place.max()) + 2))
    taken = np.zeros(int(b.max()) + 1, dtype=bool)
    for low, high in zip(rounds[:-1], rounds[1:]):
        free = by_place[low:high][~taken[b[by_place[low:high]]]]
        first = np.ones(len(free), dtype=bool)  # each left span's first free right span
        first[1:] = left_number[free[1:]] != left_number[free[:-1]]
        taken[b[free[first]]] = True
        made[contested[free[first]]] = True
    return made


def _token_patterns(spans: pl.DataFrame, texts: pl.DataFrame, words: pl.DataFrame, layers: Sequence[str]) -> dict[str, Patterns]:
    """The units of alpha per layer: the tokens of the documents, each version's value of a token being its outermost label.

    ``spans`` carry their version's :func:`_ranked` columns (``earlier``: the version's number among its document's),
    ``texts`` are the documents' (doc_id, document: its number, text, coders: how many versions) and ``words`` their
    :func:`word_frame`.

    From one span boundary of a document's layer to the next, every version's label stays the same, and
    the tokens are cut at those boundaries: units are counted per such stretch, not token by token.
    """
    # a track is one layer of one document; tracks, and stretches across all tracks, are numbered in the order of the tokens
    layer_rows = pl.DataFrame({"layer": layers}, schema={"layer": spans.schema["layer"]}).sort("layer")
    tracks = texts.join(layer_rows, how="cross").sort("document", "layer").with_row_index("track")
    # a span's track by its document's number and its layer's place, from their enum codes, not joins on doc_id and
    # layer (1M span results: with the spans' ranks joined once for every measure, agreement's CPU 2.25 → 2.18 s)
    number = np.zeros(len(_categories(texts["doc_id"])), dtype=np.int64)
    number[texts["doc_id"].to_physical().to_numpy()] = texts["document"].to_numpy()
    place = np.zeros(len(_categories(layer_rows["layer"])), dtype=np.int64)
    place[layer_rows["layer"].to_physical().to_numpy()] = np.arange(layer_rows.height)
    track = number[spans["doc_id"].to_physical().to_numpy()] * layer_rows.height + place[spans["layer"].to_physical().to_numpy()]
    spans = spans.select(pl.Series("track", track), coder="earlier", label="label", start="start", end="end")
    stretches, spans = _stretches(tracks, spans, words)
    # a stretch's pattern is told by how many coders its document has and each one's label code (0: O), written
    # as one binary value per stretch, grouped by hashing it (1M span results, with the cuts and
    # outermost labels in numpy: both calls' units 1.08 → 0.82 s CPU, grouped before as lists of coders and labels)
    names = ["O", *(sys.intern(name) for name in _categories(spans["label"]))]  # one string per label, however many patterns are kept across batches
    width = int(tracks["coders"].to_numpy().max(initial=1))
    grid = _outermost_labels(spans, stretches.height, width, np.min_scalar_type(len(names)))
    counted = stretches["tokens"].to_numpy() > 0
    track = stretches["track"].to_numpy()[counted]
    units = (
        pl.DataFrame({
            "layer": tracks["layer"].to_physical().to_numpy()[track],
            "coders": tracks["coders"].to_numpy()[track],
            "pattern": _rows_binary(grid[counted]),
            "tokens": stretches["tokens"].to_numpy()[counted],
        })
        .group_by("layer", "coders", "pattern", maintain_order=True)
        .agg(pl.col("tokens").sum())
    )
    # patterns in the order they first occur
    layer_names = _categories(tracks["layer"])
    found: dict[str, dict[tuple[str, ...], int]] = {layer: {} for layer in layers}
    for layer, n_coders, pattern, count in units.iter_rows():
        codes = np.frombuffer(pattern, dtype=grid.dtype)[:n_coders].tolist()
        found[layer_names[layer]][tuple(names[code] for code in codes)] = count
    return {layer: found[layer] for layer in layers}


def _categories(column: pl.Series) -> list[str]:
    """The values of an enum column, in the order of their codes."""
    assert isinstance(column.dtype, pl.Enum), f"{column.name} is {column.dtype}, not one of the enums of BuildInputs"
    return column.dtype.categories.to_list()


def _rows_binary(rows: np.ndarray) -> pl.Series:
    """Each row of a two-dimensional array as one binary value (its bytes)."""
    rows = np.ascontiguousarray(rows)
    width = rows.shape[1] * rows.itemsize
    values = pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), len(rows), [None, pa.py_buffer(rows)])
    series = pl.from_arrow(values)
    assert isinstance(series, pl.Series)
    return series


def _stretches(tracks: pl.DataFrame, spans: pl.DataFrame, words: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """stretch, track, position, tokens: each track cut at 0 and at its span boundaries, and how many tokens each
    stretch has; and the spans with the stretches each covers: from ``first`` to before ``stop``.

    ``tokenize`` would cut a word (a token of the uncut text) at every boundary inside it, so a stretch has
    one token for every word that overlaps it: the words that start before its end less those that end
    by its start. The ``words`` of every text come at once (:func:`word_frame`), the counts by one search
    over all texts (each text on its own stretch of the axis), not a Python call per stretch.

    The cuts are numbered track · 2³² + position (tracks are numbered from 0, a text is shorter than 2³²), so that
    one sort of numbers puts them in the order of the stretches and tells the stretch of each span's bounds
    (1M span results, both alphas: the cuts and the outermost labels 0.60 → 0.51 s CPU, against a search per bound).
    """
    starts = (spans["track"].to_numpy().astype(np.int64) << 32) + spans["start"].to_numpy()
    ends = (spans["track"].to_numpy().astype(np.int64) << 32) + spans["end"].to_numpy()
    cuts, index = _distinct(np.concatenate([np.arange(tracks.height, dtype=np.int64) << 32, starts, ends]))
    track, position = cuts >> 32, cuts & 0xFFFFFFFF
    # a stretch stops where the next of its track starts, the last one at the end of the text
    last = np.ones(len(cuts), dtype=bool)
    last[:-1] = track[1:] != track[:-1]
    length = tracks["text"].str.len_chars().cast(pl.Int64).to_numpy()
    stop = np.where(last, length[track], np.roll(position, -1))
    document = tracks["document"].to_numpy().astype(np.int64)[track] << 32
    word_document = words["text"].to_numpy().astype(np.int64) << 32
    started = np.searchsorted(word_document + words["start"].to_numpy(), document + stop, side="left")
    ended = np.searchsorted(word_document + words["end"].to_numpy(), document + position, side="right")
    stretches = pl.DataFrame({"track": track, "position": position, "tokens": started - ended}).with_row_index("stretch")
    return stretches, spans.with_columns(first=pl.Series(index[tracks.height : tracks.height + spans.height]), stop=pl.Series(index[tracks.height + spans.height :]))


def _distinct(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(values, return_inverse=True)`` by a stable sort (numpy's timsort), which merges the runs already in
    order, as the cuts come in runs (the tracks' starts, then the spans' starts and ends): 1M news, both alphas'
    cuts 0.16 → 0.09 s CPU, against np.unique's quicksort."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    new = np.ones(len(ordered), dtype=bool)
    new[1:] = ordered[1:] != ordered[:-1]
    index = np.empty(len(values), dtype=np.int64)
    index[order] = np.cumsum(new) - 1
    return ordered[new], index


def _outermost_labels(spans: pl.DataFrame, stretches: int, width: int, dtype: np.dtype) -> np.ndarray:
    """stretches × width: each version's outermost label over each stretch, its enum code + 1 (0: none), in column
    ``coder`` (``spans`` with the stretches they cover, :func:`_stretches`).

    Outermost: the longest span; between equally long ones, the later start, then the greater label. A span's rows,
    one per stretch it covers, are made in numpy; each stretch and coder keeps the greatest length and start (as one
    number), then the greatest label of the rows that have it, by ``np.maximum.at``, with no sort (1M news, both
    calls: 0.19 → 0.045 s CPU, against a lexsort of the spans and an np.unique of the rows, whose last row of each
    stretch and coder was the outermost).
    """
    start, end = spans["start"].to_numpy().astype(np.uint64), spans["end"].to_numpy().astype(np.uint64)
    first = spans["first"].to_numpy()
    widths = spans["stop"].to_numpy() - first
    row = np.repeat(np.arange(len(first)), widths)
    stretch = np.arange(len(row)) - np.repeat(np.cumsum(widths) - widths - first, widths)
    cell = stretch * width + spans["coder"].to_numpy()[row]
    extent = ((end - start) << np.uint64(32) | start)[row]  # above 0: a span that covers a stretch is not empty
    longest = np.zeros(stretches * width, dtype=np.uint64)
    np.maximum.at(longest, cell, extent)
    outermost = extent == longest[cell]
    grid = np.zeros(stretches * width, dtype=dtype)
    np.maximum.at(grid, cell[outermost], (spans["label"].to_physical().to_numpy()[row[outermost]] + 1).astype(dtype))
    return grid.reshape(stretches, width)


@dataclass(frozen=True)
class PredictionSums:
    """What :func:`prediction_quality` is computed from, per layer, as sums over documents: ``a + b`` over the documents of both."""

    layers: Mapping[str, PredictionQuality]  # layer → its counts, in the layers' order

    @classmethod
    def empty(cls, layers: Sequence[str]) -> PredictionSums:
        return cls({layer: PredictionQuality(layer, 0, 0, 0) for layer in layers})

    def __add__(self, other: PredictionSums) -> PredictionSums:
        return PredictionSums(_merged(self.layers, other.layers, operator.add))

    def result(self) -> tuple[PredictionQuality, ...]:
        return tuple(self.layers.values())


def prediction_quality(predictions: pl.DataFrame, gold_spans: pl.DataFrame, annotated_docs: Sequence[str], layers: Sequence[str]) -> tuple[PredictionQuality, ...]:
    """Per layer, the stored pre-annotations against gold, exact match, over documents that have both."""
    return prediction_sums(predictions, gold_spans, annotated_docs, layers).result()


def prediction_sums(predictions: pl.DataFrame, gold_spans: pl.DataFrame, annotated_docs: Sequence[str], layers: Sequence[str]) -> PredictionSums:
    """The sums :func:`prediction_quality` is computed from, over the documents of ``predictions`` and ``gold_spans``
    (a batch of whole documents, or all of them); ``annotated_docs`` may list others too."""
    key = ["doc_id", *SPAN_KEY]
    # the documents both annotated and predicted are those of the predictions kept; the counts per layer by one
    # group_by of each table rather than a filter per layer (1M news, three ranges: 0.087 → 0.071 s CPU)
    predicted = predictions.filter(pl.col("doc_id").is_in(pl.Series(list(annotated_docs), dtype=pl.String).implode())).select(key).unique()
    gold = gold_spans.filter(pl.col("doc_id").is_in(predicted["doc_id"].unique().implode())).select(key).unique()
    correct = predicted.join(gold, on=key, how="inner")
    predicted_n, gold_n, correct_n = (dict(frame.group_by("layer").len().iter_rows()) for frame in (predicted, gold, correct))
    return PredictionSums({layer: PredictionQuality(layer, predicted_n.get(layer, 0), gold_n.get(layer, 0), correct_n.get(layer, 0)) for layer in layers})
