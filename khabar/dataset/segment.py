"""Tokenisation and sentence segmentation for the ``tokens`` config.

Tokens are runs of letters and digits; every punctuation mark (Arabic ، ؛ ؟,
Latin punctuation, quotation marks of every convention in the corpus) is a token
of its own, and a token is cut at every given span boundary, so no span is
ever cut or widened. Sentences end after . ! ? ؟ … or at a line break, except
where the break would fall inside a span.
"""

from __future__ import annotations

import re
import string
import unicodedata
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from functools import cache

#: Punctuation split off as single-character tokens, besides every character of Unicode category P (BMP).
PUNCTUATION = frozenset(string.punctuation) | frozenset("،؛؟«»“”„‘’‚…–—٪٫٬۔")
#: Tokens after which a sentence ends.
SENTENCE_END = frozenset(".!?؟…۔")

Offsets = tuple[int, int]


@cache
def _token_pattern() -> re.Pattern[str]:
    """A punctuation mark alone, or a run of anything but white space and punctuation.

    The marks are written as ranges of the Basic Multilingual Plane, which keeps the
    pattern fast; punctuation of the supplementary planes (historic scripts) is not split off.
    """
    marks = PUNCTUATION | {chr(i) for i in range(0x10000) if unicodedata.category(chr(i)).startswith("P")}
    ranges: list[list[int]] = []
    for code in sorted(map(ord, marks)):
        if ranges and code == ranges[-1][1] + 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    marks_class = "".join(re.escape(chr(a)) + ("" if a == b else "-" + re.escape(chr(b))) for a, b in ranges)
    return re.compile(f"[{marks_class}]|[^\\s{marks_class}]+")


@cache
def _sentence_break() -> re.Pattern[str]:
    """A sentence-ending mark or a line break."""
    return re.compile("[" + re.escape("".join(sorted(SENTENCE_END))) + "\n]")


def tokenize(text: str, boundaries: Iterable[int] = ()) -> list[Offsets]:
    """Token offsets ``(start, end)`` into ``text``, cut at every offset of ``boundaries``."""
    tokens = [match.span() for match in _token_pattern().finditer(text)]
    starts = [start for start, _ in tokens]
    cuts_in: dict[int, list[int]] = {}
    for cut in sorted(set(boundaries)):
        i = bisect_right(starts, cut) - 1
        if i >= 0 and tokens[i][0] < cut < tokens[i][1]:
            cuts_in.setdefault(i, []).append(cut)
    for i in sorted(cuts_in, reverse=True):  # from the end, so that the indices still to cut stay valid
        points = [tokens[i][0], *cuts_in[i], tokens[i][1]]
        tokens[i : i + 1] = zip(points, points[1:])
    return tokens


def sentences(text: str, tokens: Sequence[Offsets], spans: Iterable[Offsets] = ()) -> list[range]:
    """Group token indices into sentences (``tokens`` as :func:`tokenize` gives them); no sentence
    boundary falls strictly inside a span."""
    if not tokens:
        return []
    inside = bytearray(len(text) + 1)
    for start, end in spans:
        inside[start + 1 : end] = b"\x01" * max(0, end - start - 1)
    starts = [start for start, _ in tokens]
    # every mark of SENTENCE_END is a token of its own, and every line break lies between two
    # tokens: a sentence begins at the first token after either
    firsts = {bisect_left(starts, mark.end()) for mark in _sentence_break().finditer(text)}
    cuts = sorted(i for i in firsts if 0 < i < len(tokens) and not inside[starts[i]])
    bounds = [0, *cuts, len(tokens)]
    return [range(first, end) for first, end in zip(bounds, bounds[1:])]
