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
from dataclasses import dataclass
from functools import cache
from typing import NamedTuple

import numpy as np
import polars as pl
import pyarrow as pa

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


#: Bits of :func:`_kind`: what a character is to the token and sentence rules.
SPACE, MARK, DECIMAL, DIGIT, LETTER, SEPARATOR, END, KNOWN = 1, 2, 4, 8, 16, 32, 64, 128


def _kind(char: str) -> int:
    """The bits of one character, each as Python defines it (``\\s`` is ``str.isspace``, ``\\d`` is ``str.isdecimal``),
    the marks as :func:`_token_pattern` has them (white space is never a mark)."""
    mark = (char in PUNCTUATION or (ord(char) < 0x10000 and unicodedata.category(char).startswith("P"))) and not char.isspace()
    return (KNOWN | SPACE * char.isspace() | MARK * mark | DECIMAL * char.isdecimal() | DIGIT * char.isdigit()
            | LETTER * char.isalpha() | SEPARATOR * bool(re.fullmatch(NUMBER_SEPARATORS, char)) | END * (char in SENTENCE_END))


class _Kinds:
    """Per code point, its :func:`_kind`, worked out the first time the code point is met: a text uses a few
    hundred of the 1.1M code points, and classifying them all took 0.5 s of every build."""

    def __init__(self) -> None:
        self.table = np.zeros(0x110000, np.uint8)

    def of(self, codes: np.ndarray) -> np.ndarray:
        kinds = self._look_up(codes)
        if not kinds.all():  # a known code point has the KNOWN bit, an unknown one is 0
            # marked in a table of every code point rather than sorted out by np.unique (1.3M code points: 29 → 5 ms)
            unknown = np.zeros(len(self.table), bool)
            unknown[codes[kinds == 0]] = True
            for code in np.flatnonzero(unknown).tolist():
                self.table[code] = _kind(chr(code))
            kinds = self._look_up(codes)
        return kinds

    def _look_up(self, codes: np.ndarray) -> np.ndarray:
        # polars gathers by the uint32 code points themselves, where numpy first copies them into 64-bit indices
        return pl.Series(self.table).gather(pl.Series(codes)).to_numpy()


_KINDS = _Kinds()


@dataclass(frozen=True)
class CodePoints:
    """Texts as one array of code points, one text after another (offsets into a text are offsets into
    its stretch of ``codes``): what the tokens and the standalone forms are computed from without a Python
    object per character or token."""

    codes: np.ndarray  # uint32
    bounds: np.ndarray  # int64: where each text begins in ``codes``, then where the last ends
    utf8: pa.Buffer  # the same texts in UTF-8, one after another

    @classmethod
    def of(cls, texts: pl.Series) -> CodePoints:
        # the texts' UTF-8 as arrow holds it, decoded once: no Python string per text (2,000 texts: 10 → 7 ms)
        texts = texts.cast(pl.String).fill_null("")
        if not len(texts):
            return cls(np.zeros(0, np.uint32), np.zeros(1, np.int64), pa.py_buffer(b""))
        strings = texts.to_arrow(compat_level=pl.CompatLevel.oldest())  # large_string: one buffer of all texts
        offsets = np.frombuffer(strings.buffers()[1], np.int64)[strings.offset : strings.offset + len(strings) + 1]
        utf8 = strings.buffers()[2][offsets[0] : offsets[-1]]
        codes = np.frombuffer(str(memoryview(utf8), "utf-8").encode("utf-32-le"), np.uint32)
        return cls(codes, np.concatenate([[0], np.cumsum(texts.str.len_chars().to_numpy(), dtype=np.int64)]), utf8)

    def char_before(self, text: np.ndarray, offset: np.ndarray) -> np.ndarray:
        """The code point just before ``offset`` in text number ``text`` (int64); -1 at a text's start, past
        its end, or for a text number out of range (-1)."""
        valid = (text >= 0) & (text < len(self.bounds) - 1)
        first = self.bounds[np.where(valid, text, 0)]
        inside = valid & (offset > 0) & (offset <= self.bounds[np.where(valid, text + 1, 0)] - first)
        found = np.full(len(text), -1, np.int64)
        found[inside] = self.codes[first[inside] + offset[inside] - 1]
        return found


class Tokens(NamedTuple):
    """The tokens of every text of a :class:`CodePoints`, in text order: :func:`tokenize` and
    :func:`sentences` of each text, computed over all of them at once."""

    text: np.ndarray  # int64: the text's position
    start: np.ndarray  # int64: offsets into the text
    end: np.ndarray
    sentence: np.ndarray  # int32: the sentence's position in its text, from 0
    strings: pa.Array  # large_string: each token's text


def _token_bounds(points: CodePoints) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per character its kind bits; the first and past-the-last character of every token (positions in
    ``points.codes``, in order). A token is a run of word characters (neither white space nor a mark) within
    one text, or a mark alone; a separator between two decimal digits of one text is a word character."""
    codes, bounds = points.codes, points.bounds
    kinds = _KINDS.of(codes)
    word = (kinds & (SPACE | MARK)) == 0
    marks = np.flatnonzero(kinds & MARK)
    # the few separators decide alone whether they stand inside a number, by their neighbours
    text_of = np.searchsorted(bounds, marks, side="right") - 1
    inside = (kinds[marks] & SEPARATOR != 0) & (marks > bounds[text_of]) & (marks + 1 < bounds[text_of + 1])
    inside[inside] = (kinds[marks[inside] - 1] & kinds[marks[inside] + 1] & DECIMAL) != 0
    word[marks[inside]] = True
    marks = marks[~inside]
    steps = np.diff(word.view(np.int8), prepend=np.int8(0), append=np.int8(0))  # 1 where a run of word characters begins, -1 past its end
    begins, finishes = steps == 1, steps == -1
    begins[marks], finishes[marks + 1] = True, True
    # a run that goes on from one text into the next is two tokens
    joins = bounds[1:-1][(bounds[1:-1] > 0) & (bounds[1:-1] < len(codes))]
    joins = joins[word[joins - 1] & word[joins]]
    begins[joins], finishes[joins] = True, True
    return kinds, np.flatnonzero(begins), np.flatnonzero(finishes)


def word_positions(points: CodePoints) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """text, start, end of every token of :func:`tokens`, without their strings and sentences."""
    _, firsts, ends = _token_bounds(points)
    text = np.searchsorted(points.bounds, firsts, side="right") - 1
    first = points.bounds[text]
    return text, firsts - first, ends - first


def tokens(points: CodePoints) -> Tokens:
    """The tokens and sentences of every text of ``points``."""
    codes, bounds = points.codes, points.bounds
    kinds, firsts, ends = _token_bounds(points)
    count = len(firsts)
    opening = np.minimum(np.searchsorted(firsts, bounds), count)  # each text's first token; then the count
    per_text = np.diff(opening)
    same_text = np.ones(count, bool)  # as the token before
    same_text[opening[:-1][per_text > 0]] = False
    head, head_kinds = codes[firsts], kinds[firsts]
    single = ends - firsts == 1
    # a line break lies in the white space between two tokens (never inside one)
    breaks = np.searchsorted(np.flatnonzero(codes == ord("\n")), firsts)
    line_break = np.zeros(count, bool)
    line_break[1:] = breaks[1:] > breaks[:-1]
    ended = np.zeros(count, bool)  # the token before is a sentence-ending mark
    ended[1:] = single[:-1] & ((head_kinds[:-1] & END) != 0)
    initial = np.zeros(count, bool)  # a full stop comes before, and a single letter before it
    initial[2:] = (head[1:-1] == ord(".")) & single[1:-1] & single[:-2] & ((head_kinds[:-2] & LETTER) != 0) & same_text[1:-1]
    continues = ((head_kinds & DIGIT) != 0) | ((head >= ord("a")) & (head <= ord("z"))) | initial
    # sentences numbered over all texts (a text's first token begins none), then from each text's first token
    numbered = np.zeros(count + 1, np.int64)
    np.cumsum((line_break | (ended & ~continues)) & same_text, out=numbered[1:])
    sentence = numbered[1:] - np.repeat(numbered[opening[:-1]], per_text)
    text = np.repeat(np.arange(len(per_text)), per_text)
    first = np.repeat(bounds[:-1], per_text)
    return Tokens(text, firsts - first, ends - first, sentence.astype(np.int32), _strings(points, firsts, ends))


def _strings(points: CodePoints, firsts: np.ndarray, ends: np.ndarray) -> pa.Array:
    """The text of every token (``firsts``, ``ends``: positions in ``points.codes``), as one arrow array: the UTF-8 of
    all texts cut into tokens and the stretches between them, then every other piece taken."""
    codes = points.codes
    sizes = (codes >= 0x80).view(np.uint8) + np.uint8(1)  # UTF-8 bytes per character, in bytes: 4× faster than in int64
    sizes += codes >= 0x800
    sizes += codes >= 0x10000
    # summed straight into 32 bits when the bytes fit: half the memory, and no cast on the way (1M news, the
    # tokens' strings 0.15 → 0.11 s CPU)
    byte_at = np.zeros(len(codes) + 1, np.int32 if len(points.utf8) < 2**31 else np.int64)
    np.cumsum(sizes, out=byte_at[1:], dtype=byte_at.dtype)
    cuts = np.empty(2 * len(firsts) + 2, np.int64)
    cuts[0], cuts[1:-1:2], cuts[2:-1:2], cuts[-1] = 0, byte_at[firsts], byte_at[ends], byte_at[-1]
    pieces = pa.LargeStringArray.from_buffers(len(cuts) - 1, pa.py_buffer(cuts), points.utf8)
    return pieces.take(pa.array(np.arange(1, len(cuts) - 1, 2)))


def word_frame(texts: pl.Series) -> pl.DataFrame:
    """text, start, end: the tokens of every text of ``texts`` without their strings and sentences, for what
    counts tokens only."""
    text, start, end = word_positions(CodePoints.of(texts))
    return _frame(text, start, end)


def _frame(text: np.ndarray, start: np.ndarray, end: np.ndarray) -> pl.DataFrame:
    return pl.DataFrame({"text": text.astype(np.uint32), "start": start, "end": end})


class Words(NamedTuple):
    """The tokens of texts known by their doc_id, made once (:func:`tokens`) for whatever else counts them."""

    numbers: dict[str, int]  # doc_id → its text's number
    firsts: np.ndarray  # each text's first token, then the number of tokens
    start: np.ndarray
    end: np.ndarray

    @classmethod
    def of(cls, doc_ids: Sequence[str], found: Tokens) -> Words:
        """The tokens ``found`` of the texts of ``doc_ids`` (in the order of the texts)."""
        firsts = np.searchsorted(found.text, np.arange(len(doc_ids) + 1))
        return cls({doc_id: i for i, doc_id in enumerate(doc_ids)}, firsts, found.start, found.end)

    def frame(self, doc_ids: Sequence[str]) -> pl.DataFrame:
        """:func:`word_frame` of the texts of ``doc_ids``, in that order, from the tokens already made."""
        number = np.array([self.numbers[doc_id] for doc_id in doc_ids], dtype=np.int64)
        first, count = self.firsts[number], self.firsts[number + 1] - self.firsts[number]
        token = np.repeat(first - (np.cumsum(count) - count), count) + np.arange(count.sum())
        return _frame(np.repeat(np.arange(len(number)), count), self.start[token], self.end[token])
