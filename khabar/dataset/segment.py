"""Tokenisation and sentence segmentation for the ``tokens`` config.

Tokens are runs of letters and digits; every punctuation mark (Arabic ، ؛ ؟,
Latin punctuation, quotation marks of every convention in the corpus) is a token
of its own. Sentences end after . ! ? ؟ … or at a line break. Neither looks at
any annotation: the same text always gives the same tokens and sentences, so the
``tokens`` config does not tell a model where entities begin (a proclitic is cut
off nowhere, not only before an entity). Entities are mapped onto these tokens
afterwards (:func:`khabar.dataset.iob.align`). ``boundaries`` exists for agreement,
which compares annotations on the finest common cut, never for a released config.
"""

from __future__ import annotations

import re
import string
import unicodedata
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from functools import cache

import polars as pl

#: Punctuation split off as single-character tokens, besides every character of Unicode category P (BMP).
PUNCTUATION = frozenset(string.punctuation) | frozenset("،؛؟«»“”„‘’‚…–—٪٫٬۔")
#: Separators that stay inside a number when a digit stands on both sides.
NUMBER_SEPARATORS = "[.,٫٬]"
#: Tokens after which a sentence ends.
SENTENCE_END = frozenset(".!?؟…۔")

Offsets = tuple[int, int]


@cache
def _token_pattern() -> re.Pattern[str]:
    """A run of anything but white space and punctuation, or a punctuation mark alone.

    A decimal or thousands separator between two digits (3.8, 1,000, ٣٫٥) stays inside its run, so that
    a number is one token and its point ends no sentence. The marks are written as ranges of the Basic Multilingual Plane, which keeps the
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
    return re.compile(f"(?:[^\\s{marks_class}]|(?<=\\d){NUMBER_SEPARATORS}(?=\\d))+|[{marks_class}]")


@cache
def _sentence_break() -> re.Pattern[str]:
    """A sentence-ending mark or a line break; not a point inside a number (see :func:`_token_pattern`)."""
    inside_numbers = {mark for mark in SENTENCE_END if re.fullmatch(NUMBER_SEPARATORS, mark)}
    ends = "[" + re.escape("".join(sorted(SENTENCE_END - inside_numbers))) + "\n]"
    points = "".join(f"|(?<!\\d){re.escape(mark)}|{re.escape(mark)}(?!\\d)" for mark in sorted(inside_numbers))
    return re.compile(ends + points)


def _continues(text: str, before: Offsets | None, mark: str, after: Offsets) -> bool:
    """Whether the text runs on past a sentence-ending mark: the next token begins with a digit or a
    Latin small letter (a web address ``bit . ly / 3lj``, a number written ``13 . 2``, a reference
    ``? id``), or a full stop follows a single letter (an initial or abbreviation: ``د.``, ``ج . لوكاس``).
    Of the Wojood sample's 4,223 entities, these rules keep 12 from being cut by a sentence break."""
    first = text[after[0]]
    if first.isdigit() or "a" <= first <= "z":
        return True
    return mark == "." and before is not None and before[1] - before[0] == 1 and text[before[0]].isalpha()


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


def sentences(text: str, tokens: Sequence[Offsets]) -> list[range]:
    """Group token indices into sentences (``tokens`` as :func:`tokenize` gives them, without boundaries)."""
    if not tokens:
        return []
    starts = [start for start, _ in tokens]
    # every sentence-ending mark outside a number is a token of its own, and every line break lies between two
    # tokens: a sentence begins at the first token after either, unless the mark ends no sentence
    firsts = {
        i
        for mark in _sentence_break().finditer(text)
        if 0 < (i := bisect_left(starts, mark.end())) < len(tokens)
        and (mark.group() == "\n" or not _continues(text, tokens[i - 2] if i > 1 else None, mark.group(), tokens[i]))
    }
    cuts = sorted(firsts)
    bounds = [0, *cuts, len(tokens)]
    return [range(first, end) for first, end in zip(bounds, bounds[1:])]


def _char_class(chars: Iterable[str]) -> str:
    """A regex character class (for polars' Rust engine as for Python's) of exactly ``chars``, as ranges of code points."""
    ranges: list[list[int]] = []
    for code in sorted(map(ord, set(chars))):
        if ranges and code == ranges[-1][1] + 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    return "[" + "".join(f"\\x{{{a:X}}}" + ("" if a == b else f"-\\x{{{b:X}}}") for a, b in ranges) + "]"


@cache
def _classes() -> dict[str, str]:
    """The character sets of :func:`_token_pattern` and :func:`_continues` as explicit classes, each as Python
    defines it (``\\s`` is ``str.isspace``, ``\\d`` is ``str.isdecimal``): the Rust engine's Unicode tables differ slightly.
    Built in 0.2 s, once."""
    every = [chr(i) for i in range(0x110000) if not 0xD800 <= i <= 0xDFFF]
    space = _char_class(c for c in every if c.isspace())
    marks = _char_class(PUNCTUATION | {chr(i) for i in range(0x10000) if unicodedata.category(chr(i)).startswith("P")})
    return {
        "space": space,
        "mark": marks,
        "word": "[^" + space[1:-1] + marks[1:-1] + "]",
        "decimal": _char_class(c for c in every if c.isdecimal()),
        "digit": _char_class(c for c in every if c.isdigit()),
        "letter": _char_class(c for c in every if c.isalpha()),
    }


@cache
def _piece_pattern() -> str:
    """White space, or a token of :func:`_token_pattern` written without look-around (which polars lacks):
    a run of word characters in which a separator stands between two decimal digits, or a mark alone."""
    c = _classes()
    separators = NUMBER_SEPARATORS
    return f"{c['space']}+|(?:{c['decimal']}(?:{separators}{c['decimal']})+|{c['word']})+|{c['mark']}"


#: The columns of :func:`token_frame`, one row per token, in text order.
TOKEN_FRAME = {"text": pl.UInt32, "token": pl.String, "start": pl.Int64, "end": pl.Int64, "sentence": pl.Int32}


def _pieces(texts: pl.Series) -> pl.DataFrame:
    """text, piece, end, start, space: the tokens and the runs of space between them of every text, in text order."""
    return (
        pl.DataFrame({"piece": texts.cast(pl.String).fill_null("").str.extract_all(_piece_pattern())})
        .with_row_index("text")
        .explode("piece", empty_as_null=False)
        .drop_nulls("piece")
        .with_columns(end=pl.col("piece").str.len_chars().cast(pl.Int64).cum_sum().over("text"))
        .with_columns(start=pl.col("end") - pl.col("piece").str.len_chars().cast(pl.Int64), space=pl.col("piece").str.contains(f"^{_classes()['space']}"))
    )


def word_frame(texts: pl.Series) -> pl.DataFrame:
    """text, start, end: the tokens of :func:`token_frame` without their strings and sentences, for what
    counts tokens only (2,000 news documents: 0.25 → 0.10 s)."""
    return _pieces(texts).filter(~pl.col("space")).select(pl.col("text").cast(pl.UInt32), "start", "end")


def token_frame(texts: pl.Series) -> pl.DataFrame:
    """The tokens and sentences of every text at once: :func:`tokenize` and :func:`sentences` of each,
    computed by polars over all texts instead of a Python object per token.

    ``text`` is the text's position in ``texts``; ``start``/``end`` are offsets into it; ``sentence``
    numbers the text's sentences from 0.
    """
    c = _classes()
    pieces = _pieces(texts)
    previous = pl.col("piece").shift(1).over("text")
    tokens = pieces.with_columns(line_break=pl.col("space").shift(1).over("text").fill_null(False) & previous.str.contains("\n").fill_null(False)).filter(~pl.col("space"))
    mark = pl.col("token").shift(1).over("text")
    before = pl.col("token").shift(2).over("text")
    continues = pl.col("token").str.contains(f"^(?:{c['digit']}|[a-z])") | (
        (mark == ".") & (before.str.len_chars() == 1) & before.str.contains(f"^{c['letter']}")
    ).fill_null(False)
    ends_sentence = mark.is_in(sorted(SENTENCE_END)).fill_null(False) & ~continues
    return (
        tokens.rename({"piece": "token"})
        .with_columns(first=pl.col("line_break") | ends_sentence)
        .select(*(name for name in TOKEN_FRAME if name != "sentence"), sentence=(pl.col("first").cum_sum() - pl.col("first").first()).over("text"))
        .cast(TOKEN_FRAME)  # type: ignore[arg-type]
    )
