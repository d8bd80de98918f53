"""Character spans ↔ IOB2 tags over tokens, flat and nested (Wojood's columns).

``nested_tags`` gives each token the tags of every entity covering it, outermost
first (``["O"]`` when none); ``[tags[0] for tags in nested]`` is plain IOB2 over
the outermost entities. A span that does not start and end on token boundaries,
or that crosses another, raises :class:`AlignmentError` instead of being tagged O.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from typing import NamedTuple

from khabar.annotation.errors import KhabarError

OUTSIDE = "O"


class Span(NamedTuple):
    start: int
    end: int
    label: str


class AlignmentError(KhabarError):
    """Spans and tokens (or tags) that do not fit together."""


def tag_names(labels: Sequence[str]) -> list[str]:
    """The IOB2 tag vocabulary, in a fixed order: O, then B-/I- per label."""
    return [OUTSIDE] + [f"{prefix}-{label}" for label in labels for prefix in ("B", "I")]


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
