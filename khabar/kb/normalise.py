"""Arabic forms for comparing names, never for offsets.

:func:`alias_key` makes the spellings of one name found in news text compare
equal: ``ألينا`` / ``آلينا``, ``الأميركية`` / ``الامريكيه``, ``بالعراق`` /
``العراق`` / ``لعراق``. It throws information away, so it is only ever a key.
:func:`standalone_form` undoes rule B4 (``للعراق`` → span ``لعراق``): the word a
span stands for, as it would be written on its own.
"""

from __future__ import annotations

import re

#: harakat, tanween, shadda, sukun, dagger alef, and the Quranic marks that news text sometimes carries
_DIACRITICS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed]")
_TATWEEL = "\u0640"
#: one spelling per letter: hamza seats and madda to bare alef, alef maqsura to ya, taa marbuta to ha
_LETTERS = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ى": "ي", "ة": "ه", "ؤ": "و", "ئ": "ي"})
#: anything that is not an Arabic or Latin letter or a digit separates words
_SEPARATORS = re.compile(r"[^\w]+|_")
CONJUNCTIONS = "وف"
PREPOSITIONS = "بكل"
ARTICLE = "ال"
#: Rule B4 (``للعراق`` → span ``لعراق``): after a ``LAM``, a span that starts with one ``LAM`` (not two) lost its article's ``ALEF``.
LAM, ALEF = "ل", "ا"
#: a stripped word keeps at least this many letters (``بكر`` must not become ``ر``)
MIN_STEM = 2


def _strip(word: str, first: bool) -> str:
    """``word`` without its article and, on the first word of a name, its proclitics.

    Rule B2 keeps proclitics out of spans, but the B4 span ``لعراق`` keeps the article's ل and aliases
    are written by people. Only clitics before the article are certain (``وبالعراق``); a bare ل is
    stripped too (``لعراق``, ``لأمم``), so ``لبنان`` keys as ``بنان``: harmless, because every alias
    goes through the same function. Inner words only ever carry the article.
    """
    def drop(prefix: str, rest: str) -> str:
        return rest if len(rest) >= MIN_STEM else prefix + rest

    if first:
        rest = word[1:]
        if word[:1] in CONJUNCTIONS and (rest.startswith((ARTICLE, "لل")) or (rest[:1] in PREPOSITIONS and rest[1:].startswith(ARTICLE))):
            word = drop(word[:1], rest)  # والعراق, وبالعراق, وللعراق; not واشنطن, وزارة, فلسطين
        if word.startswith("لل"):
            return drop("لل", word[2:])  # ل + the article with its alef dropped
        if word[:1] in "بك" and word[1:].startswith(ARTICLE):
            word = word[1:]
        elif word[:1] == "ل":
            word = drop("ل", word[1:])
    if word.startswith(ARTICLE):
        word = drop(ARTICLE, word[2:])
    return word


def alias_key(text: str) -> str:
    """The comparison key of a name: no diacritics or tatweel, one spelling per letter, no proclitics or article.

    Two mentions with the same key are proposed as the same name; nothing else about them is assumed.
    """
    text = _DIACRITICS.sub("", text).replace(_TATWEEL, "").translate(_LETTERS).lower()
    words = [word for word in _SEPARATORS.split(text) if word]
    return " ".join(_strip(word, index == 0) for index, word in enumerate(words))


def standalone_form(span_text: str, before: str) -> str:
    """The word a span stands for, written on its own: ``لعراق`` after a ل (rule B4) is ``العراق``.

    ``before`` is the document text just before the span (one character is enough). Any other span is
    its own standalone form.
    """
    if before.endswith(LAM) and span_text.startswith(LAM) and not span_text.startswith(LAM + LAM):
        return ALEF + span_text
    return span_text
