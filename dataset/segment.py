"""Tokenisation and sentence segmentation for the ``tokens`` config.

Tokens are runs of letters and digits; every punctuation mark (Arabic ، ؛ ؟,
Latin punctuation, quotation marks of every convention in the corpus) is a token
of its own, and a token is cut at every given span boundary, so no span is
ever cut or widened. Sentences end after . ! ? ؟ … or at a line break, except
where the break would fall inside a span.
"""

from __future__ import annotations

import string
import unicodedata
from collections.abc import Iterable, Sequence

#: Punctuation split off as single-character tokens.
PUNCTUATION = frozenset(string.punctuation) | frozenset("،؛؟«»“”„‘’‚…–—٪٫٬۔")
#: Tokens after which a sentence ends.
SENTENCE_END = frozenset(".!?؟…۔")

Offsets = tuple[int, int]


def is_punctuation(char: str) -> bool:
    return char in PUNCTUATION or unicodedata.category(char).startswith("P")


def tokenize(text: str, boundaries: Iterable[int] = ()) -> list[Offsets]:
    """Token offsets ``(start, end)`` into ``text``, cut at every offset of ``boundaries``."""
    cuts = set(boundaries)
    tokens: list[Offsets] = []
    start: int | None = None
    for index, char in enumerate(text):
        if start is not None and index in cuts:
            tokens.append((start, index))
            start = None
        if char.isspace():
            if start is not None:
                tokens.append((start, index))
                start = None
        elif is_punctuation(char):
            if start is not None:
                tokens.append((start, index))
            tokens.append((index, index + 1))
            start = None
        elif start is None:
            start = index
    if start is not None:
        tokens.append((start, len(text)))
    return tokens


def sentences(text: str, tokens: Sequence[Offsets], spans: Iterable[Offsets] = ()) -> list[range]:
    """Group token indices into sentences; no sentence boundary falls strictly inside a span."""
    inside = bytearray(len(text) + 1)
    for start, end in spans:
        inside[start + 1 : end] = b"\x01" * max(0, end - start - 1)
    result: list[range] = []
    first = 0
    for i in range(len(tokens) - 1):
        end, next_start = tokens[i][1], tokens[i + 1][0]
        ends_sentence = text[tokens[i][0] : end] in SENTENCE_END or "\n" in text[end:next_start]
        if ends_sentence and not inside[next_start]:
            result.append(range(first, i + 1))
            first = i + 1
    if tokens:
        result.append(range(first, len(tokens)))
    return result
