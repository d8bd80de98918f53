"""Character spans ↔ IOB2 tags over tokens, flat and nested (Wojood's columns).

``nested_tags`` gives each token the tags of every entity covering it, outermost
first (``["O"]`` when none); ``[tags[0] for tags in nested]`` is plain IOB2 over
the outermost entities. A span that does not start and end on token boundaries,
or that crosses another, raises :class:`AlignmentError` instead of being tagged O:
:func:`align` first maps character spans onto the tokens, and says how.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np
import polars as pl

from khabar.annotation.tags import OUTSIDE
from khabar.dataset.segment import Tokens
from khabar.foundation.errors import KhabarError


class Span(NamedTuple):
    start: int
    end: int
    label: str


class AlignmentError(KhabarError):
    """Spans and tokens (or tags) that do not fit together."""


def outermost_first(spans: Sequence[Span], labels: Sequence[str] = ()) -> list[Span]:
    """Spans sorted by start, longer first; equal extents by ``labels`` order, then by name."""
    rank = {label: i for i, label in enumerate(labels)}
    return sorted(spans, key=lambda s: (s.start, -s.end, rank.get(s.label, len(rank)), s.label))


def check_nesting(ordered: Sequence[Span]) -> None:
    """Raise on empty, repeated or crossing spans (given in :func:`outermost_first` order)."""
    open_spans: list[Span] = []
    previous: Span | None = None
    for span in ordered:
        if span.end <= span.start:
            raise AlignmentError(f"empty span {span}")
        if span == previous:
            raise AlignmentError(f"repeated span {span}")
        previous = span
        while open_spans and open_spans[-1].end <= span.start:
            open_spans.pop()
        if open_spans and span.end > open_spans[-1].end:
            raise AlignmentError(f"span {span} crosses {open_spans[-1]}")
        open_spans.append(span)


def nested_tags(tokens: Sequence[tuple[int, int]], spans: Sequence[Span], labels: Sequence[str] = ()) -> list[list[str]]:
    """Per token, the IOB2 tags of every span covering it, outermost first (``tokens`` in text order)."""
    ordered = outermost_first(spans, labels)
    check_nesting(ordered)
    starts = [start for start, _ in tokens]
    ends = [end for _, end in tokens]
    columns: list[list[str]] = [[] for _ in tokens]
    for span in ordered:
        first, last = bisect_left(starts, span.start), bisect_left(ends, span.end)
        if not (first <= last < len(tokens) and starts[first] == span.start and ends[last] == span.end):
            raise AlignmentError(f"span {span} does not start and end on token boundaries")
        depth = len(columns[first])
        for i in range(first, last + 1):
            if len(columns[i]) != depth:
                raise AlignmentError(f"span {span} is not nested consistently over its tokens")
            columns[i].append(("B-" if i == first else "I-") + span.label)
    return [tags or [OUTSIDE] for tags in columns]


#: How an entity came onto the tokens: ``exact`` on token boundaries; ``widened`` to the whole tokens
#: it starts or ends inside (a proclitic before a name, as Wojood and ANERcorp tag it); left out of
#: the tags when it ``crosses`` a sentence break, ``merges`` into an entity of the same label and
#: tokens, or ``crosses`` another entity once widened.
Alignment = Literal["exact", "widened", "across_sentences", "merged", "crossing"]
ALIGNMENTS: tuple[Alignment, ...] = ("exact", "widened", "across_sentences", "merged", "crossing")


@dataclass(frozen=True)
class Aligned:
    """One entity mapped onto tokens: ``span`` is on token boundaries (None when left out)."""

    entity: Span
    span: Span | None
    how: Alignment


def align(tokens: Sequence[tuple[int, int]], sentence_of: Sequence[int], entities: Sequence[Span], labels: Sequence[str] = ()) -> list[Aligned]:
    """Map character spans onto ``tokens`` (text order; ``sentence_of``: each token's sentence).

    A span that starts or ends inside a token takes the whole token; a span over no token at
    all (white space only) raises :class:`AlignmentError`, since validation never lets one through.
    """
    starts = [start for start, _ in tokens]
    ends = [end for _, end in tokens]
    placed: list[Aligned] = []
    for entity in entities:
        first = bisect_right(ends, entity.start)  # the first token that ends after the span's start
        last = bisect_left(starts, entity.end) - 1  # the last token that starts before its end
        if entity.end <= entity.start or first > last:
            raise AlignmentError(f"span {entity} covers no token")
        if sentence_of[first] != sentence_of[last]:
            placed.append(Aligned(entity, None, "across_sentences"))
            continue
        span = Span(starts[first], ends[last], entity.label)
        placed.append(Aligned(entity, span, "exact" if span == entity else "widened"))
    # widened spans can coincide or cross: the first in outermost order stays
    rank = {label: i for i, label in enumerate(labels)}
    order = sorted(range(len(placed)), key=lambda i: _order_key(placed[i], rank))
    kept: list[Span] = []
    open_spans: list[Span] = []
    for i in order:
        if (widened := placed[i].span) is None:
            continue
        if kept and widened == kept[-1]:
            placed[i] = Aligned(placed[i].entity, None, "merged")
            continue
        while open_spans and open_spans[-1].end <= widened.start:
            open_spans.pop()
        if open_spans and widened.end > open_spans[-1].end:
            placed[i] = Aligned(placed[i].entity, None, "crossing")
            continue
        open_spans.append(widened)
        kept.append(widened)
    return placed


def _order_key(aligned: Aligned, rank: dict[str, int]) -> tuple:
    span = aligned.span or aligned.entity
    return (span.start, -span.end, rank.get(span.label, len(rank)), span.label, aligned.how != "exact")


def outermost_tags(nested: Sequence[Sequence[str]]) -> list[str]:
    return [tags[0] for tags in nested]


def decode_nested(tokens: Sequence[tuple[int, int]], nested: Sequence[Sequence[str]]) -> list[Span]:
    """The spans that ``nested`` tags over ``tokens`` (the inverse of :func:`nested_tags`)."""
    if len(tokens) != len(nested):
        raise AlignmentError(f"{len(tokens)} tokens but {len(nested)} tag lists")
    found: list[Span] = []
    open_at: dict[int, tuple[int, str]] = {}  # depth → (first token, label)

    def close(depth: int, last_token: int) -> None:
        first, label = open_at.pop(depth)
        found.append(Span(tokens[first][0], tokens[last_token][1], label))

    for t, tags in enumerate(nested):
        if list(tags) == [OUTSIDE] or not tags:
            for depth in sorted(open_at):
                close(depth, t - 1)
            continue
        began = False
        for depth, tag in enumerate(tags):
            prefix, _, label = tag.partition("-")
            if prefix not in ("B", "I") or not label:
                raise AlignmentError(f"token {t}: bad tag {tag!r} at depth {depth}")
            if prefix == "B":
                began = True
                if depth in open_at:
                    close(depth, t - 1)
                open_at[depth] = (t, label)
            else:
                if began:
                    raise AlignmentError(f"token {t}: {tag!r} continues inside an entity that begins here")
                if open_at.get(depth, (0, None))[1] != label:
                    raise AlignmentError(f"token {t}: {tag!r} at depth {depth} continues no open {label} entity")
        for depth in sorted(d for d in open_at if d >= len(tags)):
            close(depth, t - 1)
    for depth in sorted(open_at):
        close(depth, len(tokens) - 1)
    return outermost_first(found)


def decode_flat(tokens: Sequence[tuple[int, int]], tags: Sequence[str]) -> list[Span]:
    """The spans of one IOB2 column."""
    return decode_nested(tokens, [[tag] for tag in tags])


class AlignedEntities(NamedTuple):
    """:func:`align` over many texts at once: per entity (in the order given) how it came onto the tokens,
    and for the kept ones their first and last token (rows of the token frame) and nesting depth."""

    how: np.ndarray  # per entity, its position in ALIGNMENTS
    kept: np.ndarray  # bool per entity; first, last and depth are those of the kept entities
    first: np.ndarray
    last: np.ndarray
    depth: np.ndarray


def _keys(text: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """Offsets of all texts on one axis, each text on its own 2**32 stretch: a search never leaves its text."""
    return (text.astype(np.int64) << 32) + offset


_EXACT, _WIDENED, _ACROSS, _MERGED, _CROSSING = (ALIGNMENTS.index(how) for how in ("exact", "widened", "across_sentences", "merged", "crossing"))


def align_all(tokens: Tokens, entities: pl.DataFrame, names: Sequence[str], labels: Sequence[str] = ()) -> AlignedEntities:
    """:func:`align` of every text at once. ``tokens``: those of every text (:func:`~khabar.dataset.segment.tokens`);
    ``entities``: text, start, end, label, in span order; ``names``: each text's document, which an
    :class:`AlignmentError` names."""
    token_text, sentence, token_start, token_end = tokens.text, tokens.sentence, tokens.start, tokens.end
    text, start, end = entities["text"].to_numpy(), entities["start"].to_numpy(), entities["end"].to_numpy()
    first = np.searchsorted(_keys(token_text, token_end), _keys(text, start), side="right")
    last = np.searchsorted(_keys(token_text, token_start), _keys(text, end), side="left") - 1
    bad = np.flatnonzero((end <= start) | (first > last))
    if bad.size:
        i = int(bad[0])
        raise AlignmentError(f"span {Span(int(start[i]), int(end[i]), entities['label'][i])} covers no token", document=names[text[i]])
    across = sentence[first] != sentence[last]
    widened_start, widened_end = token_start[first], token_end[last]
    exact = (widened_start == start) & (widened_end == end)
    how = np.where(across, _ACROSS, np.where(exact, _EXACT, _WIDENED)).astype(np.int8)
    depth = np.full(len(how), -1, dtype=np.int64)
    rank = {label: i for i, label in enumerate(labels)}
    placed = entities.select("text", "label").with_columns(
        row=pl.int_range(pl.len(), dtype=pl.Int64), start=pl.Series(widened_start), end=pl.Series(widened_end),
        rank=pl.col("label").replace_strict(rank, default=len(rank), return_dtype=pl.Int64), widened=pl.Series(~exact),
    ).filter(pl.Series(~across))
    repeats = pl.all_horizontal(pl.col(c) == pl.col(c).shift(1) for c in ("text", "start", "end", "label")).fill_null(False)
    order = placed.sort("text", "start", pl.col("end").neg(), "rank", "label", "widened", maintain_order=True).with_columns(repeats=repeats)
    _sweep_all(order, how, depth)
    kept = depth >= 0
    return AlignedEntities(how, kept, first[kept], last[kept], depth[kept])


def _sweep_all(order: pl.DataFrame, how: np.ndarray, depth: np.ndarray) -> None:
    """:func:`_sweep` of every text at once, by numpy, for the texts whose widened spans cross nowhere: there a
    span that repeats the one before it is ``merged``, and the depth of the others is the number of earlier
    ones that end after it starts. A text where that nesting does not hold (a parent that ends before its
    child) is swept again by :func:`_sweep`, whose stack finds the first crossing the same way."""
    rows = order.filter(~pl.col("repeats"))
    row, text, start, end = (rows[c].to_numpy() for c in ("row", "text", "start", "end"))
    how[order.filter(pl.col("repeats"))["row"].to_numpy()] = _MERGED
    count = len(row)
    found = np.arange(count) - np.searchsorted(np.sort(_keys(text, end)), _keys(text, start), side="right")
    # each span's parent, if the spans nest: the last span before it one level up
    levels = found * (count + 1) + np.arange(count)
    by_level = np.argsort(levels, kind="stable")
    parent = by_level[np.maximum(np.searchsorted(levels[by_level], levels - (count + 1)) - 1, 0)]
    nested = (found == 0) | ((found[parent] == found - 1) & (text[parent] == text) & (parent < np.arange(count))
                             & (end[parent] > start) & (end <= end[parent]))
    depth[row] = found
    crossed = np.unique(text[~nested])
    if crossed.size:
        again = order.filter(pl.col("text").is_in(crossed))
        rows_again = again["row"].to_numpy()
        how[rows_again], depth[rows_again] = np.where(again["widened"].to_numpy(), _WIDENED, _EXACT), -1
        _sweep(again.select("row", "text", "start", "end", "label").iter_rows(), how, depth)


def _sweep(ordered: Iterable[tuple[int, int, int, int, str]], how: np.ndarray, depth: np.ndarray) -> None:
    """The second half of :func:`align`, over widened spans in outermost order (row, text, start, end, label):
    marks those that repeat the last kept span ``merged`` and those that cross a kept one ``crossing``,
    and gives each kept span its depth (the kept spans that hold it). Python, once per entity."""
    current = -1
    last_kept: tuple[int, int, str] | None = None
    open_ends: list[int] = []
    for row, text, start, end, label in ordered:
        if text != current:
            current, last_kept, open_ends = text, None, []
        if last_kept == (start, end, label):
            how[row] = _MERGED
            continue
        while open_ends and open_ends[-1] <= start:
            open_ends.pop()
        if open_ends and end > open_ends[-1]:
            how[row] = _CROSSING
            continue
        depth[row] = len(open_ends)
        open_ends.append(end)
        last_kept = (start, end, label)


class TagLists(NamedTuple):
    """Per token (rows of the token frame), the ids of its nested tags, outermost first, as one flat array cut by ``offsets``."""

    offsets: np.ndarray
    ids: np.ndarray


def nested_tag_ids(tokens: int, first: np.ndarray, last: np.ndarray, depth: np.ndarray, begin: np.ndarray) -> TagLists:
    """:func:`nested_tags` as ClassLabel ids over all tokens at once, for kept spans (from :func:`align_all`) whose
    ``B-`` tag has id ``begin`` (its ``I-`` tag is the next id, as :func:`khabar.annotation.tags.tag_names` orders them); 0 (``O``) where none."""
    covering = np.zeros(tokens + 1, dtype=np.int64)
    np.add.at(covering, first, 1)
    np.add.at(covering, last + 1, -1)
    lengths = np.maximum(np.cumsum(covering[:-1]), 1)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    ids = np.zeros(int(offsets[-1]), dtype=np.int64)
    size = last - first + 1
    within = np.arange(int(size.sum())) - np.repeat(np.cumsum(size) - size, size)
    ids[offsets[np.repeat(first, size) + within] + np.repeat(depth, size)] = np.repeat(begin, size) + (within > 0)
    return TagLists(offsets, ids)
