"""CRF features of a token: its spelling, its neighbours and, below the outermost level, the outer level's tag.

Words are compared in a normalised spelling (no short vowels or tatweel; أ إ آ → ا, ة → ه, ى → ي) and
as a stem without the article and the proclitics in front of it, so that الحكومة, والحكومة and بالحكومة
share a feature.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from khabar.annotation.tags import BEGIN, OUTSIDE
from khabar.model.tokens import Token

_MARKS = re.compile(r"[\u064b-\u065f\u0670\u0640]")
_LETTERS = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ة": "ه", "ى": "ي"})
_ARTICLE = re.compile(r"^(?:[وف]?[بكل]?ال|[وف]?لل)(?=\w\w)")
WINDOW = 2


def normalise(word: str) -> str:
    return _MARKS.sub("", word).translate(_LETTERS).lower()


def stem(word: str) -> str:
    return _ARTICLE.sub("", normalise(word))


def _shape(word: str) -> str:
    if word.isdigit():
        return "digits"
    if any(char.isdigit() for char in word):
        return "has-digit"
    if not any(char.isalnum() for char in word):
        return "punct"
    if word.isascii():
        return "latin-upper" if word[:1].isupper() else "latin"
    return "arabic"


def _word_features(word: str, prefix: str) -> dict[str, str]:
    norm = normalise(word)
    return {f"{prefix}w": norm, f"{prefix}stem": stem(word), f"{prefix}shape": _shape(word)}


def sentence_features(tokens: Sequence[Token], outer: Sequence[str] | None = None) -> list[dict[str, str | float]]:
    """One feature dict per token; ``outer`` is the tag sequence of the level around this one, if any."""
    words = [token.text for token in tokens]
    rows: list[dict[str, str | float]] = []
    for i, word in enumerate(words):
        norm = normalise(word)
        row: dict[str, str | float] = {"bias": 1.0, **_word_features(word, "")}
        for n in (1, 2, 3):
            row[f"p{n}"] = norm[:n]
            row[f"s{n}"] = norm[-n:]
        row["article"] = "yes" if _ARTICLE.match(norm) else "no"
        row["len"] = str(min(len(norm), 8))
        for offset in range(-WINDOW, WINDOW + 1):
            j = i + offset
            if offset == 0:
                continue
            if 0 <= j < len(words):
                row.update(_word_features(words[j], f"{offset}:"))
            else:
                row[f"{offset}:w"] = "<edge>"
        if i > 0:
            row["bigram-1"] = f"{normalise(words[i - 1])}|{norm}"
        if i + 1 < len(words):
            row["bigram+1"] = f"{norm}|{normalise(words[i + 1])}"
        if outer is not None:
            row["outer"] = outer[i]
            row["outer-label"] = outer[i][2:] or OUTSIDE
            row["outer-first"] = "yes" if outer[i].startswith(BEGIN) else "no"
        rows.append(row)
    return rows
